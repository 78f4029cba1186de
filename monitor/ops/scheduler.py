"""``monitor serve``: each source on its own interval, alerts sent as soon as they are owed, for months.

APScheduler 3.x decides when each source is due; a due source-run goes to the crawl
engine (``monitor.runs.supervisor``): one long-lived process that crawls many runs at
once, restarted if it dies, replaced when worn or when the configuration changes, so
the scheduler's process never runs a Twisted reactor and a crash or a leak in a crawl
never takes it down. A source never runs twice at once: a slot that comes while its
run is still in flight is skipped and recorded, and so is one that comes while another
process (a ``monitor run``) holds the source's lease (``monitor.processes``). ``serve``
holds the store's lock, so a second one refuses to start. Alerts are sent by a thread
woken each time the engine commits an alert (and every ``--send-interval`` for
retries and digests). The schedule is derived from the ``runs`` table, so a restart
resumes it: a source is due one interval after its last run, and a source overdue
after downtime runs once (coalesced), not once per missed slot.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, JobExecutionEvent, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.alerts import deliver_due
from monitor.config import Config, SourceSpec, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.models import SourceRunSummary
from monitor.ops.liveness import HealthServer
from monitor.ops.status import next_run
from monitor.processes import SourceLeases, hold_store
from monitor.runs import EngineSupervisor
from monitor.store import Store, sync_sources
from monitor.store.reports import last_runs
from monitor.store.runs import close_left_open, record_skipped_run
from monitor.timestamps import utcnow

log = logging.getLogger("monitor.serve")

MAX_JITTER_SECONDS = 60
CLUSTER_STAGGER_SECONDS = 0.05


class CrawlEngine(Protocol):
    """What the service asks of whatever crawls its due source-runs (``EngineSupervisor``)."""

    def start(self) -> None: ...
    def submit(self, source: str, deadline: float | None) -> bool: ...
    def running(self) -> set[str]: ...
    def reload(self, config: Config) -> None: ...
    def stop(self, grace: float, abort: threading.Event | None = None) -> None: ...


def engine_supervisor(service: Service) -> CrawlEngine:
    """The real engine: one crawl process, supervised, reporting to ``service``."""
    return EngineSupervisor(
        service.config,
        service.db_path,
        on_finished=service.run_finished,
        on_busy=service.source_busy,
        on_alerts=service.alerts_queued,
        log_level=service.log_level,
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
    """The long-running monitor: a scheduler, the crawl engine, the alert sender, reloads, and a clean stop."""

    def __init__(
        self,
        config: Config,
        db_path: str,
        *,
        send_interval: int = 30,
        log_level: str = "WARNING",
        grace_seconds: float = 60.0,
        engine: Callable[[Service], CrawlEngine] = engine_supervisor,
        send: Callable[[Config, str], None] = send_alerts,
        stagger_seconds: float = 2.0,
    ):
        self.config = config
        self.db_path = db_path
        self.send_interval = send_interval
        self.log_level = log_level
        self.grace_seconds = grace_seconds
        self.send = send
        self.stagger_seconds = stagger_seconds  # between sources overdue at start (a cluster's workers pace themselves)
        self.stopping = threading.Event()  # no new work
        self.abort = threading.Event()  # running crawls must end now
        self.reload_requested = threading.Event()
        self.wake_sender = threading.Event()  # an alert was committed: send now, not at the next interval
        self.engine = engine(self)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=4)},  # a job only hands the run to the engine
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(_on_error, EVENT_JOB_ERROR)
        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        self._sender = threading.Thread(target=self._send_loop, name="alert-sender", daemon=True)

    def start(self) -> None:
        """Start the engine, the scheduler and the sender (after ``schedule``)."""
        self.engine.start()
        self.scheduler.start()
        self._sender.start()

    def schedule(self, now: datetime | None = None) -> None:
        """(Re)create every crawl job from the configuration and the runs table."""
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
                spacing = min(self.stagger_seconds, source.interval_seconds / len(sources))
                due = start + timedelta(seconds=overdue * spacing)
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

    def _crawl_job(self, source: SourceSpec) -> None:
        if self.stopping.is_set():
            return
        if not self.engine.submit(source.name, self.config.run_deadline([source.name])):
            if self.stopping.is_set():
                return
            log.warning("crawl:%s: still running from its last slot; this run is skipped", source.name)
            self._record_skip(source.name)

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        # The job that hands this source to the engine is itself still busy (a store under load): a slot lost.
        if event.job_id.startswith("crawl:"):
            log.warning("%s: its last slot is still being handed over; this run is skipped", event.job_id)
            self._record_skip(event.job_id.split(":", 1)[1])

    def run_finished(self, summary: SourceRunSummary) -> None:
        log.info(
            "crawl %s: %s, %s pages, %s new articles, %s alerts queued, %s errors",
            summary.source,
            summary.status,
            summary.pages,
            summary.new_articles,
            summary.alerts_queued,
            summary.errors,
        )

    def source_busy(self, source: str, pid: int | None) -> None:
        log.warning("crawl %s: another process (pid %s) is crawling it; this slot is skipped", source, pid)
        self._record_skip(source)

    def alerts_queued(self) -> None:
        self.wake_sender.set()

    def _record_skip(self, source: str) -> None:
        try:
            record_skip(self.db_path, source)
        except MonitorError as error:
            log.error("could not record a skipped run: %s", error)

    def _send_loop(self) -> None:
        while not self.abort.is_set():
            try:
                self.send(self.config, self.db_path)
            except Exception as error:  # the sender must outlive one bad pass; the next one retries
                log.error("sending alerts failed: %r", error)
            if self.stopping.is_set():
                return
            self.wake_sender.wait(self.send_interval)
            self.wake_sender.clear()

    def reload(self) -> bool:
        """Re-read the configuration; an invalid one is refused and the running one kept."""
        try:
            config = load_config(self.config.path)
        except ConfigError as error:
            log.error("reload refused, keeping the running configuration:\n%s", error)
            return False
        self.config = config
        self.engine.reload(config)
        self.schedule()
        log.info("configuration reloaded: %d sources, %d rules", len(config.sources), len(config.rules))
        return True

    def stop(self) -> None:
        """Stop taking new work; running crawls get ``grace_seconds`` to finish, then are stopped."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()
        self.engine.stop(self.grace_seconds, self.abort)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.wake_sender.set()
        if self._sender.is_alive():
            self._sender.join(timeout=30)

    @property
    def alive(self) -> bool:
        return bool(self.scheduler.running) and not self.stopping.is_set()


