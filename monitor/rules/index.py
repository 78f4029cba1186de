"""One Aho-Corasick automaton over every term of every rule, and the scan that finds them in a field.

The automaton runs over a field's folded words joined by single spaces (see
``monitor.rules.text.FieldText``), so one pass finds every word, phrase, prefix and
inflected form at once, whatever the number of rules: " nato " is a word,
" armed conflict " a phrase, " sanction" (no closing space) a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found]  # pyahocorasick ships no type stubs

from monitor.rules.lang import Term
from monitor.rules.text import FieldText, fold

__all__ = ["FIELDS", "Atom", "Index", "Occurrence", "atom_of", "inflections"]

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


FIELDS = 3  # a key's tags: 3k in the title, 3k + 1 in the lead, 3k + 2 in the rest of the body
_PLACES = [tuple(place for place in range(FIELDS) if mask & (1 << place)) for mask in range(1 << FIELDS)]


class Index:
    """The automaton, the keys each atom is found by, and the case checks some keys need.

    Key ``k`` is reported as the tag ``3k``; where it was found (title, lead, rest of
    the body) adds 0, 1 or 2, so what an article contains is one set of ints that
    rules test with C-level set operations. A case-sensitive atom has a key of its
    own, reported only where the words are written as in the rule.
    """

    def __init__(self, atoms: list[Atom]):
        self.atoms = atoms
        # Every key of an atom spans the same number of words (inflections change only the last one).
        self.widths = [len(atom.words) for atom in atoms]
        self.automaton = ahocorasick.Automaton()
        owners: dict[str, list[int]] = {}
        for number, each in enumerate(atoms):
            for key in _keys(each):
                owners.setdefault(key, []).append(number)
        keys: list[list[int]] = [[] for _ in atoms]  # atom number -> its key numbers
        own: dict[int, int] = {}  # case-sensitive atom -> the key of its own
        self.checks: dict[int, list[tuple[int, int]]] = {}  # tag -> (case-sensitive atom, its own tag)
        for number, (key, numbers) in enumerate(owners.items()):
            self.automaton.add_word(key, FIELDS * number)
            for atom in numbers:
                if not atoms[atom].case_sensitive:
                    keys[atom].append(number)
                    continue
                if atom not in own:
                    own[atom] = len(owners) + len(own)
                    keys[atom].append(own[atom])
                self.checks.setdefault(FIELDS * number, []).append((atom, FIELDS * own[atom]))
        self.keys = [tuple(numbers) for numbers in keys]
        self._tags: dict[tuple[int, int], frozenset[int]] = {}
        self.checked = frozenset(self.checks)
        if owners:
            self.automaton.make_automaton()
        self.empty = not owners

    def __reduce__(self) -> tuple[type[Index], tuple[list[Atom]]]:
        # Rebuilt rather than pickled: the same atoms always make the same automaton and key numbers.
        return Index, (self.atoms,)

    def tags(self, atom: int, mask: int) -> frozenset[int]:
        """The tags that say ``atom`` is in one of the places of ``mask`` (title 1, lead 2, rest of body 4)."""
        found = self._tags.get((atom, mask))
        if found is None:
            places = _PLACES[mask]
            found = frozenset({FIELDS * key + place for key in self.keys[atom] for place in places})
            self._tags[atom, mask] = found  # one set shared by every leaf and group of that term
        return found

    def scan(self, field: FieldText) -> dict[int, list[int]]:
        """Where each key was found in ``field.joined``: key tag -> its end offsets, in text order.

        The loop over the automaton's matches does as little as it can; keys of
        case-sensitive atoms are checked only when found.
        """
        if self.empty:
            return {}
        found: dict[int, list[int]] = {}
        for end, tag in self.automaton.iter(field.joined):
            ends = found.get(tag)
            if ends is None:
                found[tag] = [end]
            else:
                ends.append(end)
        for tag in self.checked.intersection(found):
            for atom, own in self.checks[tag]:
                width = self.widths[atom]
                same = [end for end in found[tag] if _same_case(self.atoms[atom], field, end, width)]
                if same:
                    known = found.get(own)
                    found[own] = same if known is None else sorted(known + same)
        return found


def _same_case(atom: Atom, field: FieldText, end: int, width: int) -> bool:
    """A case-sensitive atom: the words as written, the last one at least starting as written."""
    written = field.written(*field.occurrence(end, width))
    if len(written) != len(atom.words):
        return False
    *head, tail = atom.words
    if written[:-1] != head:
        return False
    return written[-1].startswith(tail) if atom.prefix or atom.inflect else written[-1] == tail
