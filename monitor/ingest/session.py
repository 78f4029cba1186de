"""One crawl of one source, as the core sees it: a run record, counters, errors, and pages to save.

The spider owns a CrawlSession and reports to it; the session does the rest. It
never raises for a bad page: the page's error is logged and recorded and the
crawl goes on.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.config import Config, SourceSpec
from monitor.errors import ExtractionError, MonitorError
from monitor.extract import Link, canonicalize_url, fresh_links
from monitor.ingest.analysis import Analysis
from monitor.ingest.ledger import RunClaim, RunLedger
from monitor.ingest.prefilter import may_be_relevant
from monitor.ingest.workers import Analyser
from monitor.models import Page, SourceRunSummary
from monitor.store import SaveOutcome

log = logging.getLogger("monitor.crawl")

ANALYSIS_TIMEOUT_SECONDS = 120
LINK_BATCH = 500  # links looked up in the store at a time: a 100,000-item feed stops at max_pages, not at its end


@dataclass
class LinkChoice:
    """Which of an index's links to fetch this run, and why the others are not fetched."""

    fetch: list[Link] = field(default_factory=list)
    too_old: int = 0  # dated older than the source's max_age
    irrelevant: int = 0  # the prefilter: their index title and keywords match no rule
    page_limit: bool = False  # stopped at the source's max_pages: the index was not read in full


