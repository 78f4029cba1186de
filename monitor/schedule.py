"""``monitor serve``: each source on its own interval, alert delivery on its own, until a signal.

APScheduler 3.x runs the jobs in a thread pool; each crawl job starts a crawl
process (see ``monitor.crawl``), so the scheduler's process never runs a Twisted
reactor and a crawl that crashes or leaks takes only its own process with it.
``max_instances=1`` keeps a source from running twice at once: a crawl slower
than its interval makes APScheduler skip the next slot, and we log the skip.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, JobExecutionEvent, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerts.delivery import deliver_due
from monitor.crawl import fail_open_runs, run_crawl
from monitor.errors import CrawlError, MonitorError
from monitor.settings import Config, SourceSpec
from monitor.store import Store, sync_sources

log = logging.getLogger("monitor.serve")

MAX_JITTER_SECONDS = 60


def crawl_source(config: Config, db_path: str, source: SourceSpec, log_level: str = "WARNING") -> None:
    """One scheduled crawl of one source; records a crash instead of raising it."""
    log.info("crawl %s: starting", source.name)
    try:
        report = run_crawl(
            config.path, db_path, [source.name], log_level=log_level, timeout=max(3600.0, source.interval_seconds * 4.0)
        )
    except CrawlError as error:
        log.error("crawl %s: %s", source.name, error)
        with Store.open(db_path) as store:
            fail_open_runs(store, [source.name], str(error))
        return
    for summary in report.sources:
        log.info(
            "crawl %s: %s, %s pages, %s new articles, %s alerts queued, %s errors",
            summary["source"],
            summary.get("status"),
            summary.get("pages", 0),
            summary.get("new_articles", 0),
            summary.get("alerts_queued", 0),
            summary.get("errors", 0),
        )


def send_alerts(config: Config, db_path: str) -> None:
    """Deliver the alerts that are due."""
    with Store.open(db_path) as store:
        report = deliver_due(store, config.alerts.destinations, max_attempts=config.alerts.max_attempts)
    if report.sent or report.failed or report.dead:
        log.info("alerts: %d sent, %d failed, %d dead", report.sent, report.failed, report.dead)


def build_scheduler(
    config: Config,
    db_path: str,
    *,
    send_interval: int = 30,
    log_level: str = "WARNING",
    now: datetime | None = None,
    crawl: Callable[..., None] = crawl_source,
    send: Callable[..., None] = send_alerts,
) -> BackgroundScheduler:
    """A scheduler (not started) with one job per enabled source and one for delivery."""
    start = now or datetime.now(UTC)
    sources = [s for s in config.sources if s.enabled]
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(max_workers=max(2, len(sources) + 1))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for index, source in enumerate(sources):
        jitter = min(MAX_JITTER_SECONDS, source.interval_seconds // 10)
        scheduler.add_job(
            crawl,
            IntervalTrigger(seconds=source.interval_seconds, jitter=jitter or None, start_date=start),
            args=[config, db_path, source, log_level],
            id=f"crawl:{source.name}",
            name=f"crawl {source.name}",
            # Stagger the first runs so fifty sources do not start in the same second.
            next_run_time=start + timedelta(seconds=index * min(2.0, source.interval_seconds / len(sources))),
        )
    scheduler.add_job(
        send,
        IntervalTrigger(seconds=send_interval, start_date=start),
        args=[config, db_path],
        id="send",
        name="send alerts",
        next_run_time=start,
    )
    scheduler.add_listener(_on_skipped, EVENT_JOB_MAX_INSTANCES)
    scheduler.add_listener(_on_error, EVENT_JOB_ERROR)
    return scheduler


def serve(
    config: Config,
    db_path: str,
    *,
    send_interval: int = 30,
    log_level: str = "WARNING",
    stop: threading.Event | None = None,
) -> None:
    """Run until SIGINT or SIGTERM (or ``stop`` is set), then let running jobs finish and return."""
    stop = stop or threading.Event()
    with Store.open(db_path) as store:
        sync_sources(store, config.sources)
    scheduler = build_scheduler(config, db_path, send_interval=send_interval, log_level=log_level)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: stopping now", signal.Signals(signum).name)
            raise SystemExit(1)
        log.info("%s: finishing running jobs, then stopping", signal.Signals(signum).name)
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    scheduler.start()
    log.info("serving %d sources; alerts sent every %d s", len([s for s in config.sources if s.enabled]), send_interval)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
        for number, handler in previous.items():
            signal.signal(number, handler)
        log.info("stopped")


def _on_skipped(event: JobSubmissionEvent) -> None:
    log.warning("%s: still running from its last slot; this run is skipped", event.job_id)


def _on_error(event: JobExecutionEvent) -> None:
    # Jobs catch their own errors; this is the last line of defence, and the scheduler goes on.
    if isinstance(event.exception, MonitorError):
        log.error("%s failed: %s", event.job_id, event.exception)
    else:
        log.error("%s crashed: %r", event.job_id, event.exception)
