"""The rules engine: score an article against every rule, and explain each score.

Pure: text, article metadata, compiled rules and ``now`` in; a ``Verdict`` out. No
I/O, no clock. Every term of every rule goes into one automaton
(``monitor.rules.index``), so an article is scanned once whatever the number of
rules; only the rules whose terms were found are then looked at, most of them
settled by set tests (``monitor.rules.needs``) before any tree (``monitor.rules.match``)
is evaluated. The language itself is ``monitor.rules.lang``.

Scoring, per rule and article (``n``: occurrences of a term in a field)::

    points(term, field) = boost(field) × 2n / (n + 1)      title 3, lead 2, body 1; 1 hit → 1, 3 → 1.5, never 2
    points(NEAR, field) = the same, n being the close pairs  (a proximity bonus)
    rule score          = weight × Σ points                  over the terms and NEAR clauses that made it true
    article score       = Σ rule scores

The lead is the body's first two sentences (at most 300 characters); "body" hits
are the ones after it. A term counts once per field per rule however often it is
written. Each hit keeps its points, so a rule's explanation always adds up to its
score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import chain, repeat
from operator import attrgetter

from monitor.errors import MonitorError
from monitor.gcpause import gc_paused
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.rules.index import Atom, Index, atom_of
from monitor.rules.lang import And, Filter, Near, Node, Not, Or, QueryError, Term, parse_query, parse_term
from monitor.rules.match import BUCKETS, Compiled, Leaf, Meta, Proximity, Scan, compile_node
from monitor.rules.needs import Group, group_cost, rarity, requirements
from monitor.rules.render import render
from monitor.rules.spec import RuleSpec
from monitor.rules.text import prepare
from monitor.timestamps import as_utc

__all__ = [
    "Meta",
    "RuleError",
    "RuleSet",
    "compile_rules",
    "definition",
    "meta_of",
    "score",
    "score_article",
    "terms_of",
]

TITLE_BOOST = 3.0
LEAD_BOOST = 2.0
BODY_BOOST = 1.0
NEAR_BONUS = 1.0  # a proximity clause that holds counts like one more term
POINTS_DECIMALS = 4


class RuleError(MonitorError):
    """A rule cannot be compiled, e.g. a term with no word in it or a query that does not parse."""


def meta_of(article: Article) -> Meta:
    """The metadata of ``article`` that filters and the recency gate look at."""
    urls = tuple(dict.fromkeys(url for url in (article.canonical_url, article.url) if url))
    return Meta(urls, article.source, article.language, (*article.authors, *article.organisations), article.published)


@dataclass(frozen=True, slots=True)
class _Rule:
    spec: RuleSpec
    condition: Compiled
    vetoes: tuple[tuple[Compiled, str], ...]  # each veto, and how it is written (for a veto with no hit)
    # A necessary condition: for one alternative, every set of tags meets the scan (see ruleneeds).
    required: tuple[tuple[frozenset[int], ...], ...]
    exact: bool  # meeting ``required`` is enough: the condition need not be evaluated


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules compiled into one automaton and a tree per rule; immutable and picklable."""

    rules: tuple[RuleSpec, ...]
    title_boost: float = TITLE_BOOST
    lead_boost: float = LEAD_BOOST
    _compiled: tuple[_Rule, ...] = field(default=(), repr=False, compare=False)
    _index: Index = field(default_factory=lambda: Index([]), repr=False, compare=False)
    # Scan tag -> the rules to evaluate when it is found (each rule is indexed under its rarest group).
    _triggers: dict[int, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)
    _ages: bool = field(default=False, repr=False, compare=False)  # some rule has its own max_age


def definition(spec: RuleSpec) -> tuple[Node, tuple[Node, ...]]:
    """What ``spec`` requires and what vetoes it: top-level NOTs and ``exclude`` are vetoes.

    Raises RuleError for a term with no word, a query that does not parse, or a
    rule that could match an article without any of its words being in it.
    """
    condition = spec.condition if spec.condition is not None else _from_terms_and_query(spec)
    parts = _conjuncts(condition)
    required = [part for part in parts if not isinstance(part, Not)]
    vetoes = [part.child for part in parts if isinstance(part, Not)]
    if not required:
        raise RuleError(f"{_where(spec)}: needs a word or phrase to look for, not only NOT")
    positive = required[0] if len(required) == 1 else And(tuple(required))
    if True in _without_terms(positive):
        raise RuleError(f"{_where(spec)}: could match without any of its words (only NOT or filters); add a word")
    return positive, (*vetoes, *spec.exclude)


