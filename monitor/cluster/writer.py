"""``monitor serve --cluster``: the scheduler publishes source-runs to Redis; one writer saves what workers find.

``ClusterEngine`` is the service's crawl engine when crawling happens elsewhere. It
opens each run's record and adds a ``RunTask`` to the task stream; workers (``monitor
worker``) crawl and analyse; what they find comes back on the result stream, which
this process reads in a consumer group and applies to the store, the only writer of
it and the only sender of alerts. A batch of entries is applied in one transaction
that also moves the store's cursor past them, and acknowledged in Redis only after the
commit: a writer killed mid-batch reads the batch again and skips what the cursor
says it applied, so every entry takes effect once.

It also publishes the configuration workers run (destinations left out: workers send
nothing), keeps the workers' "seen before" view of the store (``monitor:seen``), fails
runs no worker finished long after their deadline, and tells the operator once, through
the alert path, about a worker that stopped heartbeating.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from monitor.alerts import build_source_notice, message_id
from monitor.cluster.bus import (
    CONFIG,
    RESULTS,
    SEEN,
    SEEN_READY,
    TASKS,
    WORKER_GROUP,
    WORKERS,
    WRITER_GROUP,
    WRITER_NAME,
    ClusterError,
    Outage,
    as_text,
    connect,
    ensure_group,
    seal,
    settle,
    signing_key,
    unseal,
)
from monitor.cluster.messages import ArticleFound, ErrorFound, PageDone, PagesHandedOut, RunDone, RunTask
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.ingest import save_article
from monitor.models import SourceRunSummary
from monitor.runs import check_sources
from monitor.store import Store, finish_run, record_error, start_run
from monitor.store.cluster import (
    add_run_counts,
    applied_cursor,
    completed_status,
    expect_pages,
    forget_cluster_run,
    mark_crawl_done,
    mark_page_done,
    move_cursor,
    new_articles_median_age,
    run_counts,
    run_is_open,
    seen_urls,
)
from monitor.store.destinations import paused_destinations
from monitor.store.outbox import queue_notice
from monitor.store.runs import has_finished_run
from monitor.timestamps import iso, utcnow

log = logging.getLogger("monitor.cluster")

BATCH = 200  # result entries applied in one transaction
BATCH_WAIT_SECONDS = 0.05  # after a short read, how long to let more results arrive: one commit for several
SEEN_CHECK_SECONDS = 10.0  # how often to check that Redis still holds the workers' "seen before"
CLAIM_AFTER_SECONDS = 60.0  # a task pending this long with a silent worker is claimed by another
WORKER_TIMEOUT_SECONDS = 30.0  # a worker whose heartbeat is this old is reported
LOST_RUN_SLACK_SECONDS = 120.0  # past its deadline and a claim, a run nobody finished is failed
DEFAULT_DEADLINE_SECONDS = 3600.0


def worker_config(config: Config) -> Config:
    """The configuration workers run: no destinations (their URLs are secrets, and workers send nothing)."""
    return dataclasses.replace(config, alerts=dataclasses.replace(config.alerts, destinations=()))


def config_hash(config: Config) -> str:
    """A short hash of what workers run, so a worker can tell its configuration is stale."""
    return hashlib.sha256(pickle.dumps(worker_config(config), protocol=4)).hexdigest()[:16]


def publish_config(client: redis.Redis, config: Config, key: bytes) -> str:
    """Store the workers' configuration and its hash in Redis; the hash."""
    digest = config_hash(config)
    client.hset(CONFIG, mapping={"hash": digest, "blob": seal(worker_config(config), key)})
    return digest


