"""A worker engine's ledger: what its runs find goes to the writer through the result stream.

The engine's reactor thread must not wait on Redis, so records are queued and a thread
of their own adds them to the stream, in order, retrying through an outage. A run's
``RunDone`` is added together with the acknowledgement of its task (one MULTI), after
everything the run found: a task is acknowledged only once its results are in Redis,
so a worker that dies mid-run leaves its task pending, for another worker to claim.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.cluster.bus import RESULTS, SEEN, TASKS, WORKER_GROUP, ClusterError, Outage, connect, seal, signing_key
from monitor.cluster.messages import ArticleFound, ErrorFound, Result, RunDone
from monitor.config import DestinationSpec
from monitor.ingest import Analysis, RunClaim
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
        self.pending: queue.Queue[Result] = queue.Queue()
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
        self, run_id: int, source: str, counts: Mapping[str, int | None], status: str, claim: RunClaim | None
    ) -> None:
        ticket = claim.ticket if claim is not None else ""
        pages, errors = int(counts.get("pages") or 0), int(counts.get("errors") or 0)
        self.pending.put(RunDone(run_id, source, pages, errors, status, ticket, self.worker))

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

    def _send(self, record: Result) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(RESULTS, {"m": seal(record, self.key)})
            if isinstance(record, RunDone) and record.ticket:
                pipe.xack(TASKS, WORKER_GROUP, record.ticket)
                pipe.xdel(TASKS, record.ticket)
            pipe.execute()
