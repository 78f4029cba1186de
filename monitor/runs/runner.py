"""One pass of the monitor: crawl the sources, then deliver the alerts that are due."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.alerts import DeliveryReport, deliver_due
from monitor.config import Config
from monitor.errors import CrawlError
from monitor.models import SourceRunSummary
from monitor.runs.child import CrawlReport, run_crawl
from monitor.runs.source_health import check_sources
from monitor.store import Store
from monitor.store.runs import fail_open_runs
from monitor.timestamps import utcnow

log = logging.getLogger("monitor.run")


@dataclass
class RunSummary:
    """What one ``monitor run`` did, for people."""

    crawl: CrawlReport
    delivery: DeliveryReport | None
    crashed: list[str] = field(default_factory=list)

    def render(self) -> str:
        c = self.crawl
        lines = [
            f"Crawled {len(c.sources)} source(s): {c.total('pages')} pages fetched, "
            f"{c.total('new_articles')} new articles, {c.total('updated_articles')} updated, "
            f"{c.total('matches')} matches, {c.total('alerts_queued')} alerts queued, {c.total('errors')} errors"
        ]
        for source in c.sources:
            status = "?" if source.status is None else source.status
            lines.append(
                f"  {source.source:<20} {status:<7} pages {source.pages:>4}  "
                f"new {source.new_articles:>4}  matches {source.matches:>3}  "
                f"errors {source.errors:>3}"
            )
        for message in self.crashed:
            lines.append(f"  crawl crashed: {message}")
        if self.delivery is None:
            lines.append("Alerts: not sent (--no-send); `monitor run` or `monitor serve` will send them")
        else:
            d = self.delivery
            lines.append(
                f"Alerts: {d.sent} sent, {d.failed} failed (will retry), {d.dead} dead, "
                f"{d.skipped} waiting for a destination"
                + (f", {d.held} held for a digest" if d.held else "")
                + (f", {d.digests} digest(s) made" if d.digests else "")
            )
            if d.paused:
                lines.append(f"  {d.paused} destination(s) paused after permanent failures: see `monitor alerts list`")
        return "\n".join(lines)


def run_once(
    config: Config, store: Store, sources: Sequence[str] = (), *, send: bool = True, log_level: str = "WARNING"
) -> RunSummary:
    """Crawl ``sources`` (all enabled if empty) in a child process, then send due alerts."""
    names = list(sources) or [s.name for s in config.sources if s.enabled]
    crashed: list[str] = []
    try:
        report = run_crawl(config.path, store.path, names, log_level=log_level, config=config)
    except CrawlError as error:
        log.error("%s", error)
        fail_open_runs(store, names, str(error))
        crashed.append(str(error))
        report = CrawlReport(sources=[SourceRunSummary(source=n, status="failed", errors=1) for n in names])
    check_sources(store, config, utcnow(), names)
    delivery = deliver_due(store, config.alerts.destinations, max_attempts=config.alerts.max_attempts) if send else None
    return RunSummary(report, delivery, crashed)
