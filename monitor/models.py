"""The data the whole pipeline passes around: one model of a page, an article and a verdict.

These dataclasses are used everywhere, the Scrapy items included, so a page
fetched by a spider and a page read from disk by ``monitor score`` are the same
thing to the core. ``SourceRunSummary`` is what a crawl process reports back about
each source it crawled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal


@dataclass(slots=True)
class Page:
    """A fetched HTML page, before extraction. This is the Scrapy item the spiders yield."""

    source: str
    url: str
    html: str
    status: int = 200
    fetched_at: datetime | None = None
    # What the feed or sitemap said about the page before we fetched it; used as a
    # fallback (or tie-breaker) when the page itself says nothing.
    hint_title: str | None = None
    hint_published: datetime | None = None


@dataclass(slots=True)
class Article:
    """An article extracted from a page: the unit that is scored, stored and alerted on."""

    url: str
    canonical_url: str
    title: str
    text: str
    published: datetime | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    source: str = ""
    # Which signal gave ``published``: json-ld, meta, index (feed or sitemap), url, text, dateline or page.
    published_from: str | None = None
    # When the page says it was last modified; never taken as ``published``.
    updated: datetime | None = None
    # News agencies the byline credits ("Reuters"); ``authors`` holds only people.
    organisations: list[str] = field(default_factory=list)
    # Why ``text`` is empty when the page had a title or a date but no body ("no article text found").
    text_missing: str | None = None

    @property
    def content_hash(self) -> str:
        """A stable hash of what a reader sees; a changed hash means the article changed."""
        digest = hashlib.sha256()
        digest.update(self.title.strip().encode("utf-8"))
        digest.update(b"\x00")
        digest.update(" ".join(self.text.split()).encode("utf-8"))
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO 8601)."""
        data = asdict(self)
        data["published"] = self.published.isoformat() if self.published else None
        data["updated"] = self.updated.isoformat() if self.updated else None
        return data


@dataclass(frozen=True, slots=True)
class Hit:
    """One term (or proximity clause) of one rule found in one field of an article."""

    rule: str
    term: str  # as written in the rule
    field: str  # "title", "lead" (the body's first two sentences), "body" (the rest); "article" for a filter
    count: int  # occurrences in the field (for a proximity clause: pairs close enough)
    snippet: str  # the sentence of the first hit, the hit marked with ** **
    points: float = 0.0  # what it adds to the rule's score before the weight: boost × 2n/(n+1)
    kind: str = "term"  # "term", "near" (a proximity bonus) or "filter" (a veto on the article: source:, lang:…)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched an article, with its score and the hits that explain it.

    ``score`` is ``round(weight × Σ hit.points, 3)``. A match with a ``gate`` (the
    article is older than the rule's max_age) is stored but raises no alert; one
    with ``vetoed_by`` (an exclusion hit) is reported in ``Verdict.vetoed`` only.
    """

    rule: str
    score: float
    hits: tuple[Hit, ...]
    weight: float = 1.0
    threshold: float | None = None  # the rule's own threshold; None: the article score meets alerts.threshold
    destinations: tuple[str, ...] = ()  # where its alerts go; empty: every destination
    gate: str | None = None  # why it may not alert, e.g. "published 40 days ago, max_age 7d"
    vetoed_by: tuple[Hit, ...] = ()  # the exclusions that hit

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "score": self.score, "hits": [h.to_dict() for h in self.hits]}
        data["weight"] = self.weight
        if self.threshold is not None:
            data["threshold"] = self.threshold
        if self.destinations:
            data["destinations"] = list(self.destinations)
        if self.gate is not None:
            data["gate"] = self.gate
        if self.vetoed_by:
            data["vetoed_by"] = [h.to_dict() for h in self.vetoed_by]
        return data


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of scoring one article against every rule.

    ``score`` sums the matches. Rules without a threshold of their own alert
    together when the sum of their scores reaches ``threshold``; a rule with one
    alerts when its own score reaches it. Gated matches never alert.
    """

    score: float
    threshold: float
    matches: tuple[RuleMatch, ...]
    vetoed: tuple[RuleMatch, ...] = ()  # rules whose terms matched but an exclusion vetoed them

    def alerting(self) -> tuple[RuleMatch, ...]:
        """The matches that raise an alert."""
        live = [m for m in self.matches if m.gate is None]
        pooled = [m for m in live if m.threshold is None]
        pool_alerts = bool(pooled) and round(sum(m.score for m in pooled), 3) >= self.threshold
        return tuple(m for m in live if (m.score >= m.threshold if m.threshold is not None else pool_alerts))

    @property
    def alert(self) -> bool:
        """True when some match raises an alert."""
        return bool(self.alerting())

    def alert_destinations(self, destinations: Sequence[str]) -> tuple[str, ...]:
        """Which of the configured ``destinations`` this verdict owes an alert to, in their order."""
        owed: set[str] = set()
        for match in self.alerting():
            owed.update(match.destinations or destinations)
        return tuple(name for name in destinations if name in owed)

    @property
    def hits(self) -> list[Hit]:
        return [hit for match in self.matches for hit in match.hits]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "threshold": self.threshold,
            "alert": self.alert,
            "matches": [m.to_dict() for m in self.matches],
            "hits": [h.to_dict() for h in self.hits],
            "alert_rules": [m.rule for m in self.alerting()],
            "vetoed": [m.to_dict() for m in self.vetoed],
        }


# The counters a source's run keeps; ``CrawlReport.total`` sums one of them over the sources.
RunCounter = Literal[
    "pages", "new_articles", "updated_articles", "unchanged_articles", "matches", "alerts_queued", "errors"
]


@dataclass(frozen=True, slots=True)
class SourceRunSummary:
    """One source's run as the crawl engine reports it: its run, its status and its counters."""

    source: str
    status: str | None = None  # "ok" or "failed"; None if a report left it out
    run_id: int | None = None  # None if the spider never opened a run
    pages: int = 0
    new_articles: int = 0
    updated_articles: int = 0
    unchanged_articles: int = 0
    matches: int = 0
    alerts_queued: int = 0
    errors: int = 0
    median_age_seconds: int | None = None  # publication to fetch, new articles only; None without any
    message: str | None = None  # why a source has no counters, e.g. its spider did not start

    def __getitem__(self, name: str) -> Any:
        """A field by its name in the JSON report (``summary["pages"]``), for code that read the report as dicts."""
        if name not in _SUMMARY_FIELDS:
            raise KeyError(name)
        return getattr(self, name)


_SUMMARY_FIELDS = frozenset(f.name for f in fields(SourceRunSummary))
