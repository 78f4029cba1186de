"""Text as the rules engine sees it: words, sentences, the lead, and snippets with the hit marked.

Pure functions over strings. A word is a run of letters, digits and ``_`` with its
combining marks (so "cafe\u0301" and Devanagari stay whole); everything else
(spaces, hyphens, apostrophes, punctuation, inline tags) only separates words.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from functools import partial
from itertools import accumulate, chain
from typing import cast

__all__ = ["SNIPPET_CONTEXT", "fold", "lead_end", "prepare", "snippet", "split_words"]

SNIPPET_CONTEXT = 100  # at most this many characters of the sentence either side of a hit
LEAD_CHARS = 300  # the lead is the body's first two sentences, and at most this many characters
LEAD_SENTENCES = 2

_WORD_ASCII = re.compile(r"\w+", re.ASCII)  # the same words in ASCII text, 2-3× faster
_WORD_UNICODE = re.compile(r"\w+")  # for text without combining marks
# Non-ASCII punctuation and spaces (curly quotes, dashes, ellipsis, no-break spaces): none is part of a word.
_PUNCTUATION = re.compile("[\u00a0\u00ab\u00bb\u00b7\u2000-\u205e\u3000\ufeff]")
CHUNK = 200  # characters per chunk of text; see FieldText
_SHORT_TEXT = 400  # below this many characters, word starts are found by a regex rather than numpy
_FEW_SPANS, _NEAR_START = 4, 100  # so many spans of words so near the start cost less than all word starts
_NON_SPACE = re.compile(r"[^ ]+")
# ASCII letters and digits folded, every other ASCII character a space: "NATO's (2022)" -> "nato s  2022 ".
_ASCII_FOLD = {code: (chr(code).lower() if chr(code).isalnum() or chr(code) == "_" else " ") for code in range(128)}
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_SPACE = re.compile(r"\s+")
# A sentence ends at . ! ? or … (and any closing quotes or brackets) before a space, or at a line break.
# A plain character class finds the candidates ~7× faster than one regex for the whole rule.
_ENDS = re.compile("[.!?…\n]")
_CLOSING = frozenset(".!?…\"'”’»)]")
_WORD_REACH = 40  # how far back a space before the word ending at a full stop is looked for
# A full stop after these is not the end of a sentence ("Mr. Rutte", "Jan. 5").
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "sr", "jr", "gen", "col", "lt", "sgt", "capt", "rep", "sen", "gov", "prof"}
    | {"rev", "inc", "co", "corp", "ltd", "no", "vs", "etc", "approx", "jan", "feb", "mar", "apr", "jun", "jul"}
    | {"aug", "sep", "sept", "oct", "nov", "dec"}
)


def _word_pattern(text: str) -> re.Pattern[str]:
    return _WORD_ASCII if text.isascii() else _words_with(_marks(text))


def _marks(*texts: str) -> str:
    """The combining marks in ``texts`` (after NFC, only some scripts have any), in code point order."""
    chars: set[str] = set()
    for text in texts:
        chars.update(text)
    return "".join(sorted(char for char in chars if char >= "\u0300" and unicodedata.category(char)[0] == "M"))


def _words_with(marks: str) -> re.Pattern[str]:
    """Words of a text whose combining marks are ``marks``: runs of \\w, with those marks inside them."""
    # Marks are not \w: without them a decomposed "é" or a Hindi vowel sign would split a word. The
    # pattern need know only the text's own marks; re caches it, and most texts have none.
    return re.compile(r"\w+(?:[" + re.escape(marks) + r"]+\w*)*") if marks else _WORD_UNICODE


def fold(word: str) -> str:
    """The comparison form of a word: caseless, and composed the same way whatever the input."""
    if word.isascii():
        return word.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", word).casefold())


def split_words(text: str) -> list[str]:
    """The words of ``text`` as written (composed to NFC), e.g. for a term or an author name."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return _word_pattern(text).findall(text)


def _chunks(text: str) -> list[tuple[int, int]]:
    """``text`` cut at whitespace into pieces of about CHUNK characters: no word crosses a cut."""
    pieces: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        space = _SPACE.search(text, start + CHUNK) if start + CHUNK < len(text) else None
        end = space.start() if space else len(text)
        pieces.append((start, end))
        start = end
    return pieces


