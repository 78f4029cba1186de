"""One Aho-Corasick automaton over every term of every rule, and the scan that finds them in a field.

The automaton runs over a field's folded words joined by single spaces (see
``monitor.ruletext.FieldText``), so one pass finds every word, phrase, prefix and
inflected form at once, whatever the number of rules: " nato " is a word,
" armed conflict " a phrase, " sanction" (no closing space) a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found]  # pyahocorasick ships no type stubs

from monitor.rulelang import Term
from monitor.ruletext import FieldText, fold

__all__ = ["Atom", "Index", "Occurrence", "atom_of", "inflections"]

Occurrence = tuple[int, int]  # (first word, last word), indices into FieldText.words
_VOWELS = frozenset("aeiou")
_DOUBLING = frozenset("bdgklmnprt")  # final consonants doubled before -ed/-ing: stopped, planning


@dataclass(frozen=True, slots=True)
class Atom:
    """What a term matches, whatever fields it is limited to: the unit the automaton finds."""

    words: tuple[str, ...]
    prefix: bool = False
    inflect: bool = False
    case_sensitive: bool = False


def atom_of(term: Term) -> Atom:
    """The matching identity of ``term`` ("NATO" and "nato" are one atom unless case-sensitive)."""
    words = term.words if term.case_sensitive else tuple(fold(word) for word in term.words)
    return Atom(words, term.prefix, term.inflect, term.case_sensitive)


def inflections(word: str) -> tuple[str, ...]:
    """Common English forms of ``word`` written as its base: sanction, sanctions, sanctioned, sanctioning."""
    forms = [word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(word + "es")
    elif word.endswith("o"):
        forms += [word + "s", word + "es"]  # vetos and vetoes, embargos and embargoes
    elif len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        forms.append(word[:-1] + "ies")
    else:
        forms.append(word + "s")
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        forms += [word[:-1] + "ied", word + "ing"]
    elif word.endswith("e"):
        forms += [word + "d", word[:-1] + "ing" if not word.endswith("ee") else word + "ing"]
    else:
        forms += [word + "ed", word + "ing"]
        if len(word) >= 3 and word[-1] in _DOUBLING and word[-2] in _VOWELS and word[-3] not in _VOWELS:
            forms += [word + word[-1] + "ed", word + word[-1] + "ing"]
    return tuple(dict.fromkeys(forms))


def _keys(atom: Atom) -> list[str]:
    """The strings the automaton looks for, in the space-joined folded text."""
    folded = [fold(word) for word in atom.words]
    lasts = inflections(folded[-1]) if atom.inflect else (folded[-1],)
    end = "" if atom.prefix else " "
    return [" " + " ".join([*folded[:-1], last]) + end for last in lasts]


class Index:
    """The automaton and what each of its keys stands for."""

    def __init__(self, atoms: list[Atom]):
        self.atoms = atoms
        # Every key of an atom spans the same number of words (inflections change only the last one).
        self.widths = [len(atom.words) for atom in atoms]
        self.automaton = ahocorasick.Automaton()
        owners: dict[str, list[int]] = {}
        for number, atom in enumerate(atoms):
            for key in _keys(atom):
                owners.setdefault(key, []).append(number)
        self.key_atoms: list[tuple[int, ...]] = []
        self.key_atom: list[int] = []  # the key's only atom when it has one that is not case-sensitive, else -1
        for key, numbers in owners.items():
            self.automaton.add_word(key, len(self.key_atoms))
            self.key_atoms.append(tuple(numbers))
            simple = len(numbers) == 1 and not atoms[numbers[0]].case_sensitive
            self.key_atom.append(numbers[0] if simple else -1)
        if owners:
            self.automaton.make_automaton()
        self.empty = not owners

    def __reduce__(self) -> tuple[type[Index], tuple[list[Atom]]]:
        # Rebuilt rather than pickled: the same atoms always make the same automaton.
        return Index, (self.atoms,)

    def scan(self, field: FieldText) -> dict[int, list[int]]:
        """Where each atom ends in ``field.joined``: atom number -> sorted end offsets.

        The loop over the automaton's matches does as little as it can; word
        positions are worked out later, only for what a snippet or a NEAR needs.
        """
        if self.empty:
            return {}
        by_key: dict[int, list[int]] = {}
        for end, key in self.automaton.iter(field.joined):
            ends = by_key.get(key)
            if ends is None:
                by_key[key] = [end]
            else:
                ends.append(end)
        found: dict[int, list[int]] = {}
        key_atom = self.key_atom
        for key, ends in by_key.items():
            number = key_atom[key]
            if number >= 0:
                known = found.get(number)
                found[number] = ends if known is None else sorted(known + ends)
                continue
            for number in self.key_atoms[key]:
                atom = self.atoms[number]
                if atom.case_sensitive:
                    originals, width = field.originals(), self.widths[number]
                    ends = [end for end in ends if _same_case(atom, originals, field.occurrence(end, width))]
                    if not ends:
                        continue
                known = found.get(number)
                found[number] = ends if known is None else sorted(known + ends)
        return found


def _same_case(atom: Atom, originals: list[str], occurrence: Occurrence) -> bool:
    """A case-sensitive atom: the words as written, the last one at least starting as written."""
    first, last = occurrence
    written = originals[first : last + 1]
    if len(written) != len(atom.words):
        return False
    *head, tail = atom.words
    if written[:-1] != head:
        return False
    return written[-1].startswith(tail) if atom.prefix or atom.inflect else written[-1] == tail