def cluster_engine(url: str, worker_timeout: float = 30.0) -> Callable[[Service], CrawlEngine]:
    """Workers crawl (``monitor worker``); this process publishes runs and writes what they find."""
    from monitor.cluster import ClusterEngine

    def make(service: Service) -> CrawlEngine:
        return ClusterEngine(
            service.config,
            service.db_path,
            url,
            on_finished=service.run_finished,
            on_alerts=service.alerts_queued,
            worker_timeout=worker_timeout,
        )

    return make


def serve(
    config: Config,
    db_path: str,
    *,
    send_interval: int = 30,
    log_level: str = "WARNING",
    grace_seconds: float = 60.0,
    health_port: int | None = None,
    stop: threading.Event | None = None,
    cluster: str | None = None,
    worker_timeout: float = 30.0,
) -> None:
    """Run until SIGINT or SIGTERM (or ``stop`` is set); reload on SIGHUP or when the file changes.

    With ``cluster`` (a Redis URL) the runs go to workers and this process is their writer.
    AlreadyServing if another ``monitor serve`` is running on the store.
    """
    engine = cluster_engine(cluster, worker_timeout) if cluster else engine_supervisor
    with hold_store(db_path):
        _serve(config, db_path, send_interval, log_level, grace_seconds, health_port, stop, engine, cluster is not None)


def _serve(
    config: Config,
    db_path: str,
    send_interval: int,
    log_level: str,
    grace_seconds: float,
    health_port: int | None,
    stop: threading.Event | None,
    engine: Callable[[Service], CrawlEngine],
    clustered: bool,
) -> None:
    stop = stop or threading.Event()
    service = Service(
        config,
        db_path,
        send_interval=send_interval,
        log_level=log_level,
        grace_seconds=grace_seconds,
        engine=engine,
        # One machine staggers overdue sources 2 s apart; a cluster's workers take runs at their own pace.
        stagger_seconds=CLUSTER_STAGGER_SECONDS if clustered else 2.0,
    )

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
    service.start()
    enabled = len([s for s in config.sources if s.enabled])
    log.info("serving %d sources; alerts sent when queued, retried every %d s", enabled, send_interval)
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
