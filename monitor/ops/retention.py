"""Keep the store from growing for ever: drop old article bodies, keep what was found and sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.store import Store
from monitor.store.reports import store_size
from monitor.store.retention import compact, deleted_run_errors, emptied_bodies


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
    size = store_size(store)
    with store.write() as conn:
        bodies = emptied_bodies(conn, before)
        errors = deleted_run_errors(conn, before)
    if vacuum:
        compact(store)
    return PruneReport(bodies, errors, size, store_size(store))
