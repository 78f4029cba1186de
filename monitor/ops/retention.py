"""Keep the store from growing for ever: drop old article bodies, keep what was found and sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.ops.status import store_size
from monitor.store import Store
from monitor.timestamps import iso


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed, and the store's size before and after."""

    bodies: int
    run_errors: int
    bytes_before: int
    bytes_after: int


def prune(store: Store, before: datetime, *, vacuum: bool = True) -> PruneReport:
    """Empty the bodies of articles first seen before ``before`` and drop older run errors.

    Titles, URLs, scores, matches (with their explanations) and alerts stay, so
    every alert can still be traced to the article and the terms that raised it.
    """
    size = store_size(store.path)
    cutoff = iso(before)
    with store.write() as conn:
        bodies = conn.execute("UPDATE articles SET text = '' WHERE first_seen < ? AND text != ''", (cutoff,)).rowcount
        errors = conn.execute("DELETE FROM run_errors WHERE at < ?", (cutoff,)).rowcount
    if vacuum:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.conn.execute("VACUUM")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return PruneReport(bodies, errors, size, store_size(store.path))
