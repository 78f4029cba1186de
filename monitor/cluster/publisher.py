"""A worker engine's ledger: what its runs find goes to the writer through the result stream.

The engine's reactor thread must not wait on Redis, so records are queued and a thread
of their own adds them to the stream, in order, retrying through an outage. A run's
``RunDone`` is added together with the acknowledgement of its task (one MULTI), after
everything the run found: a task is acknowledged only once its results are in Redis,
so a worker that dies mid-run leaves its task pending, for another worker to claim.

A run's article pages are handed out to every worker: the run's ``PagesHandedOut`` goes
to the writer in the same MULTI as their ``PageTask``s, so the writer knows of each page
before any worker can be done with it; a page's ``PageDone`` is added with its task's
acknowledgement, after its article or error.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.cluster.bus import (
    PAGES,
    REREAD,
    RESULTS,
    SEEN,
    TASKS,
    WORKER_GROUP,
    ClusterError,
    Outage,
    connect,
    seal,
    settle,
    signing_key,
)
from monitor.cluster.messages import ArticleFound, ErrorFound, PageDone, PagesHandedOut, PageTask, Result, RunDone
from monitor.config import DestinationSpec
from monitor.ingest import Analysis, PageOrder, RunClaim
from monitor.store import SaveOutcome

log = logging.getLogger("monitor.cluster")

FLUSH_SECONDS = 30.0  # how long a closing engine waits for its records to reach Redis


class ResultPublisher:
    """The ``RunLedger`` of a cluster worker's engine."""

    def __init__(self, url: str, worker: str):
        self.key = signing_key()
        self.client = connect(url)
        self.worker = worker
        self.stopping = threading.Event()
        self.outage = Outage(f"worker {worker}", self.stopping)
        self.pending: queue.Queue[Result | tuple[PagesHandedOut, list[PageTask]]] = queue.Queue()
        self.thread = threading.Thread(target=self._send_loop, name="results", daemon=True)
        self.thread.start()

    def read_before(self, source: str) -> bool:
        raise ClusterError("a cluster worker runs only the runs its writer opened")

    def start_run(self, source: str) -> int:
        raise ClusterError("a cluster worker runs only the runs its writer opened")

    def record_error(self, run_id: int, source: str, url: str | None, kind: str, message: str) -> None:
        self.pending.put(ErrorFound(run_id, source, url, kind, message))

    def last_seen(self, urls: Sequence[str]) -> dict[str, datetime]:
        if not urls:
            return {}
        values = self.outage.call(lambda: self.client.hmget(SEEN, list(urls)))
        return {url: datetime.fromisoformat(value.decode()) for url, value in zip(urls, values, strict=True) if value}

    def update_counts(self, run_id: int, counts: Mapping[str, int | None]) -> None:
        """Nothing: the writer counts articles as it saves them, and takes the rest when the run ends."""

    async def save(
        self, run_id: int, source: str, analysis: Analysis, destinations: Sequence[DestinationSpec]
    ) -> SaveOutcome | None:
        self.pending.put(ArticleFound(run_id, source, analysis))
        return None

    def finish_run(
        self,
        run_id: int,
        source: str,
        counts: Mapping[str, int | None],
        status: str,
        claim: RunClaim | None,
        incomplete: frozenset[str] = frozenset(),
    ) -> None:
        ticket = claim.ticket if claim is not None else ""
        pages, errors = int(counts.get("pages") or 0), int(counts.get("errors") or 0)
        again = tuple(sorted(incomplete))
        if claim is not None and claim.page_url:
            self.pending.put(PageDone(run_id, source, claim.page_url, pages, errors, ticket, self.worker, again))
        else:
            self.pending.put(RunDone(run_id, source, pages, errors, status, ticket, self.worker, again))

    def hand_out(
        self, claim: RunClaim | None, source: str, pages: Sequence[PageOrder], deadline_at: float | None
    ) -> bool:
        if claim is None:
            raise ClusterError("a cluster worker runs only the runs its writer opened")
        tasks = [PageTask(source, claim.run_id, page, deadline_at, claim.config_hash) for page in pages]
        self.pending.put((PagesHandedOut(claim.run_id, source, tuple(page.url for page in pages)), tasks))
        return True

    def must_reread(self, index_url: str) -> bool:
        return bool(self.outage.call(lambda: self.client.srem(REREAD, index_url)))

    def flush(self) -> None:
        """Wait (a while) until every record queued is in Redis."""
        deadline = time.monotonic() + FLUSH_SECONDS
        while self.pending.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.pending.unfinished_tasks:
            log.error(
                "worker %s: %d records not sent; their runs run again", self.worker, self.pending.unfinished_tasks
            )
        self.stopping.set()

    def _send_loop(self) -> None:
        while True:
            record = self.pending.get()
            try:
                self.outage.call(lambda record=record: self._send(record))  # type: ignore[misc]
            except ClusterError:
                log.error("worker %s: stopped before a record could be sent", self.worker)
            finally:
                self.pending.task_done()

    def _send(self, record: Result | tuple[PagesHandedOut, list[PageTask]]) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            if isinstance(record, tuple):
                handed_out, tasks = record
                pipe.xadd(RESULTS, {"m": seal(handed_out, self.key)})
                for task in tasks:
                    pipe.xadd(PAGES, {"m": seal(task, self.key)})
                pipe.execute()
                return
            pipe.xadd(RESULTS, {"m": seal(record, self.key)})
            if isinstance(record, RunDone | PageDone):
                if record.incomplete:
                    pipe.sadd(REREAD, *record.incomplete)
                if record.ticket:
                    settle(pipe, PAGES if isinstance(record, PageDone) else TASKS, WORKER_GROUP, record.ticket)
            pipe.execute()
