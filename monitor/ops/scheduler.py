"""``monitor serve``: each source on its own interval, alert delivery on its own, for months.

APScheduler 3.x runs the jobs in a thread pool; each crawl job starts a crawl
process (see ``monitor.runs.child``), so the scheduler's process never runs a Twisted
reactor and a crawl that crashes or leaks takes only its own process with it.
``max_instances=1`` keeps a source from running twice at once: a crawl slower
than its interval makes APScheduler skip the next slot, and the skip is recorded.
Across processes, ``serve`` holds the store's lock (a second ``serve`` refuses to
start) and each crawl holds its source's lease (``monitor.processes``): a slot that
comes while a ``monitor run`` crawls the source is skipped and recorded the same way,
and only runs whose processes are all gone are ever closed as crashed.
The schedule is derived from the ``runs`` table, so a restart resumes it: a source
is due one interval after its last run, and a source overdue after downtime runs
once (coalesced), not once per missed slot.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, JobExecutionEvent, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerts import deliver_due
from monitor.config import Config, SourceSpec, load_config
from monitor.errors import ConfigError, CrawlError, MonitorError
from monitor.ops.liveness import HealthServer
from monitor.ops.status import next_run
from monitor.processes import SourceLeases, hold_store
from monitor.runs import check_sources, run_crawl
from monitor.store import Store, sync_sources
from monitor.store.reports import last_runs
from monitor.store.runs import close_left_open, fail_open_runs, record_skipped_run
from monitor.timestamps import utcnow

log = logging.getLogger("monitor.serve")

MAX_JITTER_SECONDS = 60
CrawlJob = Callable[[Config, str, SourceSpec, str, threading.Event], None]


def crawl_source(config: Config, db_path: str, source: SourceSpec, log_level: str, abort: threading.Event) -> None:
    """One scheduled crawl of one source, unless another process is crawling it; records a crash, never raises it."""
    with SourceLeases(db_path, [source.name]) as lease:
        if not lease.held:
            log.warning(
                "crawl %s: another process (pid %s) is crawling it; this slot is skipped",
                source.name,
                lease.busy[source.name],
            )
            record_skip(db_path, source.name)
            return
        log.info("crawl %s: starting", source.name)
        with Store.open(db_path) as store:
            close_left_open(store, [source.name])
        try:
            report = run_crawl(
                config.path,
                db_path,
                [source.name],
                log_level=log_level,
                abort=abort,
                timeout=max(3600.0, source.interval_seconds * 4.0),
                config=config,  # the running configuration, even if the file was edited since
                hold=lease.fds,
            )
        except CrawlError as error:
            log.error("crawl %s: %s", source.name, error)
            with Store.open(db_path) as store:
                fail_open_runs(store, [source.name], str(error))  # still leased: only this crawl's run
                check_sources(store, config, utcnow(), [source.name])
            return
    with Store.open(db_path) as store:
        check_sources(store, config, utcnow(), [source.name])
    for summary in report.sources:
        log.info(
            "crawl %s: %s, %s pages, %s new articles, %s alerts queued, %s errors",
            summary.source,
            summary.status,
            summary.pages,
            summary.new_articles,
            summary.alerts_queued,
            summary.errors,
        )


def send_alerts(config: Config, db_path: str) -> None:
    """Deliver the alerts that are due."""
    with Store.open(db_path) as store:
        report = deliver_due(store, config.alerts.destinations, max_attempts=config.alerts.max_attempts)
    if report.sent or report.failed or report.dead:
        log.info("alerts: %d sent, %d failed, %d dead", report.sent, report.failed, report.dead)


def record_skip(db_path: str, source: str) -> None:
    """Keep a skipped slot in ``runs`` (status ``skipped``) so status and benchmarks can count them."""
    now = utcnow()
    with Store.open(db_path) as store:
        record_skipped_run(store, source, now)


class Service:
    """The long-running monitor: a scheduler, its jobs, reloads, and a clean stop."""

    def __init__(
        self,
        config: Config,
        db_path: str,
        *,
        send_interval: int = 30,
        log_level: str = "WARNING",
        grace_seconds: float = 60.0,
        crawl: CrawlJob = crawl_source,
        send: Callable[[Config, str], None] = send_alerts,
    ):
        self.config = config
        self.db_path = db_path
        self.send_interval = send_interval
        self.log_level = log_level
        self.grace_seconds = grace_seconds
        self.crawl = crawl
        self.send = send
        self.stopping = threading.Event()  # no new work
        self.abort = threading.Event()  # running crawls must end now
        self.reload_requested = threading.Event()
        self.running: set[str] = set()
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=max(2, len(config.sources) + 1))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.add_listener(_on_error, EVENT_JOB_ERROR)

    def schedule(self, now: datetime | None = None) -> None:
        """(Re)create every job from the configuration and the runs table."""
        start = now or utcnow()
        with Store.open(self.db_path) as store:
            sync_sources(store, self.config.sources)
            last = last_runs(store)
        self.scheduler.remove_all_jobs()
        sources = [s for s in self.config.sources if s.enabled]
        overdue = 0
        for source in sources:
            due = next_run(source, last.get(source.name), start)
            if due <= start:
                # Stagger overdue sources so fifty of them do not start in the same second.
                due = start + timedelta(seconds=overdue * min(2.0, source.interval_seconds / len(sources)))
                overdue += 1
            jitter = min(MAX_JITTER_SECONDS, source.interval_seconds // 10)
            self.scheduler.add_job(
                self._crawl_job,
                source.trigger(start=due, jitter=jitter or None),
                args=[source],
                id=f"crawl:{source.name}",
                name=f"crawl {source.name}",
                next_run_time=due,
            )
        self.scheduler.add_job(
            self._send_job,
            IntervalTrigger(seconds=self.send_interval, start_date=start),
            id="send",
            name="send alerts",
            next_run_time=start,
        )

    def _crawl_job(self, source: SourceSpec) -> None:
        if self.stopping.is_set():
            return
        with self._lock:
            self.running.add(source.name)
        try:
            self.crawl(self.config, self.db_path, source, self.log_level, self.abort)
        finally:
            with self._lock:
                self.running.discard(source.name)

    def _send_job(self) -> None:
        if not self.abort.is_set():
            self.send(self.config, self.db_path)

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        log.warning("%s: still running from its last slot; this run is skipped", event.job_id)
        if event.job_id.startswith("crawl:"):
            try:
                record_skip(self.db_path, event.job_id.split(":", 1)[1])
            except MonitorError as error:
                log.error("could not record a skipped run: %s", error)

    def reload(self) -> bool:
        """Re-read the configuration; an invalid one is refused and the running one kept."""
        try:
            config = load_config(self.config.path)
        except ConfigError as error:
            log.error("reload refused, keeping the running configuration:\n%s", error)
            return False
        self.config = config
        self.schedule()
        log.info("configuration reloaded: %d sources, %d rules", len(config.sources), len(config.rules))
        return True

    def stop(self) -> None:
        """Stop taking new work; running crawls get ``grace_seconds`` to finish, then are stopped."""
        self.stopping.set()
        self.scheduler.pause()
        deadline = time.monotonic() + self.grace_seconds
        while self.running and time.monotonic() < deadline and not self.abort.is_set():
            time.sleep(0.2)
        if self.running:
            log.warning("grace period over: stopping %s", ", ".join(sorted(self.running)))
            self.abort.set()
        self.scheduler.shutdown(wait=True)

    @property
    def alive(self) -> bool:
        return bool(self.scheduler.running) and not self.stopping.is_set()


def serve(
    config: Config,
    db_path: str,
    *,
    send_interval: int = 30,
    log_level: str = "WARNING",
    grace_seconds: float = 60.0,
    health_port: int | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run until SIGINT or SIGTERM (or ``stop`` is set); reload on SIGHUP or when the file changes.

    AlreadyServing if another ``monitor serve`` is running on the store.
    """
    with hold_store(db_path):
        _serve(config, db_path, send_interval, log_level, grace_seconds, health_port, stop)