def _conjuncts(node: Node) -> list[Node]:
    """The parts of a top-level AND, nested ANDs opened: ``terms`` AND ``query: a AND NOT b`` is 3 parts."""
    if isinstance(node, And):
        return [part for child in node.children for part in _conjuncts(child)]
    return [node]


def _from_terms_and_query(spec: RuleSpec) -> Node:
    parts: list[Node] = []
    terms: list[Node] = []
    for term in spec.terms:
        try:
            terms.append(parse_term(term))
        except QueryError as error:
            raise RuleError(f"{_where(spec)}: term {term!r}: {error.message}") from None
    if terms:
        parts.append(terms[0] if len(terms) == 1 else Or(tuple(terms)))
    if spec.query is not None:
        try:
            parts.append(parse_query(spec.query))
        except QueryError as error:
            raise RuleError(f"{_where(spec)}: query: {error.message}") from None
    if not parts:
        raise RuleError(f"{_where(spec)}: has no terms and no query")
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _where(spec: RuleSpec) -> str:
    return f"rule {spec.name!r}" + (f" (line {spec.line})" if spec.line else "")


def _without_terms(node: Node) -> set[bool]:
    """The values ``node`` can take when no term is found, whatever the filters say."""
    if isinstance(node, (Term, Near)):
        return {False}
    if isinstance(node, Filter):
        return {True, False}
    if isinstance(node, Not):
        return {not value for value in _without_terms(node.child)}
    values = [_without_terms(child) for child in node.children]
    if isinstance(node, And):
        return {value for value in (True, False) if (all if value else any)(value in v for v in values)}
    return {value for value in (True, False) if (any if value else all)(value in v for v in values)}


def compile_rules(
    specs: Sequence[RuleSpec], *, title_boost: float = TITLE_BOOST, lead_boost: float = LEAD_BOOST
) -> RuleSet:
    """Compile rule specs into a ``RuleSet``; RuleError names the rule, its line and the problem."""
    with gc_paused():  # a tree, tag sets and automaton keys per rule, all kept: see monitor.gcpause
        return _compile(specs, title_boost, lead_boost)


def _compile(specs: Sequence[RuleSpec], title_boost: float, lead_boost: float) -> RuleSet:
    definitions = [definition(spec) for spec in specs]
    atoms: dict[Atom, int] = {}
    numbers: dict[Term, int] = {}  # each term's atom: many rules share their terms
    for condition, vetoes in definitions:
        for node in (condition, *vetoes):
            for term in terms_of(node):
                if term not in numbers:
                    numbers[term] = atoms.setdefault(atom_of(term), len(atoms))
    index = Index(list(atoms))
    number = numbers.__getitem__
    parts = []
    for spec, (condition, vetoes) in zip(specs, definitions, strict=True):
        tree = compile_node(condition, number, index.tags)
        every = frozenset(numbers[term] for term in terms_of(condition))
        fallback = (((every, every),),), False  # no better necessary condition: any of its atoms, anywhere
        required, enough = requirements(tree) or fallback
        vetoing = tuple((compile_node(veto, number, index.tags), render(veto)) for veto in vetoes)
        parts.append((spec, tree, vetoing, required, enough))
    cost = [rarity(atom) for atom in atoms]
    compiled: list[_Rule] = []
    triggers: dict[int, list[int]] = {}
    group_tags: dict[Group, frozenset[int]] = {}  # groups recur across rules: work each out once

    def tags_of(group: Group) -> frozenset[int]:
        found = group_tags.get(group)
        if found is None:
            found = group_tags[group] = _group_tags(index, group)
        return found

    for position, (spec, tree, vetoing, required, enough) in enumerate(parts):
        # Index the rule under the most selective group of each alternative: one of them must be met.
        chosen = [min(alternative, key=partial(group_cost, cost)) for alternative in required]
        for best in chosen:
            for tag in tags_of(best):
                positions = triggers.setdefault(tag, [])
                if not positions or positions[-1] != position:
                    positions.append(position)
        if len(required) == 1:
            # Being found through its trigger group already meets that group: check only the others.
            required = (tuple(group for group in required[0] if group is not chosen[0]),)
        needs = tuple(tuple(map(tags_of, alternative)) for alternative in required)
        compiled.append(_Rule(spec, tree, vetoing, needs, enough))
    return RuleSet(
        rules=tuple(specs),
        title_boost=title_boost,
        lead_boost=lead_boost,
        _compiled=tuple(compiled),
        _index=index,
        _triggers={tag: tuple(positions) for tag, positions in triggers.items()},
        _ages=any(spec.max_age_seconds is not None for spec in specs),
    )


