"""The data the whole pipeline passes around: one model of a page, an article and a verdict.

These dataclasses are used everywhere, the Scrapy items included, so a page
fetched by a spider and a page read from disk by ``monitor score`` are the same
thing to the core.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


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
        return data


@dataclass(frozen=True, slots=True)
class Hit:
    """One term of one rule found in one field of an article."""

    rule: str
    term: str
    field: str  # "title" or "body"
    count: int
    snippet: str  # the text around the first hit, the hit marked with ** **

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched an article, with its score and the hits that explain it."""

    rule: str
    score: float
    hits: tuple[Hit, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "score": self.score, "hits": [h.to_dict() for h in self.hits]}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of scoring one article against every rule."""

    score: float
    threshold: float
    matches: tuple[RuleMatch, ...]

    @property
    def alert(self) -> bool:
        """True when the article scored at or above the threshold."""
        return bool(self.matches) and self.score >= self.threshold

    def alert_destinations(self, destinations: Sequence[str]) -> tuple[str, ...]:
        """Which of the configured ``destinations`` this verdict owes an alert to."""
        return tuple(destinations) if self.alert else ()

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
        }
