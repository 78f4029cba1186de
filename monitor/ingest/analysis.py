"""From a fetched page to a stored, scored article: the core the Scrapy pipeline adapts.

``analyse`` is the CPU-heavy, side-effect-free half (extract, then score) and runs
in worker processes; ``record`` is the I/O half and runs in the crawl process,
which is the store's only writer during a crawl.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.config.model import DestinationSpec
from monitor.extract.article import extract_article
from monitor.models import Article, Page, Verdict
from monitor.rules.engine import RuleSet, score_article
from monitor.store.core import SaveOutcome, Store, save_article


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


def record(store: Store, analysis: Analysis, destinations: Sequence[DestinationSpec]) -> SaveOutcome:
    """Save an analysed article, its matches and the alerts it owes, in one transaction."""
    return save_article(store, analysis.article, analysis.verdict, destinations)