def _word_starts(flat: str) -> Sequence[int]:
    """Where each word of ``flat`` starts: ASCII text whose only non-word character is the space."""
    if len(flat) < _SHORT_TEXT:
        return [match.start() for match in _NON_SPACE.finditer(flat)]
    import numpy  # here, not at the top: only snippets of longer texts need it, and it takes ~0.1 s to import

    word = numpy.frombuffer(flat.encode("ascii"), dtype=numpy.uint8) != 32
    first = word.copy()
    first[1:] &= ~word[:-1]  # a word character after a space, or at the very start
    # An array rather than a list: no 700 int objects; indexing it gives numpy ints, made int by span().
    return cast(Sequence[int], numpy.flatnonzero(first))


class FieldText:
    """One field of an article (title or body) prepared for matching.

    ``text`` is the field with inline tags blanked (offsets kept) and composed to
    NFC; ``words`` its folded words; ``joined`` is " " + the words joined by single
    spaces + " ", the string the automaton scans. The text is read in chunks cut
    at whitespace, so the character span of a word (for a snippet) costs a look at
    one chunk, not at everything before it.
    """

    __slots__ = (
        "_chunk_words",
        "_chunks",
        "_counted",
        "_counted_offsets",
        "_flat",
        "_looked_up",
        "_pattern",
        "_plain",
        "_sentences",
        "_snippets",
        "_spans",
        "_starts",
        "joined",
        "text",
        "words",
    )

    def __init__(self, raw: str):
        text = _TAG.sub(lambda tag: " " * len(tag.group()), raw) if "<" in raw else raw
        self._flat: str | None = None
        self._chunks: list[tuple[int, int]] | None = None
        self._chunk_words: list[int] = []
        if text.isascii():
            plain = text
        else:
            text = unicodedata.normalize("NFC", text)
            # Typographic punctuation separates words like a space does; without it most text is ASCII.
            plain = _PUNCTUATION.sub(" ", text)
        if plain.isascii():
            # The fast path: one C pass folds letters and blanks everything else, then split() finds the words.
            self._flat = plain.translate(_ASCII_FOLD)
            pattern, words = _WORD_ASCII, self._flat.split()
        else:
            chunks = self._chunks = _chunks(plain)
            folded = unicodedata.normalize("NFC", plain.casefold())
            marks = _marks(plain, folded)
            if marks:
                pattern = _words_with(marks)
                written = [pattern.findall(plain, start, end) for start, end in chunks]
                per_chunk = [[fold(word) for word in words] for words in written]
            else:
                # Without combining marks, casefolding keeps word boundaries: fold each chunk at once.
                pattern = _WORD_UNICODE
                per_chunk = [
                    pattern.findall(unicodedata.normalize("NFC", plain[start:end].casefold())) for start, end in chunks
                ]
            self._chunk_words = list(accumulate((len(words) for words in per_chunk), initial=0))
            words = list(chain.from_iterable(per_chunk))
        self.text, self._plain, self._pattern = text, plain, pattern
        self.words: list[str] = words
        self.joined = " " + " ".join(words) + " "
        self._spans: dict[int, list[tuple[int, int]]] = {}
        self._starts: Sequence[int] | None = None  # ASCII text: where each word starts, found on first use
        self._looked_up = 0  # spans asked for before the word starts were worked out
        self._counted_offsets: list[int] = []  # offsets in joined whose spaces before were counted, sorted
        self._counted: list[int] = []  # and those counts
        self._snippets: dict[tuple[tuple[int, int], ...], str] = {}
        self._sentences: list[tuple[int, int]] | None = None  # sentences found so far, in text order

    def written(self, first: int, last: int) -> list[str]:
        """Words ``first`` to ``last`` as written in the text (for case-sensitive terms)."""
        text = self.text
        return [text[start:end] for start, end in map(self.span, range(first, last + 1))]

    def occurrence(self, end: int, width: int) -> tuple[int, int]:
        """The first and last word of a match of ``width`` words ending at ``end`` in ``joined``."""
        last = self._spaces_before(end) - 1
        return last - width + 1, last

    def _spaces_before(self, end: int) -> int:
        """How many spaces ``joined`` has before ``end``, counted on from the nearest offset counted before."""
        offsets, counts = self._counted_offsets, self._counted
        index = bisect_right(offsets, end)
        if index:
            spaces = counts[index - 1] + self.joined.count(" ", offsets[index - 1], end)
        else:
            spaces = self.joined.count(" ", 0, end)
        offsets.insert(index, end)
        counts.insert(index, spaces)
        return spaces

    def occurrences(self, ends: Sequence[int], width: int) -> list[tuple[int, int]]:
        """``occurrence`` for sorted ``ends``, counting spaces once across all of them."""
        found: list[tuple[int, int]] = []
        if not ends:
            return found
        joined = self.joined
        position = ends[0]
        spaces = self._spaces_before(position)
        for end in ends:
            spaces += joined.count(" ", position, end)
            position = end
            found.append((spaces - width, spaces - 1))
        return found

    def offset_of(self, index: int) -> int:
        """Where word ``index`` starts in ``joined`` (just past the end, for the word count)."""
        return len(" ".join(self.words[:index])) + 2 if index else 1

    def count_words(self, end: int) -> int:
        """How many words start before character ``end``."""
        if self._flat is not None:
            return len(self._flat[:end].split())
        return len(self._pattern.findall(self._plain, 0, end))

    def span(self, index: int) -> tuple[int, int]:
        """Character span in ``text`` of word ``index``."""
        flat = self._flat
        if flat is not None:
            starts = self._starts
            if starts is None:
                self._looked_up += 1
                if self._looked_up <= _FEW_SPANS and index < _NEAR_START:
                    # A few words near the start (a small rule set's hits): split() up to them is cheaper.
                    start = len(flat) - len(flat.split(None, index)[-1])
                    return start, start + len(self.words[index])
                starts = self._starts = _word_starts(flat)
            start = int(starts[index])
            return start, start + len(self.words[index])
        chunks = self._chunks or []
        chunk = bisect_right(self._chunk_words, index) - 1
        spans = self._spans.get(chunk)
        if spans is None:
            start, end = chunks[chunk]
            spans = self._spans[chunk] = [match.span() for match in self._pattern.finditer(self._plain, start, end)]
        return spans[index - self._chunk_words[chunk]]

    def snippet(self, occurrences: Sequence[tuple[int, int]]) -> str:
        """The sentence of the first of ``occurrences`` (word ranges), each marked ``**…**``."""
        key = tuple(occurrences)
        text = self._snippets.get(key)
        if text is None:
            marks = [_mark(self.span(first), self.span(last) if last != first else None) for first, last in occurrences]
            text = self._snippets[key] = snippet(self.text, marks, self.sentence_bounds)
        return text

    def sentence_bounds(self, start: int, end: int) -> tuple[int, int]:
        """The sentence around ``text[start:end]``, looked for only as far as a snippet shows."""
        known = self._sentences
        if known is None:
            # Most titles have no sentence end at all: then the sentence is the whole text.
            if _ENDS.search(self.text) is None:
                self._sentences = [(0, len(self.text))]
                return 0, len(self.text)
            known = self._sentences = []
        # Hits often share a sentence: reuse one worked out before (kept only when both its ends are real).
        index = bisect_right(known, (start, len(self.text)))
        if index and known[index - 1][1] >= end:
            return known[index - 1]
        low, high = max(0, start - SNIPPET_CONTEXT - 2), min(len(self.text), end + SNIPPET_CONTEXT + 2)
        bounds = sentence_bounds(self.text, start, end, reach=SNIPPET_CONTEXT + 2)
        if (bounds[0] > low or low == 0) and (bounds[1] < high or high == len(self.text)):
            known.insert(index, bounds)
        return bounds