def stream_id(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("ms-seq") as a comparable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Applied:
    """What one applied batch did, for what follows its commit."""

    ids: list[str] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    done: list[tuple[str, SourceRunSummary]] = field(default_factory=list)  # (source, its run's summary)
    alerts: int = 0


def apply_results(store: Store, config: Config, key: bytes, entries: list[tuple[str, bytes]]) -> Applied:
    """Apply result entries (id, sealed message) in one transaction with the cursor; skip those applied before."""
    applied = Applied(ids=[entry_id for entry_id, _ in entries])
    cursor = applied_cursor(store, RESULTS)
    last = stream_id(cursor) if cursor else (-1, -1)
    fresh = [(entry_id, blob) for entry_id, blob in entries if stream_id(entry_id) > last]
    if not fresh:
        return applied
    moment = iso(utcnow()) or ""
    with store.write() as conn:
        for entry_id, blob in fresh:
            try:
                record = unseal(blob, key)
            except ClusterError as error:  # never readable: skipped, not retried forever
                log.error("cluster: result %s skipped: %s", entry_id, error)
                continue
            if isinstance(record, ArticleFound):
                _save(store, conn, config, record, applied, moment)
            elif isinstance(record, ErrorFound):
                record_error(store, record.run_id, record.source, record.url, record.kind, record.message)
            elif isinstance(record, PagesHandedOut):
                if run_is_open(conn, record.run_id):
                    expect_pages(conn, record.run_id, record.urls)
            elif isinstance(record, RunDone | PageDone):
                _done(store, conn, record, applied)
            else:
                log.error("an entry of the result stream is not a result: %r ignored", type(record).__name__)
        move_cursor(conn, RESULTS, fresh[-1][0])
    return applied


def _save(
    store: Store, conn: sqlite3.Connection, config: Config, found: ArticleFound, applied: Applied, moment: str
) -> None:
    article = found.analysis.article
    try:
        outcome = save_article(
            store,
            article,
            found.analysis.verdict,
            config.alerts.destinations,
            fingerprint=found.analysis.fingerprint,
        )
    except MonitorError as error:
        record_error(store, found.run_id, found.source, article.url, "store", str(error))
        return
    deltas = {f"{outcome.status}_articles": 1, "matches": outcome.matches, "alerts_queued": outcome.alerts_queued}
    add_run_counts(conn, found.run_id, deltas)
    applied.alerts += outcome.alerts_queued
    applied.seen[article.url] = moment
    applied.seen[article.canonical_url] = moment


def _done(store: Store, conn: sqlite3.Connection, record: RunDone | PageDone, applied: Applied) -> None:
    """A run's own crawl or one of its pages is done: count it (once), and close the run when nothing is left."""
    if not run_is_open(conn, record.run_id):  # given up, or done already: a late copy changes nothing
        return
    if isinstance(record, PageDone):
        first = mark_page_done(conn, record.run_id, record.url)
    else:
        first = mark_crawl_done(conn, record.run_id, record.status)
    if not first:
        return
    add_run_counts(conn, record.run_id, {"pages": record.pages, "errors": record.errors})
    status = completed_status(conn, record.run_id)
    if status is None:
        return
    counts: dict[str, int | None] = {**run_counts(store, record.run_id)}
    counts["median_age_seconds"] = new_articles_median_age(conn, record.run_id)
    finish_run(store, record.run_id, counts, status)
    forget_cluster_run(conn, record.run_id)
    applied.done.append((record.source, _summary(record.source, record.run_id, status, counts)))


def _summary(source: str, run_id: int, status: str, counts: dict[str, int | None]) -> SourceRunSummary:
    return SourceRunSummary(
        source=source,
        run_id=run_id,
        status=status,
        pages=int(counts.get("pages") or 0),
        new_articles=int(counts.get("new_articles") or 0),
        updated_articles=int(counts.get("updated_articles") or 0),
        matches=int(counts.get("matches") or 0),
        alerts_queued=int(counts.get("alerts_queued") or 0),
        errors=int(counts.get("errors") or 0),
        median_age_seconds=counts.get("median_age_seconds"),
    )


class ClusterEngine:
    """The service's crawl engine when workers crawl: runs go out as tasks, results come back to this writer."""

    def __init__(
        self,
        config: Config,
        db_path: str,
        url: str,
        *,
        on_finished: Callable[[SourceRunSummary], None],
        on_alerts: Callable[[], None],
        claim_after: float = CLAIM_AFTER_SECONDS,
        worker_timeout: float = WORKER_TIMEOUT_SECONDS,
    ):
        self.config = config
        self.db_path = db_path
        self.url = url
        self.on_finished = on_finished
        self.on_alerts = on_alerts
        self.claim_after = claim_after
        self.worker_timeout = worker_timeout
        self.key = signing_key()
        self.client = connect(url)
        self.stopping = threading.Event()
        self.closing = False  # publishing no more runs
        self.in_flight: dict[str, tuple[int, float]] = {}  # source -> (run id, when to give it up)
        self.unpublished: list[RunTask] = []  # runs due while Redis was unreachable
        self.publishing = Outage("writer (publishing runs)", self.stopping)
        self.hash = ""
        self._lock = threading.RLock()
        self._store = Store.open(db_path)  # the scheduler's threads' connection (runs opened, lost runs failed)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        outage = Outage("writer", self.stopping)
        self.hash = outage.call(lambda: publish_config(self.client, self.config, self.key))
        outage.call(lambda: ensure_group(self.client, TASKS, WORKER_GROUP))
        outage.call(lambda: ensure_group(self.client, RESULTS, WRITER_GROUP))
        for target, name in ((self._consume, "writer"), (self._watch, "cluster-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def running(self) -> set[str]:
        with self._lock:
            return set(self.in_flight)

    def submit(self, source: str, deadline: float | None) -> bool:
        """Open a run of ``source`` and publish it as a task; False if one is in flight (or the writer is stopping)."""
        with self._lock:
            if self.closing or self.stopping.is_set() or source in self.in_flight:
                return False
            run_id = start_run(self._store, source)
            task = RunTask(source, run_id, deadline, has_finished_run(self._store, source), self.hash)
            give_up = time.monotonic() + (deadline or DEFAULT_DEADLINE_SECONDS) + self.claim_after
            self.in_flight[source] = (run_id, give_up + LOST_RUN_SLACK_SECONDS)
        try:
            self.client.xadd(TASKS, {"m": seal(task, self.key)})
        except (redis.ConnectionError, redis.TimeoutError) as error:
            self.publishing.failed(error)
            with self._lock:
                self.unpublished.append(task)  # published when Redis is back (the watch thread)
        return True

    def _publish_waiting(self) -> None:
        """Publish the runs that came due while Redis was unreachable, in order."""
        with self._lock:
            waiting, self.unpublished = self.unpublished, []
        for number, task in enumerate(waiting):
            try:
                self.client.xadd(TASKS, {"m": seal(task, self.key)})
            except (redis.ConnectionError, redis.TimeoutError) as error:
                self.publishing.failed(error)
                with self._lock:
                    self.unpublished[:0] = waiting[number:]
                return
        if waiting:
            log.warning("cluster: %d run(s) that came due while Redis was unreachable published", len(waiting))
        self.publishing.succeeded()

    def reload(self, config: Config) -> None:
        """Workers get ``config`` with their next task; runs in flight finish on the old one."""
        with self._lock:
            self.config = config
            self.hash = Outage("writer", self.stopping).call(lambda: publish_config(self.client, config, self.key))
        log.info("cluster: configuration %s published", self.hash)

    def stop(self, grace: float, abort: threading.Event | None = None) -> None:
        """Publish no more runs; apply results for up to ``grace`` seconds while runs are in flight; then stop.

        Runs still in flight stay open: their results wait in Redis for the next writer.
        """
        deadline = time.monotonic() + grace
        with self._lock:
            self.closing = True
        while self.running() and time.monotonic() < deadline and not (abort is not None and abort.is_set()):
            time.sleep(0.1)
        left = self.running()
        if left:
            log.warning("cluster: %d run(s) still on workers; the next writer applies their results", len(left))
        self.stopping.set()
        for thread in self._threads:
            thread.join(10)
        with self._lock:
            self._store.close()

    def _give_up(self, source: str, run_id: int, reason: str) -> None:
        log.error("cluster: run %d of %s failed: %s", run_id, source, reason)
        with self._lock:  # the scheduler's threads share this connection (submit)
            if self.in_flight.get(source, (None,))[0] == run_id:
                del self.in_flight[source]
            try:
                record_error(self._store, run_id, source, None, "cluster", reason)
                with self._store.write() as conn:
                    forget_cluster_run(conn, run_id)
                counts: dict[str, int | None] = {**run_counts(self._store, run_id)}
                counts["errors"] = int(counts.get("errors") or 0) + 1
                finish_run(self._store, run_id, counts, "failed")
                check_sources(self._store, self.config, utcnow(), [source])
            except MonitorError as error:
                log.error("cluster: could not record run %d of %s as failed: %s", run_id, source, error)
        self.on_finished(SourceRunSummary(source=source, run_id=run_id, status="failed", errors=1, message=reason))

    # The writer thread: read the result stream, apply, acknowledge.

    def _consume(self) -> None:
        outage = Outage("writer", self.stopping)
        with Store.open(self.db_path) as store:
            backlog = True  # first the entries this writer read before and did not acknowledge (a crash)
            seen_checked = 0.0
            while not self.stopping.is_set():
                try:
                    if outage.since is not None or time.monotonic() - seen_checked > SEEN_CHECK_SECONDS:
                        self._seed_seen(store, outage)
                        seen_checked = time.monotonic()
                    if backlog:
                        items = self._read(outage, "0", BATCH)
                    else:
                        items = self._read(outage, ">", BATCH, block_ms=500)
                        if 0 < len(items) < BATCH:
                            # Results trickle in as workers finish pages: let a few more come, commit them together.
                            self.stopping.wait(BATCH_WAIT_SECONDS)
                            items += self._read(outage, ">", BATCH - len(items))
                except ClusterError:
                    return
                except redis.ResponseError as error:  # NOGROUP: Redis restarted empty
                    log.warning("cluster: %s; creating the writer's group again", error)
                    outage.call(lambda: ensure_group(self.client, RESULTS, WRITER_GROUP))
                    continue
                entries = [(as_text(entry_id), fields[b"m"]) for entry_id, fields in items if fields]
                gone = [as_text(entry_id) for entry_id, fields in items if not fields]
                if gone:  # pending entries deleted from the stream: nothing left to apply
                    outage.call(lambda gone=gone: self.client.xack(RESULTS, WRITER_GROUP, *gone))  # type: ignore[misc]
                if backlog and not items:
                    backlog = False
                    continue
                if entries:
                    try:
                        self._apply(store, entries, outage)
                    except Exception:  # the writer thread must outlive a bad batch; it is read again
                        log.exception("cluster: applying a batch of results failed; retrying")
                        self.stopping.wait(1.0)

    def _read(self, outage: Outage, start: str, count: int, block_ms: int | None = None) -> list[Any]:
        """Up to ``count`` (id, fields) of the result stream from ``start`` ("0": ours unacknowledged, ">": new)."""
        replies = outage.call(
            lambda: self.client.xreadgroup(WRITER_GROUP, WRITER_NAME, {RESULTS: start}, count=count, block=block_ms)
        )
        return [item for _, batch in replies or [] for item in batch]

    def _apply(self, store: Store, entries: list[tuple[str, bytes]], outage: Outage) -> None:
        with self._lock:
            config = self.config
        try:
            applied = apply_results(store, config, self.key, entries)
        except MonitorError as error:  # nothing committed: the entries stay pending and are read again
            log.error("cluster: applying %d results failed: %s; retrying", len(entries), error)
            self.stopping.wait(1.0)
            return
        try:
            outage.call(lambda: self._acknowledge(applied))
        except ClusterError:
            return
        if applied.alerts:
            self.on_alerts()
        for source, summary in applied.done:
            with self._lock:
                ours = self.in_flight.get(source, (None,))[0] == summary.run_id
                if ours:
                    del self.in_flight[source]
            try:
                check_sources(store, config, utcnow(), [source])
            except MonitorError as error:
                log.error("cluster: could not judge source %s: %s", source, error)
            if ours:
                self.on_finished(summary)

    def _acknowledge(self, applied: Applied) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            settle(pipe, RESULTS, WRITER_GROUP, *applied.ids)
            if applied.seen:
                pipe.hset(SEEN, mapping=applied.seen)
            pipe.execute()

    def _seed_seen(self, store: Store, outage: Outage) -> None:
        """Give workers the store's "seen before" (once, and again after Redis lost it)."""
        if outage.call(lambda: self.client.exists(SEEN_READY)):
            return
        count = 0
        for batch in seen_urls(store):
            mapping: dict[str, str] = {}
            for url, fetched, moment in batch:
                mapping[url] = mapping[fetched] = moment
            outage.call(lambda mapping=mapping: self.client.hset(SEEN, mapping=mapping))  # type: ignore[misc]
            count += len(batch)
        outage.call(lambda: self.client.set(SEEN_READY, "1"))
        log.info("cluster: the workers' view of %d stored articles is in Redis", count)

    # The watch thread: runs nobody finished, workers that went silent.

    def _watch(self) -> None:
        with Store.open(self.db_path) as store:
            while not self.stopping.wait(1.0):
                self._publish_waiting()
                try:
                    if not self.client.exists(CONFIG):  # Redis restarted empty: workers need it again
                        with self._lock:
                            self.hash = publish_config(self.client, self.config, self.key)
                        ensure_group(self.client, TASKS, WORKER_GROUP)
                except redis.RedisError as error:
                    log.debug("cluster: configuration not checked: %s", error)
                now = time.monotonic()
                with self._lock:
                    lost = [(s, run_id) for s, (run_id, give_up) in self.in_flight.items() if give_up < now]
                for source, run_id in lost:
                    self._give_up(source, run_id, "no worker finished it before its deadline")
                try:
                    self._check_workers(store)
                except (redis.RedisError, MonitorError) as error:
                    log.debug("cluster: workers not checked: %s", error)

    def _check_workers(self, store: Store) -> None:
        now = time.time()
        for name, raw in self.client.hgetall(WORKERS).items():
            beat = json.loads(raw)
            if beat.get("reported") or now - float(beat.get("heartbeat", 0)) < self.worker_timeout:
                continue
            worker = as_text(name)
            since = iso(utcnow()) or ""
            reason = (
                f"worker {worker} (host {beat.get('host')}, pid {beat.get('pid')}) has not sent a heartbeat"
                f" for {now - float(beat.get('heartbeat', 0)):.0f} s; its runs are claimed by the other workers"
            )
            log.error("cluster: %s", reason)
            self._notify(store, worker, reason, since)
            self.client.hset(WORKERS, name, json.dumps({**beat, "reported": True}))

    def _notify(self, store: Store, worker: str, reason: str, since: str) -> None:
        paused = paused_destinations(store)
        targets = [d for d in self.config.alerts.destinations if d.enabled and d.name not in paused]
        with store.write() as conn:
            for destination in targets:
                key = f"notice:worker:{worker}:{since}|destination:{destination.name}"
                notice_id = message_id("notice", key)
                event = build_source_notice(
                    notice_id, f"cluster worker {worker}", health="failing", reason=reason, since=since
                )
                queue_notice(conn, notice_id, key, destination.name, event, since)
        if targets:
            self.on_alerts()
