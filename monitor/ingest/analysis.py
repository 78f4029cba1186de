"""From a fetched page to a stored, scored article: the core the Scrapy pipeline adapts.

``analyse`` is the CPU-heavy, side-effect-free half (extract, then score) and runs
in worker processes; ``save_article`` is the I/O half and runs in the crawl process,
which is the store's only writer during a crawl: it builds the alert payload and
hands it to the store with the article.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.alerts import build_event
from monitor.config import DestinationSpec
from monitor.extract import extract_article
from monitor.models import Article, Page, Verdict
from monitor.rules import RuleSet, score_article
from monitor.store import SaveOutcome, Store, write_article
from monitor.timestamps import iso, utcnow


@dataclass(frozen=True, slots=True)
class Analysis:
    """An extracted article and its verdict."""

    article: Article
    verdict: Verdict


def analyse(page: Page, ruleset: RuleSet, threshold: float, max_age_seconds: int | None = None) -> Analysis:
    """Extract the article in ``page`` and score it; ExtractionError if there is no article."""
    article = extract_article(
        page.html,
        page.url,
        hint_title=page.hint_title,
        hint_published=page.hint_published,
        source=page.source,
    )
    # The recency gate measures age from when the page was fetched; the engine itself never reads the clock.
    now = page.fetched_at or datetime.now(UTC)
    verdict = score_article(ruleset, article, threshold=threshold, now=now, max_age_seconds=max_age_seconds)
    return Analysis(article, verdict)


def save_article(
    store: Store,
    article: Article,
    verdict: Verdict,
    destinations: Sequence[DestinationSpec],
    now: datetime | None = None,
) -> SaveOutcome:
    """Save a scored article, its matches and the alerts it owes (with their payload), in one transaction."""
    moment = now or utcnow()
    payload = build_event("", article, 0, verdict, iso(moment) or "")
    return write_article(store, article, verdict, destinations, payload, now=moment)
