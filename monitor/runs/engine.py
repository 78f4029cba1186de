"""The crawl engine seen from the monitor: a child process to start, send runs to, and hear back from.

The core never imports Scrapy: it runs ``python -m spiders.engine`` and talks to it
with ``monitor.runs.protocol``. A Twisted reactor cannot be restarted, and a crash or a
leak in a crawl must not take the monitor down, so the engine is a process of its own;
but one engine crawls many source-runs, so a run costs a request, not a process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.config import Config
from monitor.errors import MonitorError
from monitor.ingest import RunClaim
from monitor.models import SourceRunSummary
from monitor.processes import SourceLeases
from monitor.runs.protocol import (
    Drain,
    EngineState,
    FetchPage,
    PageFinished,
    RunFinished,
    SourceBusy,
    StartRun,
    receive,
    send,
)
from monitor.runs.source_health import check_sources
from monitor.store import Store
from monitor.store.runs import fail_open_runs
from monitor.timestamps import utcnow

log = logging.getLogger("monitor.engine")

# How long an engine asked to stop now may take to close its runs before it is killed.
KILL_AFTER_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class EngineExited:
    """The engine process is gone; ``lost`` are the sources whose runs were in flight, ``lost_pages`` the pages'."""

    returncode: int | None
    lost: tuple[str, ...]
    lost_pages: tuple[str, ...] = ()


class EngineProcess:
    """One engine child: its runs in flight, and a thread that hands each of its events to ``on_event``.

    ``on_event(engine, message)`` is called on that thread, in order, ending with one
    ``EngineExited``.
    """

    def __init__(
        self,
        config: Config,
        db_path: str | None,
        on_event: Callable[[EngineProcess, object], None],
        *,
        log_level: str = "WARNING",
        cluster: str | None = None,
        cache_dir: str | None = None,
        env: dict[str, str] | None = None,
    ):
        self.config = config
        self.db_path = db_path
        self.on_event = on_event
        self.in_flight: set[str] = set()  # the sources whose runs were asked for and have not ended
        self.pages_in_flight: set[str] = set()  # the tickets of the pages asked for (a cluster worker's)
        self.runs_finished = 0
        self.rss_bytes = 0
        self.started = time.monotonic()
        self.draining = False
        self._lock = threading.Lock()
        read_fd, write_fd = os.pipe()
        try:
            command = [sys.executable, "-m", "spiders.engine", "--events-fd", str(write_fd), "--log-level", log_level]
            if cluster is not None:  # a cluster worker's engine: no store, results to the writer through Redis
                command += ["--cluster", cluster, *(["--cache-dir", cache_dir] if cache_dir else [])]
            else:
                assert db_path is not None
                command += ["--db", db_path]
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, pass_fds=(write_fd,), env={**os.environ, **(env or {})}
            )
        finally:
            os.close(write_fd)
        self._events = os.fdopen(read_fd, "rb")
        assert self.process.stdin is not None
        self._commands = self.process.stdin
        self._send(config)  # the configuration this engine runs for its whole life
        self._reader = threading.Thread(target=self._read, name=f"engine-{self.process.pid}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> set[str]:
        with self._lock:
            return set(self.in_flight)

    def start_run(self, source: str, deadline: float | None, claim: RunClaim | None = None) -> bool:
        """Ask for a run of ``source`` (the one ``claim`` names); False if draining, gone, or running it already."""
        with self._lock:
            if self.draining or source in self.in_flight:
                return False
            self.in_flight.add(source)
        if self._send(StartRun(source, deadline, claim)):
            return True
        with self._lock:
            self.in_flight.discard(source)
        return False

    def fetch_page(self, message: FetchPage) -> bool:
        """Ask for one handed-out page; False if draining or gone."""
        with self._lock:
            if self.draining:
                return False
            self.pages_in_flight.add(message.claim.ticket)
        if self._send(message):
            return True
        with self._lock:
            self.pages_in_flight.discard(message.claim.ticket)
        return False

    def drain(self, grace: float | None, reason: str = "the monitor is stopping") -> None:
        """Start no more runs; end those in flight within ``grace`` seconds (None: their deadlines); then exit."""
        with self._lock:
            self.draining = True
        self._send(Drain(grace, reason))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the engine to exit and its last event to be handled; False on timeout."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def _send(self, message: object) -> bool:
        try:
            send(self._commands, message)
        except (BrokenPipeError, OSError, ValueError):
            return False  # the engine is gone: its reader reports it
        return True

    def _read(self) -> None:
        while (message := receive(self._events)) is not None:
            with self._lock:
                if isinstance(message, RunFinished):
                    self.in_flight.discard(message.summary.source)
                    self.runs_finished += 1
                elif isinstance(message, PageFinished):
                    self.pages_in_flight.discard(message.ticket)
                elif isinstance(message, SourceBusy):
                    self.in_flight.discard(message.source)
                elif isinstance(message, EngineState):
                    self.rss_bytes = message.rss_bytes
            self._deliver(message)
        self._events.close()
        returncode = self.process.wait()
        with self._lock:
            lost, lost_pages = tuple(sorted(self.in_flight)), tuple(sorted(self.pages_in_flight))
            self.in_flight.clear()
            self.pages_in_flight.clear()
            self.draining = True
        with contextlib.suppress(OSError):
            self._commands.close()
        self._deliver(EngineExited(returncode, lost, lost_pages))

    def _deliver(self, message: object) -> None:
        try:
            self.on_event(self, message)
        except Exception:  # the reader must outlive a bad handler, or the engine's exit goes unseen
            log.exception("engine %s: handling %r failed", self.pid, message)


def record_lost_runs(config: Config, db_path: str, sources: Sequence[str], reason: str) -> list[SourceRunSummary]:
    """Close as failed the runs a dead engine left open, and judge their sources; a summary of each.

    Only sources whose leases are free are closed (the engine held them: they are free
    once it is gone); one another process took meanwhile is that process's to close.
    """
    summaries = [SourceRunSummary(source=name, status="failed", errors=1, message=reason) for name in sources]
    if not sources:
        return summaries
    try:
        with SourceLeases(db_path, sources) as leases, Store.open(db_path) as store:
            fail_open_runs(store, leases.held, reason)
            check_sources(store, config, utcnow(), leases.held)
    except MonitorError as error:
        log.error("could not record the runs of %s as failed: %s", ", ".join(sources), error)
    return summaries