def _mark(first: tuple[int, int], last: tuple[int, int] | None) -> tuple[int, int]:
    return first if last is None else (first[0], last[1])


def prepare(raw: str) -> FieldText:
    """``raw`` (a title or body, possibly with inline tags) ready for matching."""
    return FieldText(raw)


def lead_end(field: FieldText) -> int:
    """How many of the body's words form its lead: its first two sentences, within 300 characters."""
    text = field.text
    end = min(len(text), LEAD_CHARS)
    position, found = 0, 0
    while found < LEAD_SENTENCES:
        stop = _sentence_stop(text, position, end + 1)
        if stop < 0:
            break
        found += 1
        if found == LEAD_SENTENCES:
            end = stop
        position = stop + 1
        while position < len(text) and text[position].isspace():
            position += 1  # blank lines between paragraphs are not sentences
    return field.count_words(end)


def _following(text: str, position: int) -> int:
    """If a sentence ends at ``text[position]`` (one of . ! ? … or a line break), where it stops; else -1."""
    char = text[position]
    if char == "\n":
        return position
    stop = position + 1
    length = len(text)
    while stop < length and text[stop] in _CLOSING:
        stop += 1
    if stop < length and not text[stop].isspace():
        return -1  # "3.5", "U.S.A", "e.g.,"
    if char == "." and position > 0 and text[position - 1].isalnum():
        # The word before: letters, digits and dots back to a space (the usual case, found in C) ...
        space = text.rfind(" ", max(0, position - _WORD_REACH), position)
        word = text[space + 1 : position]
        if (space < 0 and position > _WORD_REACH) or not word.replace(".", "").isalnum():
            start = position - 1  # ... or, after a quote, a bracket or a line break, char by char
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "."):
                start -= 1
            word = text[start:position]
        if "." in word or word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
            return -1  # "U.S.", "Mr.", "J. Smith"
    return stop


