"""``monitor worker --cluster URL``: crawl, extract and score the source-runs a writer publishes.

A worker reads tasks from the task stream in the consumer group ``workers`` and runs
them on its own crawl engine (``python -m spiders.engine --cluster``), at most
``slots`` at a time. The engine sends what each run finds to the result stream and
acknowledges the task once all of it is there. The worker heartbeats every few
seconds (``monitor:workers``, shown by ``monitor status``), and with each heartbeat
keeps its tasks in flight its own (``XCLAIM`` resets their idle time), so only the
tasks of a worker that went silent are claimed by others (``XAUTOCLAIM``), after
``claim_after`` seconds.

A task made under another configuration than the engine's makes the worker fetch the
writer's configuration and start a new engine with it; the old one finishes its runs
(each page it is analysing included) and exits. Rules compile once per engine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from pathlib import Path

import redis

from monitor.cluster.bus import (
    CONFIG,
    TASKS,
    WORKER_GROUP,
    WORKERS,
    ClusterError,
    Outage,
    connect,
    ensure_group,
    redact,
    signing_key,
    unseal,
)
from monitor.cluster.messages import RunTask
from monitor.config import Config
from monitor.ingest import RunClaim
from monitor.runs import EngineExited, EngineProcess, RunFinished, SourceBusy

log = logging.getLogger("monitor.cluster")

HEARTBEAT_SECONDS = 2.0
RESTART_SECONDS = 1.0


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """One worker: its engine, its tasks in flight, its heartbeat."""

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        slots: int = 8,
        claim_after: float = 60.0,
        cache_dir: str | Path | None = None,
        log_level: str = "WARNING",
        stop: threading.Event | None = None,
    ):
        self.url = url
        self.name = name or default_name()
        self.slots = slots
        self.claim_after = claim_after
        self.cache_dir = str(cache_dir or Path.home() / ".cache" / "monitor" / "http")
        self.log_level = log_level
        self.stop = stop or threading.Event()
        self.key = signing_key()
        self.client = connect(url)
        self.outage = Outage(f"worker {self.name}", self.stop)
        self.engine: EngineProcess | None = None
        self.config_hash = ""
        self.in_flight: dict[str, str] = {}  # task id -> source, on the current engine or a retiring one
        self.retiring: list[EngineProcess] = []
        self.finished: deque[tuple[float, int]] = deque()  # (when, pages) of runs in the last minute
        self._lock = threading.Lock()
        self.waiting_for_config = False

    def run(self) -> None:
        """Take and run tasks until ``stop`` is set; then let the runs in flight finish and leave."""
        try:
            self.outage.call(lambda: ensure_group(self.client, TASKS, WORKER_GROUP))
            self.outage.call(self._heartbeat)
            log.warning("worker %s: joined the cluster at %s", self.name, redact(self.url))
            last_beat, last_claim = time.monotonic(), 0.0
            while not self.stop.is_set():
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_SECONDS:
                    self.outage.call(self._heartbeat)
                    last_beat = now
                self._restart_if_dead()
                if self.engine is None and not self._start_engine():
                    continue
                free = self.slots - len(self.in_flight)
                if free <= 0:
                    self.stop.wait(0.1)
                    continue
                if now - last_claim >= self.claim_after / 4:
                    last_claim = now
                    try:
                        claimed = self.outage.call(lambda free=free: self._claim(free))  # type: ignore[misc]
                    except redis.ResponseError:
                        claimed = []  # NOGROUP: the read below joins again
                    if claimed:
                        self._take(claimed)
                        continue
                try:
                    tasks = self.outage.call(
                        lambda free=free: self.client.xreadgroup(  # type: ignore[misc]
                            WORKER_GROUP, self.name, {TASKS: ">"}, count=free, block=500
                        )
                    )
                except redis.ResponseError as error:  # NOGROUP: Redis restarted empty
                    log.warning("worker %s: %s; joining again", self.name, error)
                    self.outage.call(lambda: ensure_group(self.client, TASKS, WORKER_GROUP))
                    continue
                self._take([item for _, items in tasks or [] for item in items])
        except ClusterError as error:
            log.warning("worker %s: %s", self.name, error)
        finally:
            self._leave()

    def _start_engine(self) -> bool:
        """An engine with the writer's configuration; False (after a wait) while there is none to run."""
        try:
            self._reload("")
        except ClusterError as error:
            if self.stop.is_set():
                raise
            if not self.waiting_for_config:  # once, not every second
                log.warning("worker %s: %s; waiting", self.name, error)
            self.waiting_for_config = True
            self.stop.wait(1.0)
            return False
        self.waiting_for_config = False
        return True

    def _claim(self, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Tasks a silent worker left pending for longer than ``claim_after``."""
        reply = self.client.xautoclaim(TASKS, WORKER_GROUP, self.name, int(self.claim_after * 1000), "0-0", count=count)
        claimed = [item for item in reply[1] if item[1]]
        if claimed:
            log.warning("worker %s: claimed %d task(s) a silent worker left", self.name, len(claimed))
        return claimed

    def _take(self, items: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for raw_id, fields in items:
            ticket = raw_id.decode()
            if ticket in self.in_flight:
                continue
            try:
                task = unseal(fields[b"m"], self.key)
            except (ClusterError, KeyError) as error:
                log.error("worker %s: task %s ignored: %s", self.name, ticket, error)
                self.outage.call(lambda ticket=ticket: self._drop(ticket))  # type: ignore[misc]
                continue
            if not isinstance(task, RunTask):
                continue
            if task.config_hash != self.config_hash or self.engine is None:
                self._reload(task.config_hash)
            assert self.engine is not None
            claim = RunClaim(task.run_id, task.read_before, ticket)
            with self._lock:
                self.in_flight[ticket] = task.source
            if not self.engine.start_run(task.source, task.deadline, claim):
                # this engine runs the source already (a task claimed twice): the other copy stays pending
                with self._lock:
                    self.in_flight.pop(ticket, None)

    def _drop(self, ticket: str) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(TASKS, WORKER_GROUP, ticket)
            pipe.xdel(TASKS, ticket)
            pipe.execute()

    def _reload(self, wanted: str) -> None:
        """Run the writer's configuration: a new engine takes new runs, the old one finishes its own."""
        fields = self.outage.call(lambda: self.client.hgetall(CONFIG))
        if not fields:
            raise ClusterError("the writer has published no configuration yet")
        config = unseal(fields[b"blob"], self.key)
        if not isinstance(config, Config):
            raise ClusterError("the configuration in Redis is not one")
        digest = fields[b"hash"].decode()
        if self.engine is not None:
            log.warning("worker %s: configuration %s replaces %s", self.name, digest, self.config_hash)
            self.engine.drain(None, "the configuration changed")
            self.retiring.append(self.engine)
        self.config_hash = digest
        self.engine = self._new_engine(config)
        if wanted and digest != wanted:
            log.info("worker %s: a task of configuration %s runs on %s, the writer's now", self.name, wanted, digest)

    def _new_engine(self, config: Config) -> EngineProcess:
        return EngineProcess(
            config,
            None,
            self._on_event,
            log_level=self.log_level,
            cluster=self.url,
            cache_dir=self.cache_dir,
            env={"MONITOR_WORKER_NAME": self.name},
        )

    def _on_event(self, engine: EngineProcess, message: object) -> None:
        if isinstance(message, RunFinished | SourceBusy):
            source = message.summary.source if isinstance(message, RunFinished) else message.source
            with self._lock:
                for ticket, name in list(self.in_flight.items()):
                    if name == source:
                        del self.in_flight[ticket]
                if isinstance(message, RunFinished):
                    self.finished.append((time.monotonic(), message.summary.pages))
        elif isinstance(message, EngineExited):
            with self._lock:
                lost = [t for t, s in self.in_flight.items() if s in message.lost]
                for ticket in lost:  # left pending in Redis: claimed after claim_after, here or elsewhere
                    del self.in_flight[ticket]
            if engine in self.retiring:
                self.retiring.remove(engine)
            elif message.returncode not in (0, None) or lost:
                log.error("worker %s: engine %s exited (status %s)", self.name, engine.pid, message.returncode)

    def _restart_if_dead(self) -> None:
        engine = self.engine
        if engine is not None and engine.process.poll() is not None and engine.wait(0):
            self.engine = None
            self.config_hash = ""  # the next task starts an engine with the writer's configuration
            self.stop.wait(RESTART_SECONDS)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self.finished and now - self.finished[0][0] > 60:
                self.finished.popleft()
            pages = sum(count for _, count in self.finished)
            tickets = list(self.in_flight)
        beat = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "heartbeat": time.time(),
            "pages_per_minute": pages,
            "config_hash": self.config_hash,
            "runs": len(tickets),
        }
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(WORKERS, self.name, json.dumps(beat))
            if tickets:  # still ours: reset their idle time so no one claims them
                pipe.xclaim(TASKS, WORKER_GROUP, self.name, 0, tickets, justid=True)
            pipe.execute()

    def _leave(self) -> None:
        engines = [e for e in (self.engine, *self.retiring) if e is not None]
        for engine in engines:
            engine.drain(None, "the worker is stopping")
        for engine in engines:
            engine.wait(None)
        with contextlib.suppress(redis.RedisError):
            self.client.hdel(WORKERS, self.name)
        log.warning("worker %s: left the cluster", self.name)
