"""Rules compiled for evaluation: trees over atom numbers, tested against one scanned article.

``compile_node`` turns a ``monitor.rules.lang`` tree into these nodes once, at compile
time; ``Scan`` holds what the automaton found in one article and answers the
nodes' questions (is this atom in the title? are these two within 10 words?),
caching what it works out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Protocol
from urllib.parse import urlsplit

from monitor.rules.index import FIELDS, Index, Occurrence
from monitor.rules.lang import And, Near, Node, Not, Or, Term
from monitor.rules.render import render
from monitor.rules.text import FieldText, fold, lead_end, split_words

__all__ = [
    "BUCKETS",
    "Compiled",
    "Leaf",
    "Meta",
    "Proximity",
    "Scan",
    "compile_node",
]

# Where a hit can be: the title, the lead (the body's first two sentences) or the rest of the body.
BUCKETS = (("title", 1), ("lead", 2), ("body", 4))
_MASKS = {"title": 1, "lead": 2, "body": 6}  # a term limited to body: may hit in the lead too
_BITS = dict(BUCKETS)


@dataclass(frozen=True, slots=True)
class Meta:
    """What filters and the recency gate look at: the article apart from its text."""

    urls: tuple[str, ...] = ()
    source: str = ""
    language: str | None = None
    authors: tuple[str, ...] = ()
    published: datetime | None = None


class Compiled(Protocol):
    """A compiled node: does it hold for this article, and which leaves made it hold."""

    def holds(self, scan: Scan) -> bool: ...

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None: ...

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None: ...


class Leaf:
    """A term: atom ``atom`` found in one of the places of ``mask``, i.e. any of ``tags`` in the scan."""

    __slots__ = ("atom", "label", "mask", "tags")

    def __init__(self, atom: int, mask: int, label: str, tags: frozenset[int]):
        self.atom, self.mask, self.label, self.tags = atom, mask, label, tags

    def holds(self, scan: Scan) -> bool:
        return not scan.found.isdisjoint(self.tags)

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        if not scan.found.isdisjoint(self.tags):
            out.append(self)

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        return None  # absent: nothing in the text to show


class AllOf:
    __slots__ = ("children",)

    def __init__(self, children: tuple[Compiled, ...]):
        self.children = children

    def holds(self, scan: Scan) -> bool:
        for child in self.children:  # noqa: SIM110 - a loop, not all(): no generator per call on the hot path
            if not child.holds(scan):
                return False
        return True

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        for child in self.children:
            child.collect(scan, out)

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        for child in self.children:
            if not child.holds(scan):
                child.refute(scan, out)


class AnyOf:
    __slots__ = ("children",)

    def __init__(self, children: tuple[Compiled, ...]):
        self.children = children

    def holds(self, scan: Scan) -> bool:
        for child in self.children:  # noqa: SIM110 - see AllOf.holds
            if child.holds(scan):
                return True
        return False

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        for child in self.children:
            if child.holds(scan):
                child.collect(scan, out)

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        for child in self.children:
            child.refute(scan, out)


class AnyLeaf:
    """Any of several terms: the commonest shape (a ``terms:`` list), tested with one set operation."""

    __slots__ = ("leaves", "tags")

    def __init__(self, leaves: tuple[Leaf, ...]):
        self.leaves = leaves
        self.tags = frozenset().union(*(leaf.tags for leaf in leaves))

    def holds(self, scan: Scan) -> bool:
        return not scan.found.isdisjoint(self.tags)

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        found = scan.found
        out.extend(leaf for leaf in self.leaves if not found.isdisjoint(leaf.tags))

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        return None


class NoneOf:
    __slots__ = ("child",)

    def __init__(self, child: Compiled):
        self.child = child

    def holds(self, scan: Scan) -> bool:
        return not self.child.holds(scan)

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        self.child.refute(scan, out)  # what is absent shows nothing, but NOT NOT x shows x

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        self.child.collect(scan, out)


class Proximity:
    """Some leaf of ``left`` within ``distance`` words of some leaf of ``right``."""

    __slots__ = ("distance", "label", "left", "ordered", "right")

    def __init__(self, left: tuple[Leaf, ...], right: tuple[Leaf, ...], distance: int, ordered: bool, label: str):
        self.left, self.right, self.distance, self.ordered, self.label = left, right, distance, ordered, label

    def holds(self, scan: Scan) -> bool:
        return bool(scan.near(self))

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        if self.holds(scan):
            out.extend(leaf for leaf in (*self.left, *self.right) if leaf.holds(scan))
            out.append(self)

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        return None


class Test:
    """A filter on the article's metadata."""

    __slots__ = ("field", "values")

    def __init__(self, field: str, values: tuple[str, ...]):
        self.field, self.values = field, values

    def holds(self, scan: Scan) -> bool:
        return _passes(self.field, self.values, scan.meta)

    def collect(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        return None

    def refute(self, scan: Scan, out: list[Leaf | Proximity]) -> None:
        return None


Tags = Callable[[int, int], frozenset[int]]  # (atom, mask) -> the scan tags that mean it is there


def compile_node(node: Node, number: Callable[[Term], int], tags: Tags) -> Compiled:
    """``node`` as evaluable nodes; ``number`` gives each term's atom number, ``tags`` what finds it."""
    if isinstance(node, Term):
        return _leaf(node, number, tags)
    if isinstance(node, And):
        return AllOf(tuple(compile_node(child, number, tags) for child in node.children))
    if isinstance(node, Or):
        children = tuple(compile_node(child, number, tags) for child in node.children)
        leaves = tuple(child for child in children if isinstance(child, Leaf))
        return AnyLeaf(leaves) if len(leaves) == len(children) else AnyOf(children)
    if isinstance(node, Not):
        return NoneOf(compile_node(node.child, number, tags))
    if isinstance(node, Near):
        left = tuple(_leaf(term, number, tags) for term in node.left)
        right = tuple(_leaf(term, number, tags) for term in node.right)
        return Proximity(left, right, node.distance, node.ordered, render(node))
    return Test(node.field, node.values)


def _leaf(term: Term, number: Callable[[Term], int], tags: Tags) -> Leaf:
    mask = 0
    for name in term.fields:
        mask |= _MASKS[name]
    atom = number(term)
    return Leaf(atom, mask, term.text, tags(atom, mask))


Found = dict[int, list[int]]  # key tag -> sorted end offsets in FieldText.joined (see Index.scan)
NearResult = dict[str, tuple[int, list[Occurrence], FieldText]]
HitData = tuple[tuple[str, int, int, str, float], ...]  # per field it hit: (name, bit, count, snippet, points)
_NONE: list[int] = []


class Scan:
    """What the automaton found in one article, and the answers worked out from it.

    ``found`` is the set of tags (see ``monitor.rules.index.Index``): which keys are
    in the title, the lead and the rest of the body; most rules are settled by set
    operations on it alone. Where each atom is (word positions, counts, snippets)
    is worked out on demand from ``by_tag``, each key's end offsets, and kept,
    since many rules share their terms.
    """

    __slots__ = (
        "_ends",
        "_hits",
        "_near",
        "body",
        "by_tag",
        "found",
        "index",
        "lead_at",
        "meta",
        "points",
        "title",
    )

    def __init__(
        self,
        title: FieldText,
        body: FieldText,
        found: tuple[Found, Found],
        meta: Meta,
        index: Index,
        points: Callable[[str, int], float],
    ):
        self.title, self.body, self.meta, self.index = title, body, meta, index
        self.points = points  # what ``count`` hits in a field are worth
        self.by_tag = found
        # Matches ending before lead_at (an offset in body.joined) are in the lead.
        lead_at = self.lead_at = body.offset_of(lead_end(body)) if found[1] else 0
        tags = set(found[0])
        add = tags.add
        for tag, ends in found[1].items():
            if ends[0] < lead_at:
                add(tag + 1)
            if ends[-1] >= lead_at:
                add(tag + 2)
        self.found = tags
        self._ends: dict[tuple[int, int], list[int]] = {}
        self._hits: dict[int, HitData] = {}
        self._near: dict[int, NearResult] = {}

    def ends(self, atom: int, in_title: bool) -> list[int]:
        """Where ``atom``'s matches end in the title's or the body's joined text, in order."""
        found = self.by_tag[0 if in_title else 1]
        keys = self.index.keys[atom]
        if len(keys) == 1:
            return found.get(FIELDS * keys[0], _NONE)
        cached = self._ends.get((atom, in_title))
        if cached is None:
            cached = self._ends[atom, in_title] = sorted(end for key in keys for end in found.get(FIELDS * key, ()))
        return cached

    def hit_data(self, atom: int) -> HitData:
        """Per field ``atom`` is in: the field's name and bit, the count, the snippet of its first hit, its points."""
        data = self._hits.get(atom)
        if data is None:
            width, points = self.index.widths[atom], self.points
            title = self.ends(atom, True)
            entries = []
            if title:
                count = len(title)
                snippet = self.title.snippet([self.title.occurrence(title[0], width)])
                entries.append(("title", 1, count, snippet, points("title", count)))
            body = self.ends(atom, False)
            if body:
                split = bisect_left(body, self.lead_at)
                for name, bit, first, count in (("lead", 2, 0, split), ("body", 4, split, len(body) - split)):
                    if count:
                        snippet = self.body.snippet([self.body.occurrence(body[first], width)])
                        entries.append((name, bit, count, snippet, points(name, count)))
            data = self._hits[atom] = tuple(entries)
        return data

    def near(self, proximity: Proximity) -> NearResult:
        """Per field: how many left occurrences have a right one close enough, and the first such pair."""
        key = id(proximity)
        result = self._near.get(key)
        if result is not None:
            return result
        result = {}
        widths = self.index.widths
        reach = proximity.distance + max(widths[leaf.atom] for leaf in proximity.right)
        for in_title, text in ((True, self.title), (False, self.body)):
            lefts = self._occurrences(proximity.left, in_title, text)
            rights = self._occurrences(proximity.right, in_title, text) if lefts else []
            for occurrence, name in lefts:
                partner = _partner(occurrence, rights, proximity.distance, proximity.ordered, reach)
                if partner is None:
                    continue
                count, marks, _ = result.get(name, (0, [occurrence, partner], text))
                result[name] = (count + 1, marks, text)
        self._near[key] = result
        return result

    def _occurrences(self, leaves: tuple[Leaf, ...], in_title: bool, text: FieldText) -> list[tuple[Occurrence, str]]:
        """The word positions of ``leaves`` in one field, each with the bucket it is in, in text order."""
        merged: list[tuple[Occurrence, str]] = []
        for leaf in leaves:
            ends = self.ends(leaf.atom, in_title)
            if not ends:
                continue
            occurrences = text.occurrences(ends, self.index.widths[leaf.atom])
            if in_title:
                if leaf.mask & 1:
                    merged.extend(zip(occurrences, repeat("title")))
                continue
            split = bisect_left(ends, self.lead_at)
            if leaf.mask & 2:
                merged.extend(zip(occurrences[:split], repeat("lead")))
            if leaf.mask & 4:
                merged.extend(zip(occurrences[split:], repeat("body")))
        # One leaf's occurrences are already distinct and in order; several may overlap.
        return sorted(set(merged)) if len(leaves) > 1 else merged


def _partner(
    left: Occurrence, rights: list[tuple[Occurrence, str]], distance: int, ordered: bool, reach: int
) -> Occurrence | None:
    """The first occurrence in ``rights`` at most ``distance`` words from ``left`` (after it if ``ordered``).

    ``rights`` is in text order and ``reach`` is the distance plus the widest right
    term: a right starting more than ``reach`` words before ``left`` cannot be near it.
    """
    first, last = left
    for index in range(bisect_left(rights, ((first - reach, -1), "")), len(rights)):
        right = rights[index][0]
        if right[0] > last:
            if right[0] - last - 1 <= distance:
                return right
            return None  # every later one starts further on
        if not ordered and first > right[1] and first - right[1] - 1 <= distance:
            return right
    return None


def _passes(field: str, values: tuple[str, ...], meta: Meta) -> bool:
    if field == "site":
        hosts = [(urlsplit(url).hostname or "").removeprefix("www.") for url in meta.urls]
        return any(host == value or host.endswith("." + value) for host in hosts for value in values)
    if field == "url":
        return any(value.lower() in url.lower() for url in meta.urls for value in values)
    if field == "source":
        source = meta.source
        return any(source == v or (v.endswith("*") and source.startswith(v[:-1])) for v in values)
    if field == "lang":
        language = (meta.language or "").lower().replace("_", "-")
        return any(language == value or language.startswith(value + "-") for value in values)
    names = [tuple(fold(word) for word in split_words(author)) for author in meta.authors]
    for value in values:
        wanted = tuple(fold(word) for word in split_words(value))
        size = len(wanted)
        if any(name[i : i + size] == wanted for name in names for i in range(len(name) - size + 1)):
            return True
    return False
