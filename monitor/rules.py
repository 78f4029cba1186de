"""The rules engine: score an article's title and body against keyword rules.

Pure: text and compiled rules in, a ``Verdict`` with its explanation out. Every
term of every rule goes into one index keyed by its first token, so scoring an
article costs one pass over its tokens whatever the number of rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.errors import MonitorError
from monitor.models import Hit, RuleMatch, Verdict
from monitor.settings import RuleSpec

__all__ = ["RuleError", "RuleSet", "compile_rules", "score"]

SNIPPET_CONTEXT = 60  # characters of context either side of a hit
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
_FIELDS = ("title", "body")

Key = tuple[str, ...]  # a term or text as casefolded tokens
# first token -> (pattern id, the tokens that must follow)
Index = dict[str, tuple[tuple[int, Key], ...]]


class RuleError(MonitorError):
    """A rule cannot be compiled, e.g. it has a term with no word in it."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules compiled into a first-token index; immutable and picklable."""

    rules: tuple[RuleSpec, ...]
    title_boost: float = 3.0
    _index: Index = field(default_factory=dict, repr=False, compare=False)
    # pattern id -> the (rule position, term as written) pairs it stands for
    _owners: tuple[tuple[tuple[int, str], ...], ...] = field(default=(), repr=False, compare=False)


def compile_rules(specs: Sequence[RuleSpec], *, title_boost: float = 3.0) -> RuleSet:
    """Compile rule specs into a ``RuleSet``; raise ``RuleError`` for a wordless term."""
    pattern_ids: dict[Key, int] = {}
    owners: list[list[tuple[int, str]]] = []
    for position, spec in enumerate(specs):
        seen: set[Key] = set()
        for term in spec.terms:
            key, _ = _tokenise(term)
            if not key:
                where = f" (line {spec.line})" if spec.line else ""
                raise RuleError(f"rule {spec.name!r}{where}: term {term!r} has no word in it")
            # "NATO" and "nato" in one rule are one term, not a double score.
            if key in seen:
                continue
            seen.add(key)
            if key not in pattern_ids:
                pattern_ids[key] = len(owners)
                owners.append([])
            owners[pattern_ids[key]].append((position, term))
    grouped: dict[str, list[tuple[int, Key]]] = {}
    for key, pattern in pattern_ids.items():
        grouped.setdefault(key[0], []).append((pattern, key[1:]))
    return RuleSet(
        rules=tuple(specs),
        title_boost=title_boost,
        _index={first: tuple(rest) for first, rest in grouped.items()},
        _owners=tuple(tuple(pairs) for pairs in owners),
    )


def score(ruleset: RuleSet, title: str, body: str, *, threshold: float) -> Verdict:
    """Score an article against every rule and explain the score with its hits."""
    boosts = {"title": ruleset.title_boost, "body": 1.0}
    hits_by_rule: dict[int, list[Hit]] = {}
    for field_name, raw in zip(_FIELDS, (title, body), strict=True):
        text = _blank_tags(raw)
        keys, spans = _tokenise(text)
        for pattern, (count, first, last) in _find(ruleset._index, keys).items():
            snippet = _snippet(text, spans[first][0], spans[last][1])
            for position, term in ruleset._owners[pattern]:
                hit = Hit(
                    rule=ruleset.rules[position].name,
                    term=term,
                    field=field_name,
                    count=count,
                    snippet=snippet,
                )
                hits_by_rule.setdefault(position, []).append(hit)
    matches = []
    for position, hits in hits_by_rule.items():
        ordered = tuple(sorted(hits, key=lambda h: (h.field != "title", -h.count, h.term)))
        total = sum(boosts[h.field] * _saturate(h.count) for h in ordered)
        rule_score = round(ruleset.rules[position].weight * total, 3)
        matches.append((position, RuleMatch(ordered[0].rule, rule_score, ordered)))
    # The rule position breaks ties between rules that share a name.
    matches.sort(key=lambda item: (-item[1].score, item[1].rule, item[0]))
    ranked = tuple(match for _, match in matches)
    # Summing the rounded rule scores keeps the total equal to what the hits show.
    article_score = round(sum((match.score for match in ranked), 0.0), 3)
    return Verdict(score=article_score, threshold=float(threshold), matches=ranked)


def _saturate(count: int) -> float:
    """Diminishing returns on repeats: 1 hit is 1.0, 3 hits 1.5, never 2.0."""
    return 2 * count / (count + 1)


def _blank_tags(text: str) -> str:
    """Replace inline HTML tags with spaces of the same length, so offsets hold."""
    return _TAG.sub(lambda tag: " " * len(tag.group()), text)


def _tokenise(text: str) -> tuple[Key, list[tuple[int, int]]]:
    """Split text into casefolded word tokens and their character spans."""
    keys: list[str] = []
    spans: list[tuple[int, int]] = []
    for word in _WORD.finditer(text):
        start, end = word.span()
        end = _skip_marks(text, end)
        # Combining marks are not \w: a decomposed "é" must not split its word.
        if spans and spans[-1][1] == start:
            start = spans.pop()[0]
            keys.pop()
        spans.append((start, end))
        keys.append(_fold(text[start:end]))
    return tuple(keys), spans


def _skip_marks(text: str, end: int) -> int:
    """The offset just past any combining marks that start at ``end``."""
    while end < len(text) and text[end] >= "\u0300" and unicodedata.category(text[end]).startswith("M"):
        end += 1
    return end


def _fold(token: str) -> str:
    """The comparison form of a token: caseless, and composed the same way."""
    if token.isascii():
        return token.casefold()
    composed = unicodedata.normalize("NFC", token)
    return unicodedata.normalize("NFC", composed.casefold())


def _find(index: Index, keys: Key) -> dict[int, list[int]]:
    """Occurrences of every indexed pattern: id -> [count, first token, last token]."""
    found: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        candidates = index.get(key)
        if candidates is None:
            continue
        for pattern, rest in candidates:
            end = position + len(rest)
            if rest and keys[position + 1 : end + 1] != rest:
                continue
            if pattern in found:
                found[pattern][0] += 1
            else:
                found[pattern] = [1, position, end]
    return found


def _snippet(text: str, start: int, end: int) -> str:
    """Context around ``text[start:end]``, the hit in ** **, cut at whitespace."""
    left = max(0, start - SNIPPET_CONTEXT)
    if left > 0 and not text[left - 1].isspace():
        gap = _SPACE.search(text, left, start)
        left = gap.end() if gap else left
    right = min(len(text), end + SNIPPET_CONTEXT)
    if right < len(text) and not text[right].isspace():
        gaps = list(_SPACE.finditer(text, end, right))
        right = gaps[-1].start() if gaps else right
    before = _collapse(text[left:start]).lstrip()
    after = _collapse(text[end:right]).rstrip()
    snippet = f"{before}**{_collapse(text[start:end])}**{after}"
    if text[:left].strip():
        snippet = "…" + snippet
    if text[right:].strip():
        snippet += "…"
    return snippet


def _collapse(text: str) -> str:
    """Runs of whitespace as one space."""
    return _SPACE.sub(" ", text)