def _group_tags(index: Index, group: Group) -> frozenset[int]:
    """The scan tags that meet ``group``: one of its title atoms in the title, or a body atom in the body."""
    title, body = group
    return frozenset().union(*(index.tags(atom, 1) for atom in title), *(index.tags(atom, 6) for atom in body))


def terms_of(node: Node) -> list[Term]:
    """Every term in ``node``, in order, those of NOTs and NEARs included."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Near):
        return [*node.left, *node.right]
    if isinstance(node, Not):
        return terms_of(node.child)
    if isinstance(node, (And, Or)):
        return [term for child in node.children for term in terms_of(child)]
    return []


def score_article(
    ruleset: RuleSet,
    article: Article,
    *,
    threshold: float,
    now: datetime | None = None,
    max_age_seconds: int | None = None,
) -> Verdict:
    """Score ``article``; with ``now``, rules' max_age (default ``max_age_seconds``) gates old articles."""
    return score(
        ruleset,
        article.title,
        article.text,
        threshold=threshold,
        meta=meta_of(article),
        now=now,
        max_age_seconds=max_age_seconds,
    )


def score(
    ruleset: RuleSet,
    title: str,
    body: str,
    *,
    threshold: float,
    meta: Meta | None = None,
    now: datetime | None = None,
    max_age_seconds: int | None = None,
) -> Verdict:
    """Score a title and body against every rule and explain each score with its hits."""
    index = ruleset._index
    title_text, body_text = prepare(title), prepare(body)
    boosts = {"title": ruleset.title_boost, "lead": ruleset.lead_boost, "body": BODY_BOOST}
    worth: dict[tuple[str, int], float] = {}

    def points(name: str, count: int) -> float:
        value = worth.get((name, count))
        if value is None:
            value = worth[name, count] = round(boosts[name] * saturate(count), POINTS_DECIMALS)
        return value

    scan = Scan(title_text, body_text, (index.scan(title_text), index.scan(body_text)), meta or Meta(), index, points)
    found = scan.found
    # Every rule indexed under a tag that was found; C-level, whatever their number.
    candidates = set(chain.from_iterable(map(ruleset._triggers.get, found, repeat(()))))
    if not candidates:
        return Verdict(score=0.0, threshold=float(threshold), matches=())
    missing = found.isdisjoint  # true for a set of tags none of which was found
    gating = now is not None and (max_age_seconds is not None or ruleset._ages)
    matches: list[tuple[int, RuleMatch]] = []
    vetoed: list[tuple[int, RuleMatch]] = []
    compiled = ruleset._compiled
    for position in candidates:
        rule = compiled[position]
        # The cheap necessary test first: in one alternative, every group has a tag that was found.
        alternatives = rule.required
        if len(alternatives) == 1:
            groups = alternatives[0]
            if groups and (missing(groups[0]) if len(groups) == 1 else any(map(missing, groups))):
                continue
        elif all(any(map(missing, groups)) for groups in alternatives):
            continue
        if rule.exact or rule.condition.holds(scan):
            gate = _gate(rule.spec, scan.meta, now, max_age_seconds) if gating else None
            match = _match(rule, scan, boosts, gate)
            (vetoed if match.vetoed_by else matches).append((position, match))
    # The rule position breaks ties between rules that share a name.
    ranked = tuple(m for _, m in sorted(matches, key=lambda item: (-item[1].score, item[1].rule, item[0])))
    # Summing the rounded rule scores keeps the total equal to what the hits show.
    article_score = round(sum((match.score for match in ranked), 0.0), 3)
    return Verdict(
        score=article_score,
        threshold=float(threshold),
        matches=ranked,
        vetoed=tuple(m for _, m in sorted(vetoed, key=lambda item: (item[1].rule, item[0]))),
    )