class CrawlSession:
    """Bookkeeping for one source's run: start it, count what happens, record errors, finish it."""

    def __init__(
        self,
        config: Config,
        source: SourceSpec,
        ledger: RunLedger,
        analyser: Analyser,
        on_alerts: Callable[[int], None] | None = None,
        claim: RunClaim | None = None,
    ):
        self.config = config
        self.ledger = ledger  # the store, or a cluster's writer (``claim`` then names the run it opened)
        self.claim = claim
        self.on_alerts = on_alerts  # told how many alerts each committed article queued
        self.source = source
        self.analyser = analyser
        self.counts: dict[str, int] = dict.fromkeys(
            ("pages", "new_articles", "updated_articles", "unchanged_articles", "matches", "alerts_queued", "errors"), 0
        )
        self.analysed = 0  # articles analysed and handed to the ledger
        self.source_failed = False
        self.new_article_ages: list[float] = []  # seconds from publication to our fetch, new articles only
        # A stored copy of an index says "unchanged since last read" only if this store read it before
        # (the HTTP cache lives beside the store, and may outlive it).
        self.read_before = claim.read_before if claim else ledger.read_before(source.name)
        self.run_id = claim.run_id if claim else ledger.start_run(source.name)
        self.finished = False
        self.closing = False  # ended early (a deadline, a stop): no more saves; it closes once those in flight land
        self.saving = 0  # saves handed to the ledger and not yet committed
        self._when_saved: Callable[[], None] | None = None
        self.queued = 0  # article links chosen this run
        self.saved_counts = dict(self.counts)  # as the run record holds them
        self.chosen: set[str] = set()  # canonical URLs to_fetch gave out this run

    def fetched(self) -> None:
        """Count one page fetched (index or article)."""
        self.counts["pages"] += 1

    def error(self, url: str | None, kind: str, message: str, *, fatal: bool = False) -> None:
        """Log and record an error; ``fatal`` marks the whole source as failed this run (e.g. its feed is dead)."""
        self.counts["errors"] += 1
        self.source_failed = self.source_failed or fatal
        log.warning("source %s: %s error at %s: %s", self.source.name, kind, url or "-", message)
        try:
            self.ledger.record_error(self.run_id, self.source.name, url, kind, message)
        except MonitorError as problem:
            log.error("source %s: could not record an error: %s", self.source.name, problem)

    def to_fetch(self, links: Sequence[tuple[str, str, datetime | None]], now: datetime) -> list[str]:
        """Of ``links`` (URL, canonical URL, index date): those never fetched, and those changed since we fetched them.

        A link is known by its URL or its canonical URL (``?utm_source=…`` dropped), so a
        tracking variant of a stored article is not fetched again, and each canonical URL
        is fetched once a run. An article seen again is not fetched again, unless its feed
        or sitemap dates it (``lastmod``, ``updated``) after our last fetch; a date in the
        future is ignored.
        """
        seen = self.ledger.last_seen(list(dict.fromkeys(url for link in links for url in link[:2])))
        wanted = []
        for url, canonical, dated in links:
            if canonical in self.chosen:
                continue
            fetched = max((seen[known] for known in (url, canonical) if known in seen), default=None)
            if fetched is None or (dated is not None and fetched < dated <= now):
                wanted.append(url)
                self.chosen.add(canonical)
        return wanted

    def choose_links(self, links: Sequence[Link], now: datetime) -> LinkChoice:
        """Of an index's ``links``, those to fetch: young enough, maybe relevant, not seen, within the page limit."""
        source = self.source
        fresh, old = fresh_links(list(links), now, source.max_age_seconds)
        choice = LinkChoice(too_old=len(old))
        if source.prefilter:
            relevant = [link for link in fresh if may_be_relevant(self.analyser.ruleset, link, source.name)]
            choice.irrelevant = len(fresh) - len(relevant)
            fresh = relevant
        by_url = {link.url: link for link in fresh}
        for start in range(0, len(fresh), LINK_BATCH):
            batch = [
                (link.url, canonicalize_url(link.url), link.published) for link in fresh[start : start + LINK_BATCH]
            ]
            for url in self.to_fetch(batch, now):
                if self.queued >= source.max_pages:
                    choice.page_limit = True
                    return choice
                self.queued += 1
                choice.fetch.append(by_url[url])
        return choice

    def save_progress(self) -> None:
        """Write the counters so far to the run record, if they changed: a long crawl shows its progress."""
        if self.finished or self.counts == self.saved_counts:
            return
        try:
            self.ledger.update_counts(self.run_id, self.counts)
        except MonitorError as problem:
            log.warning("source %s: could not write the run's progress: %s", self.source.name, problem)
            return
        self.saved_counts = dict(self.counts)

    async def process(self, page: Page) -> bool:
        """Analyse ``page`` in the worker pool and save it; record (never raise) what goes wrong.

        True when the page was lost to something that may not happen again (a worker that
        died, a timeout): its index should be read in full next run, so the page is fetched again.
        """
        try:
            try:
                future = self.analyser.submit(page)
                analysis: Analysis = await asyncio.wait_for(asyncio.wrap_future(future), ANALYSIS_TIMEOUT_SECONDS)
            except BrokenProcessPool:
                # A dead worker fails every page in the pool: once more on a fresh pool, so only its killer is lost.
                log.warning("source %s: an extraction worker died; analysing %s again", self.source.name, page.url)
                self.analyser.discard_broken()
                future = self.analyser.submit(page)
                analysis = await asyncio.wait_for(asyncio.wrap_future(future), ANALYSIS_TIMEOUT_SECONDS)
        except ExtractionError as problem:
            self.error(page.url, "extract", str(problem))
            return False
        except TimeoutError:
            self.error(page.url, "extract", f"extraction took longer than {ANALYSIS_TIMEOUT_SECONDS} s")
            self.analyser.restart()
            return True
        except BrokenProcessPool:
            self.error(page.url, "extract", "an extraction worker died on this page")
            self.analyser.discard_broken()
            return True
        except Exception as problem:
            self.error(page.url, "extract", f"{type(problem).__name__}: {problem}")
            return False
        if self.finished or self.closing:  # the run ended (its deadline) while the page was analysed: fetched next run
            return False
        self.saving += 1
        try:
            try:
                outcome = await self.ledger.save(
                    self.run_id, self.source.name, analysis, self.config.alerts.destinations
                )
            except MonitorError as problem:
                self.error(page.url, "store", str(problem))
                return True
            self.analysed += 1
            if outcome is not None:  # None: the cluster's writer saves it and counts what it was
                self._count(page, analysis, outcome)
            return False
        finally:
            self.saving -= 1
            self._call_when_saved()

    def _count(self, page: Page, analysis: Analysis, outcome: SaveOutcome) -> None:
        """Count a committed article in the run's counters (and tell whoever sends alerts)."""
        self.counts[f"{outcome.status}_articles"] += 1
        self.counts["matches"] += outcome.matches
        if outcome.status == "new" and analysis.article.published is not None:
            fetched = page.fetched_at or datetime.now(UTC)
            self.new_article_ages.append((fetched - analysis.article.published).total_seconds())
        self.counts["alerts_queued"] += outcome.alerts_queued
        if outcome.alerts_queued and self.on_alerts is not None:
            self.on_alerts(outcome.alerts_queued)
        if outcome.status != "unchanged" or outcome.alerts_queued:  # -v: one line per article stored or alerted
            log.info(
                "source %s: %s article %s scored %.2f, %d alert(s) queued",
                self.source.name,
                outcome.status,
                analysis.article.canonical_url,
                analysis.verdict.score,
                outcome.alerts_queued,
            )

    def close_when_saved(self, close: Callable[[], None]) -> None:
        """End early: save no more pages, and ``close`` the run once the saves in flight are counted.

        A save commits a moment after it is asked for (``SaveBatch``); a run closed in
        that moment would store an article its record does not count.
        """
        self.closing = True
        self._when_saved = close
        self._call_when_saved()

    def _call_when_saved(self) -> None:
        if self.saving or self._when_saved is None:
            return
        close, self._when_saved = self._when_saved, None
        close()

    def finish(self, incomplete: frozenset[str] = frozenset()) -> SourceRunSummary:
        """Close the run record (``incomplete``: indexes to read in full next run) and return the run's summary."""
        status = "failed" if self.source_failed else "ok"
        median_age = round(statistics.median(self.new_article_ages)) if self.new_article_ages else None
        if not self.finished:
            record = {**self.counts, "median_age_seconds": median_age}
            self.ledger.finish_run(self.run_id, self.source.name, record, status, self.claim, incomplete)
            self.finished = True
        counts = self.counts
        return SourceRunSummary(
            source=self.source.name,
            run_id=self.run_id,
            status=status,
            pages=counts["pages"],
            new_articles=counts["new_articles"],
            updated_articles=counts["updated_articles"],
            unchanged_articles=counts["unchanged_articles"],
            matches=counts["matches"],
            alerts_queued=counts["alerts_queued"],
            errors=counts["errors"],
            median_age_seconds=median_age,
        )
