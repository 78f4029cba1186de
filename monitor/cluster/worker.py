"""``monitor worker --cluster URL``: crawl, extract and score the source-runs a writer publishes.

A worker reads tasks from two streams in the consumer group ``workers`` and runs them
on its own crawl engine (``python -m spiders.engine --cluster``): source-runs from the
task stream, at most ``slots`` at a time, and article pages from the page stream, at
most ``page_slots`` at a time. A run reads its source's indexes and hands the pages it
chooses out on the page stream, so every worker fetches and analyses a big source's
pages, not only the one that read its feed. The engine sends what each run and page
finds to the result stream and acknowledges the task once all of it is there. The
worker heartbeats every few seconds (``monitor:workers``, shown by ``monitor status``),
and with each heartbeat keeps its tasks in flight its own (``XCLAIM`` resets their idle
time), so only the tasks of a worker that went silent are claimed by others
(``XAUTOCLAIM``), after ``claim_after`` seconds. A page claimed ``MAX_PAGE_DELIVERIES``
times (it killed each worker that took it) is recorded as an error and dropped for
this run; its feed is read in full at the next run, which tries it once more.

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
    ALIVE,
    CONFIG,
    PAGES,
    REREAD,
    RESULTS,
    TASKS,
    WORKER_GROUP,
    WORKERS,
    ClusterError,
    Outage,
    as_text,
    connect,
    ensure_group,
    redact,
    seal,
    settle,
    signing_key,
    unseal,
)
from monitor.cluster.messages import ErrorFound, PageDone, PageTask, RunTask
from monitor.config import Config
from monitor.ingest import RunClaim
from monitor.runs import EngineExited, EngineProcess, FetchPage, PageFinished, RunFinished, SourceBusy

log = logging.getLogger("monitor.cluster")

HEARTBEAT_SECONDS = 2.0
ALIVE_SECONDS = 3 * HEARTBEAT_SECONDS  # a worker silent this long has its hosts' concurrency slots freed
RESTART_SECONDS = 1.0
MAX_PAGE_DELIVERIES = 3  # a page taken this many times by workers that died on it is given up


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
        page_slots: int = 16,
        claim_after: float = 60.0,
        cache_dir: str | Path | None = None,
        log_level: str = "WARNING",
        stop: threading.Event | None = None,
    ):
        self.url = url
        self.name = name or default_name()
        self.slots = slots
        self.page_slots = page_slots
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
        self.pages_in_flight: dict[str, EngineProcess] = {}  # page task id -> the engine fetching it
        self.retiring: list[EngineProcess] = []
        self.finished: deque[tuple[float, int]] = deque()  # (when, pages) of runs in the last minute
        self._lock = threading.Lock()
        self.waiting_for_config = False

    def run(self) -> None:
        """Take and run tasks until ``stop`` is set; then let the runs in flight finish and leave."""
        try:
            self._join()
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
                with self._lock:
                    free = {TASKS: self.slots - len(self.in_flight), PAGES: self.page_slots - len(self.pages_in_flight)}
                streams = {stream: ">" for stream, count in free.items() if count > 0}
                if not streams:
                    self.stop.wait(0.1)
                    continue
                if now - last_claim >= self.claim_after / 4:
                    last_claim = now
                    try:
                        claimed = [(stream, self._claim(stream, free[stream])) for stream in streams]
                    except redis.ResponseError:
                        claimed = []  # NOGROUP: the read below joins again
                    if any(items for _, items in claimed):
                        for stream, items in claimed:
                            self._take(stream, items)
                        continue
                count = min(free[stream] for stream in streams)
                try:
                    replies = self._read(streams, count)
                except redis.ResponseError as error:  # NOGROUP: Redis restarted empty
                    log.warning("worker %s: %s; joining again", self.name, error)
                    self._join()
                    continue
                for name, items in replies:
                    self._take(as_text(name), items)
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

    def _join(self) -> None:
        """Join the workers' group on both streams (creating them, after a Redis that restarted empty)."""
        for stream in (TASKS, PAGES):
            self.outage.call(lambda stream=stream: ensure_group(self.client, stream, WORKER_GROUP))  # type: ignore[misc]

    def _read(self, streams: dict[str, str], count: int) -> list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]:
        """New tasks of ``streams``, up to ``count`` of each; waits half a second for some."""
        replies = self.outage.call(
            lambda: self.client.xreadgroup(WORKER_GROUP, self.name, streams, count=count, block=500)
        )
        return list(replies or [])

    def _claim(self, stream: str, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Tasks of ``stream`` a silent worker left pending for longer than ``claim_after``."""
        reply = self.outage.call(
            lambda: self.client.xautoclaim(
                stream, WORKER_GROUP, self.name, int(self.claim_after * 1000), "0-0", count=count
            )
        )
        claimed = [item for item in reply[1] if item[1]]
        if claimed:
            what = "page(s)" if stream == PAGES else "run(s)"
            log.warning("worker %s: claimed %d %s a silent worker left", self.name, len(claimed), what)
        return claimed

    def _take(self, stream: str, items: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for raw_id, fields in items:
            ticket = raw_id.decode()
            if ticket in self.in_flight or ticket in self.pages_in_flight:
                continue
            try:
                task = unseal(fields[b"m"], self.key)
            except (ClusterError, KeyError) as error:
                log.error("worker %s: task %s ignored: %s", self.name, ticket, error)
                self.outage.call(lambda ticket=ticket: self._drop(stream, ticket))  # type: ignore[misc]
                continue
            if not isinstance(task, RunTask | PageTask):
                continue
            if task.config_hash != self.config_hash or self.engine is None:
                self._reload(task.config_hash)
            assert self.engine is not None
            if isinstance(task, PageTask):
                self._fetch(task, ticket)
                continue
            claim = RunClaim(task.run_id, task.read_before, ticket, task.config_hash)
            with self._lock:
                self.in_flight[ticket] = task.source
            if not self.engine.start_run(task.source, task.deadline, claim):
                # this engine runs the source already (a task claimed twice): the other copy stays pending
                with self._lock:
                    self.in_flight.pop(ticket, None)

    def _fetch(self, task: PageTask, ticket: str) -> None:
        """Hand a page to the engine, unless workers died on it too often (then record it and drop it)."""
        delivered = self.outage.call(lambda: self.client.xpending_range(PAGES, WORKER_GROUP, ticket, ticket, 1))
        if delivered and int(delivered[0]["times_delivered"]) > MAX_PAGE_DELIVERIES:
            self.outage.call(lambda: self._give_up_page(task, ticket, int(delivered[0]["times_delivered"]) - 1))
            return
        assert self.engine is not None
        claim = RunClaim(task.run_id, False, ticket, task.config_hash, task.page.url)
        message = FetchPage(task.source, claim, task.deadline_at, task.page)
        with self._lock:
            self.pages_in_flight[ticket] = self.engine
        if not self.engine.fetch_page(message):
            with self._lock:
                self.pages_in_flight.pop(ticket, None)

    def _give_up_page(self, task: PageTask, ticket: str, deaths: int) -> None:
        error = ErrorFound(
            task.run_id,
            task.source,
            task.page.url,
            "extract",
            f"given up after {deaths} workers taking this page went silent (died, or were killed) before it was done",
        )
        done = PageDone(task.run_id, task.source, task.page.url, 0, 1, ticket, self.name)
        log.error("worker %s: %s: %s", self.name, task.page.url, error.message)
        # Given up for this run, not for good: the workers may have died of something else (as one machine
        # does with a page that kills its extraction worker, its feed is read in full at the next run).
        self._drop(PAGES, ticket, error, done, reread=task.page.index_url)

    def _drop(self, stream: str, ticket: str, *results: object, reread: str | None = None) -> None:
        """Be done with a task: ``results`` to the writer, ``reread`` marked, the task acknowledged: one MULTI."""
        with self.client.pipeline(transaction=True) as pipe:
            for result in results:
                pipe.xadd(RESULTS, {"m": seal(result, self.key)})
            if reread:
                pipe.sadd(REREAD, reread)
            settle(pipe, stream, WORKER_GROUP, ticket)
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
        if isinstance(message, PageFinished):
            with self._lock:
                self.pages_in_flight.pop(message.ticket, None)
                self.finished.append((time.monotonic(), message.pages))
        elif isinstance(message, RunFinished | SourceBusy):
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
                for ticket in [t for t, e in self.pages_in_flight.items() if e is engine]:
                    del self.pages_in_flight[ticket]
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
            page_tickets = list(self.pages_in_flight)
        beat = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "heartbeat": time.time(),
            "pages_per_minute": pages,
            "config_hash": self.config_hash,
            "runs": len(tickets),
            "pages": len(page_tickets),
        }
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(WORKERS, self.name, json.dumps(beat))
            pipe.set(ALIVE + self.name, 1, px=int(ALIVE_SECONDS * 1000))
            if tickets:  # still ours: reset their idle time so no one claims them
                pipe.xclaim(TASKS, WORKER_GROUP, self.name, 0, tickets, justid=True)
            if page_tickets:
                pipe.xclaim(PAGES, WORKER_GROUP, self.name, 0, page_tickets, justid=True)
            pipe.execute()

    def _leave(self) -> None:
        engines = [e for e in (self.engine, *self.retiring) if e is not None]
        for engine in engines:
            engine.drain(None, "the worker is stopping")
        for engine in engines:
            engine.wait(None)
        with contextlib.suppress(redis.RedisError):
            self.client.hdel(WORKERS, self.name)
            self.client.delete(ALIVE + self.name)
        log.warning("worker %s: left the cluster", self.name)