def saturate(count: int) -> float:
    """Diminishing returns on repeats: 1 hit is 1.0, 3 hits 1.5, never 2.0."""
    return 2 * count / (count + 1)


_FIELD_ORDER = {"title": 0, "lead": 1, "body": 2}
_POINTS = attrgetter("points")
_BIT = dict(BUCKETS)


def _match(rule: _Rule, scan: Scan, boosts: dict[str, float], gate: str | None) -> RuleMatch:
    spec = rule.spec
    hits = _hits(spec.name, rule.condition, scan, boosts)
    total = sum(map(_POINTS, hits))
    vetoed_by: list[Hit] = []
    for veto, written in rule.vetoes:
        if veto.holds(scan):
            found = [_unscored(hit) for hit in _hits(spec.name, veto, scan, boosts)]
            # A veto on the article itself (source:, lang:, …) has no hit in the text: name the filter.
            vetoed_by += found or [
                Hit(spec.name, written, "article", 1, f"the article matches {written}", 0.0, "filter")
            ]
    return RuleMatch(
        rule=spec.name,
        score=round(spec.weight * total, 3),
        hits=hits,
        weight=spec.weight,
        threshold=spec.threshold,
        destinations=spec.destinations,
        gate=gate,
        vetoed_by=tuple(vetoed_by),
    )


def _unscored(hit: Hit) -> Hit:
    return Hit(hit.rule, hit.term, hit.field, hit.count, hit.snippet, 0.0, hit.kind)


def _hits(rule: str, node: Compiled, scan: Scan, boosts: dict[str, float]) -> tuple[Hit, ...]:
    """The hits of the terms and proximity clauses that make ``node`` true, each counted once per field."""
    contributing: list[Leaf | Proximity] = []
    node.collect(scan, contributing)
    hits: list[Hit] = []
    seen: set[object] = set()
    for item in contributing:
        if isinstance(item, Leaf):
            atom, mask = item.atom, item.mask
            for name, bit, count, snippet, value in scan.hit_data(atom):
                if mask & bit and (key := atom * 8 + bit) not in seen:
                    seen.add(key)
                    hits.append(Hit(rule, item.label, name, count, snippet, value))
            continue
        for name, (count, marks, text) in scan.near(item).items():
            if (item.label, _BIT[name]) not in seen:
                seen.add((item.label, _BIT[name]))
                value = round(boosts[name] * NEAR_BONUS * saturate(count), POINTS_DECIMALS)
                hits.append(Hit(rule, item.label, name, count, text.snippet(marks), value, "near"))
    if len(hits) > 1:
        hits.sort(key=_hit_order)
    return tuple(hits)


def _hit_order(hit: Hit) -> tuple[int, bool, int, str]:
    """Title first, then lead, then body; in a field terms before proximity, the most frequent first."""
    return _FIELD_ORDER[hit.field], hit.kind != "term", -hit.count, hit.term


def _gate(spec: RuleSpec, meta: Meta, now: datetime | None, default: int | None) -> str | None:
    """Why an old article may not alert, or None: published more than max_age before ``now``."""
    max_age = spec.max_age_seconds if spec.max_age_seconds is not None else default
    if max_age is None or now is None or meta.published is None:
        return None
    published = as_utc(meta.published)
    moment = as_utc(now)
    age = (moment - published).total_seconds()
    if age <= max_age:
        return None
    return (
        f"published {published.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {_age(age)} ago: older than max_age {_age(max_age)}"
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return (
                f"{seconds / size:.0f}{unit}"
                if seconds % size == 0 or seconds >= 10 * size
                else f"{seconds / size:.1f}{unit}"
            )
    return f"{seconds:.0f}s"
