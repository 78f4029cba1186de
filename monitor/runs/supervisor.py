"""Keep one crawl engine running for ``monitor serve``: restarted when it dies, replaced when it is worn or stale.

Like gunicorn's ``max_requests`` or Celery's ``max_tasks_per_child``, an engine is
recycled after ``crawl.engine_max_runs`` runs or past ``crawl.engine_max_memory``: a new
engine takes the new runs while the old one finishes its own (a drain). A reload is
the same move with the new configuration. An engine that dies has its runs in flight
recorded as failed (they run again at their next slot) and is restarted after a
backoff that doubles while it keeps dying, from 1 s up to a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from monitor.config import Config
from monitor.models import SourceRunSummary
from monitor.runs.engine import KILL_AFTER_SECONDS, EngineExited, EngineProcess, record_lost_runs
from monitor.runs.protocol import AlertsQueued, RunFinished, SourceBusy

log = logging.getLogger("monitor.engine")

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
STABLE_SECONDS = 60.0  # an engine that lived this long resets the backoff


class EngineSupervisor:
    """Runs sources on the current engine; tells ``on_finished``, ``on_busy`` and ``on_alerts`` what happened."""

    def __init__(
        self,
        config: Config,
        db_path: str,
        *,
        on_finished: Callable[[SourceRunSummary], None],
        on_busy: Callable[[str, int | None], None],
        on_alerts: Callable[[], None],
        log_level: str = "WARNING",
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.db_path = db_path
        self.on_finished = on_finished
        self.on_busy = on_busy
        self.on_alerts = on_alerts
        self.log_level = log_level
        self.clock = clock
        self.current: EngineProcess | None = None
        self.retiring: list[EngineProcess] = []
        self.waiting: dict[str, float | None] = {}  # runs asked for while no engine was up: source -> deadline
        self.backoff = FIRST_BACKOFF_SECONDS
        self.restarts = 0
        self.recycled = 0
        self.stopping = False
        self._restart_timer: threading.Timer | None = None
        self._lock = threading.RLock()

    def start(self) -> None:
        with self._lock:
            self.current = self._new_engine()

    def running(self) -> set[str]:
        """The sources whose runs are in flight (or waiting for an engine)."""
        with self._lock:
            engines = [e for e in (self.current, *self.retiring) if e is not None]
            return set(self.waiting).union(*(engine.running() for engine in engines))

    def submit(self, source: str, deadline: float | None) -> bool:
        """Run ``source`` now; False if it is running already (or the monitor is stopping)."""
        with self._lock:
            if self.stopping or source in self.running():
                return False
            if self.current is None:
                self.waiting[source] = deadline  # the engine is being restarted: it gets these first
                return True
            return self.current.start_run(source, deadline)

    def reload(self, config: Config) -> None:
        """New runs go to an engine with ``config``; the runs in flight finish on the old one."""
        with self._lock:
            self.config = config
            self._replace("a new configuration")

    def _replace(self, why: str) -> None:
        old = self.current
        if self.stopping or old is None:
            return
        log.info("engine %s: replaced (%s); it finishes its %d run(s) in flight", old.pid, why, len(old.running()))
        self.current = self._new_engine()
        self.retiring.append(old)
        old.drain(None, f"the engine was replaced ({why})")

    def _new_engine(self) -> EngineProcess:
        engine = EngineProcess(self.config, self.db_path, self._on_event, log_level=self.log_level)
        engine.started = self.clock()
        log.info("engine %s: started", engine.pid)
        return engine

    def _on_event(self, engine: EngineProcess, message: object) -> None:
        if isinstance(message, RunFinished):
            self.on_finished(message.summary)
            self._maybe_recycle(engine)
        elif isinstance(message, SourceBusy):
            self.on_busy(message.source, message.pid)
        elif isinstance(message, AlertsQueued):
            self.on_alerts()
        elif isinstance(message, EngineExited):
            self._exited(engine, message)

    def _maybe_recycle(self, engine: EngineProcess) -> None:
        crawl = self.config.crawl
        with self._lock:
            if engine is not self.current:
                return
            if engine.runs_finished >= crawl.engine_max_runs:
                self.recycled += 1
                self._replace(f"{engine.runs_finished} runs, crawl.engine_max_runs")
            elif crawl.engine_max_memory_bytes and engine.rss_bytes > crawl.engine_max_memory_bytes:
                self.recycled += 1
                self._replace(f"{engine.rss_bytes // 2**20} MiB, over crawl.engine_max_memory")

    def _exited(self, engine: EngineProcess, exited: EngineExited) -> None:
        if exited.lost:
            reason = f"the crawl engine (pid {engine.pid}) exited with status {exited.returncode} during the run"
            log.error("%s: runs of %s recorded as failed", reason, ", ".join(exited.lost))
            for summary in record_lost_runs(self.config, self.db_path, exited.lost, reason):
                self.on_finished(summary)
        with self._lock:
            if engine in self.retiring:
                self.retiring.remove(engine)
                return
            if engine is not self.current or self.stopping:
                return
            self.current = None
            lived = self.clock() - engine.started
            if lived >= STABLE_SECONDS:
                self.backoff = FIRST_BACKOFF_SECONDS
            delay = self.backoff
            self.backoff = min(MAX_BACKOFF_SECONDS, self.backoff * 2)
            log.error("engine %s died (status %s): restarting in %.0f s", engine.pid, exited.returncode, delay)
            self._restart_timer = threading.Timer(delay, self._restart)
            self._restart_timer.daemon = True
            self._restart_timer.start()

    def _restart(self) -> None:
        with self._lock:
            if self.stopping or self.current is not None:
                return
            self.restarts += 1
            self.current = self._new_engine()
            waiting, self.waiting = self.waiting, {}
            for source, deadline in waiting.items():
                self.current.start_run(source, deadline)

    def stop(self, grace: float, abort: threading.Event | None = None) -> None:
        """Start no more runs; give those in flight ``grace`` seconds, then stop them (recorded); wait for the engines.

        Setting ``abort`` meanwhile stops the runs at once.
        """
        with self._lock:
            self.stopping = True
            if self._restart_timer is not None:
                self._restart_timer.cancel()
            self.waiting.clear()
            engines = [e for e in (self.current, *self.retiring) if e is not None]
        for engine in engines:
            engine.drain(grace, "the monitor is stopping")
        deadline = time.monotonic() + grace + KILL_AFTER_SECONDS
        for engine in engines:
            while not engine.wait(0.2):
                if abort is not None and abort.is_set():
                    engine.drain(0.0, "the monitor is stopping now")
                    abort = None
                    deadline = min(deadline, time.monotonic() + KILL_AFTER_SECONDS)
                if time.monotonic() > deadline:
                    log.error("engine %s did not stop in time: killed", engine.pid)
                    engine.kill()
                    engine.wait(KILL_AFTER_SECONDS)
                    break
