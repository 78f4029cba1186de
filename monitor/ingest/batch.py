"""Save the articles a crawl analyses in short batches: one transaction for several, each still whole.

One commit per article was a tenth of the crawl process's CPU. The engine runs one
thread, so saves that finish close together wait a moment for each other: up to
``max_items`` saves or ``max_delay`` seconds go in one transaction, each in its own
savepoint, so an article, its matches and its alerts still commit together, and one
that fails rolls back alone. A caller learns its outcome only after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from monitor.errors import MonitorError
from monitor.store import Store

log = logging.getLogger("monitor.crawl")

T = TypeVar("T")


class SaveBatch:
    """Runs save functions in shared transactions on ``store``, from one asyncio loop's thread."""

    def __init__(self, store: Store, max_items: int = 50, max_delay: float = 0.02):
        self.store = store
        self.max_items = max_items
        self.max_delay = max_delay
        self.pending: list[tuple[Callable[[], object], asyncio.Future[object]]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def save(self, write: Callable[[], T]) -> T:
        """Run ``write`` (which writes through ``store.write()``) in the next batch; its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self.pending.append((write, future))
        if len(self.pending) >= self.max_items:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_delay, self.flush)
        result = await future
        return result  # type: ignore[return-value]

    def flush(self) -> None:
        """Commit what is pending now, then tell each caller."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        outcomes: list[tuple[asyncio.Future[object], object, BaseException | None]] = []
        try:
            with self.store.write():
                for write, future in batch:
                    try:
                        outcomes.append((future, write(), None))
                    except MonitorError as error:  # its savepoint rolled back; the others stand
                        outcomes.append((future, None, error))
        except Exception as error:  # the commit itself failed: nothing of the batch was saved
            log.error("a batch of %d saves failed: %s", len(batch), error)
            failed = error if isinstance(error, MonitorError) else MonitorError(f"saving failed: {error}")
            outcomes = [(future, None, failed) for _, future in batch]
        for future, result, problem in outcomes:
            if future.done():
                continue
            if problem is not None:
                future.set_exception(problem)
            else:
                future.set_result(result)
