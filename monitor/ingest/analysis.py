"""From a fetched page to a stored, scored article: the core the Scrapy pipeline adapts.

``analyse`` is the CPU-heavy, side-effect-free half (extract, score, and the
article's fingerprint: content hash and story signature) and runs in worker
processes; ``save_article`` is the I/O half and runs in the crawl process, which is
the store's only writer during a crawl: it builds the alert payload and hands it to
the store with the article and the fingerprint the worker computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.alerts import build_event
from monitor.config import DestinationSpec
from monitor.extract import Fingerprint, extract_article, fingerprint_of
from monitor.models import Article, Page, Verdict
from monitor.rules import RuleSet, score_article
from monitor.store import SaveOutcome, Store, write_article
from monitor.timestamps import iso, utcnow


@dataclass(frozen=True, slots=True)
class Analysis:
    """An extracted article, its verdict, and its fingerprint for the store."""

    article: Article
    verdict: Verdict
    fingerprint: Fingerprint


def analyse(page: Page, ruleset: RuleSet, threshold: float, max_age_seconds: int | None = None) -> Analysis:
    """Extract the article in ``page``, score it and fingerprint it; ExtractionError if the page is no document.

    A page with a title or a date but no body is an article with empty text (``text_missing``).
    """
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
    return Analysis(article, verdict, fingerprint_of(article))


def save_article(
    store: Store,
    article: Article,
    verdict: Verdict,
    destinations: Sequence[DestinationSpec],
    now: datetime | None = None,
    *,
    fingerprint: Fingerprint | None = None,
) -> SaveOutcome:
    """Save a scored article, its matches and the alerts it owes (with their payload), in one transaction.

    A crawl passes the ``fingerprint`` its worker computed (``Analysis.fingerprint``);
    without one (tests, scripts) it is computed here, at the cost of a MinHash.
    """
    moment = now or utcnow()
    payload = build_event("", article, 0, verdict, iso(moment) or "")
    marks = fingerprint if fingerprint is not None else fingerprint_of(article)
    return write_article(store, article, verdict, destinations, payload, marks, now=moment)