def _serve(
    config: Config,
    db_path: str,
    send_interval: int,
    log_level: str,
    grace_seconds: float,
    health_port: int | None,
    stop: threading.Event | None,
) -> None:
    stop = stop or threading.Event()
    service = Service(config, db_path, send_interval=send_interval, log_level=log_level, grace_seconds=grace_seconds)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("second %s: stopping running crawls now", name)
            service.abort.set()
            return
        log.info("%s: finishing running jobs (up to %g s), then stopping", name, grace_seconds)
        stop.set()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        service.reload_requested.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number, handler in ((signal.SIGINT, on_stop), (signal.SIGTERM, on_stop), (signal.SIGHUP, on_hangup)):
            previous[number] = signal.signal(number, handler)
    with Store.open(db_path) as store, SourceLeases(db_path, [s.name for s in config.sources]) as idle:
        # Runs left 'running' by a monitor that was killed (SIGKILL, power loss) ended then: say so.
        # A source leased by a live process (a `monitor run`, a crawl that outlived its serve) is left to it.
        closed = close_left_open(store, idle.held)
    if closed:
        log.warning("closed %d run(s) left open by a monitor that did not stop cleanly", closed)
    health = HealthServer(service, health_port).start() if health_port is not None else None
    service.schedule()
    service.scheduler.start()
    log.info("serving %d sources; alerts sent every %d s", len([s for s in config.sources if s.enabled]), send_interval)
    watched = Path(config.path)
    mtime = _mtime(watched)
    try:
        while not stop.wait(1.0):
            changed = _mtime(watched)
            if service.reload_requested.is_set() or changed != mtime:
                service.reload_requested.clear()
                mtime = changed
                service.reload()
    finally:
        service.stop()
        if health is not None:
            health.stop()
        for signum, old_handler in previous.items():
            signal.signal(signum, old_handler)
        log.info("stopped")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _on_error(event: JobExecutionEvent) -> None:
    # Jobs catch their own errors; this is the last line of defence, and the scheduler goes on.
    if isinstance(event.exception, MonitorError):
        log.error("%s failed: %s", event.job_id, event.exception)
    else:
        log.error("%s crashed: %r", event.job_id, event.exception)
