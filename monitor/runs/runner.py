"""One pass of the monitor: crawl the sources, then deliver the alerts that are due."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.alerts import DeliveryReport, deliver_due
from monitor.config import Config
from monitor.runs.child import CrawlReport, run_crawl
from monitor.store import Store
from monitor.store.destinations import paused_destinations
from monitor.store.outbox import missed_alerts
from monitor.store.reports import outbox_counts, outbox_totals
from monitor.timestamps import utcnow

log = logging.getLogger("monitor.run")


@dataclass
class RunSummary:
    """What one ``monitor run`` did, for people; the outbox as the store holds it after the run."""

    crawl: CrawlReport
    delivery: DeliveryReport | None
    crashed: list[str] = field(default_factory=list)
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)  # destination -> OUTBOX_STATES -> messages
    paused: dict[str, str] = field(default_factory=dict)  # paused destination -> since when and why
    missed: dict[str, int] = field(default_factory=dict)  # off destination -> alerts of this run it did not get
    busy: dict[str, int | None] = field(default_factory=dict)  # source another process was crawling -> its pid

    @property
    def every_source_failed(self) -> bool:
        """True when the run crawled at least one source and every one failed."""
        return bool(self.crawl.sources) and all(source.status == "failed" for source in self.crawl.sources)

    def waiting(self, destination: str | None = None) -> int:
        """Messages not yet delivered and not held for a digest (of one destination, or all), per the store."""
        counts = {destination: self.outbox.get(destination, {})} if destination else self.outbox
        return outbox_totals(counts)["waiting"]

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
        for name, pid in self.busy.items():
            who = "another process" if pid is None else f"another process (pid {pid})"
            lines.append(f"  {name:<20} skipped: {who} is crawling it now")
        for message in self.crashed:
            lines.append(f"  crawl crashed: {message}")
        if self.delivery is None:
            lines.append("Alerts: not sent (--no-send); `monitor run` or `monitor serve` will send them")
        else:
            d = self.delivery
            lines.append(
                f"Alerts: {d.sent} sent, {d.failed} failed (will retry), {d.dead} dead"
                + (f", {d.digests} digest(s) made" if d.digests else "")
            )
        total = outbox_totals(self.outbox)
        lines.append(
            f"Outbox: {total['waiting']} waiting to be sent ({total['retrying']} of them to retry), "
            f"{total['held']} held for a digest, {total['dead']} dead"
        )
        for name, why in self.paused.items():
            lines.append(
                f"  destination {name} is paused ({why}): {self.waiting(name)} waiting for it;"
                f" `monitor alerts resume {name}` resumes it"
            )
        for name, count in self.missed.items():
            lines.append(
                f"  destination {name} is OFF (its URL variable is empty): it did not get {count} alert(s) of this run;"
                f" once it is set, `monitor alerts replay --since 1d --destination {name}` queues them"
            )
        if self.every_source_failed:
            lines.append("Every source failed this run: see `monitor status` and the run_errors table")
        return "\n".join(lines)


def run_once(
    config: Config, store: Store, sources: Sequence[str] = (), *, send: bool = True, log_level: str = "WARNING"
) -> RunSummary:
    """Crawl ``sources`` (all enabled if empty) in one engine process, then send due alerts.

    A source another process is crawling (``monitor serve``, another ``monitor run``) is skipped.
    """
    started = utcnow()
    names = list(sources) or [s.name for s in config.sources if s.enabled]
    report = CrawlReport()
    if names:
        report = run_crawl(
            config.path, store.path, names, timeout=config.run_deadline(names), log_level=log_level, config=config
        )
    for name, pid in report.busy.items():
        log.info("source=%s skipped: another process (pid %s) is crawling it", name, pid)
    crashed = [report.crashed] if report.crashed else []
    delivery = deliver_due(store, config.alerts.destinations, max_attempts=config.alerts.max_attempts) if send else None
    missed = {
        d.name: len(missed_alerts(store, d.name, config.rules, config.alerts.threshold, since=started))
        for d in config.alerts.destinations
        if not d.enabled
    }
    for name, count in missed.items():
        if count:
            log.warning(
                "destination=%s is off (its URL variable is empty): %d alert(s) of this run not queued", name, count
            )
    paused = {
        name: f"since {info['paused_at']}: {info['paused_reason']}" for name, info in paused_destinations(store).items()
    }
    return RunSummary(report, delivery, crashed, outbox_counts(store), paused, missed, report.busy)