def _sentence_stop(text: str, low: int, high: int) -> int:
    """Where the first sentence ending in ``text[low:high]`` stops, or -1."""
    for candidate in _ENDS.finditer(text, low, high):
        stop = _following(text, candidate.start())
        if stop >= 0:
            return stop
    return -1


def sentence_bounds(text: str, start: int, end: int, reach: int | None = None) -> tuple[int, int]:
    """The sentence around ``text[start:end]``: from the end of the previous sentence to the end of this one.

    With ``reach``, boundaries are looked for only that far either side; beyond it
    the sentence is taken to go on (a snippet cuts it there anyway).
    """
    low = 0 if reach is None else max(0, start - reach)
    high = len(text) if reach is None else min(len(text), end + reach)
    left = low
    candidates = [match.start() for match in _ENDS.finditer(text, low, start)]
    for position in reversed(candidates):
        stop = _following(text, position)
        if 0 <= stop <= start:
            left = stop
            while left < start and text[left].isspace():
                left += 1
            break
    right = _sentence_stop(text, end, high)
    return left, (right if right >= 0 else high)


def snippet(
    text: str,
    marks: Sequence[tuple[int, int]],
    bounds: Callable[[int, int], tuple[int, int]] | None = None,
) -> str:
    """The sentence holding ``marks`` (character spans), each marked ``**…**``, cut to fit at a space."""
    if len(marks) == 1:
        ordered = marks
        start, end = marks[0]
    else:
        ordered = sorted(marks)
        start, end = ordered[0][0], max(stop for _, stop in ordered)
    sentence_start, sentence_end = (bounds or partial(sentence_bounds, text))(start, end)
    left = max(sentence_start, start - SNIPPET_CONTEXT)
    if left > sentence_start and not text[left - 1].isspace():
        gap = text.find(" ", left, start)
        left = gap + 1 if gap >= 0 else left
    right = min(sentence_end, end + SNIPPET_CONTEXT)
    if right < sentence_end and not text[right].isspace():
        gap = text.rfind(" ", end, right)
        right = gap if gap >= 0 else right
    pieces: list[str] = []
    position = left
    for mark_start, mark_end in ordered:
        if mark_start < position:
            continue  # overlapping marks: the first one wins
        pieces.append(_collapse(text[position:mark_start]))
        pieces.append(f"**{_collapse(text[mark_start:mark_end])}**")
        position = mark_end
    pieces.append(_collapse(text[position:right]))
    result = "".join(pieces).strip()
    if left > sentence_start and text[sentence_start:left].strip():
        result = "…" + result
    if right < sentence_end and text[right:sentence_end].strip():
        result += "…"
    return result


def _collapse(text: str) -> str:
    """Runs of whitespace as one space."""
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        return _SPACE.sub(" ", text)
    return text
