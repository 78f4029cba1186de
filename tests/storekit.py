"""Test-only views of a store: sqlite-utils' table API over the store's connection."""

from __future__ import annotations

import sqlite_utils

from monitor.store import Store
from monitor.store.outbox import STATUSES


def database(store: Store) -> sqlite_utils.Database:
    """The store's tables through sqlite-utils (``database(store)["alerts"].count``)."""
    return sqlite_utils.Database(store.conn)


def counts_by_status(store: Store) -> dict[str, dict[str, int]]:
    """How many messages each destination has in each status (every status present, zero included)."""
    counts: dict[str, dict[str, int]] = {}
    for row in store.query("SELECT destination, status, COUNT(*) AS n FROM alerts GROUP BY destination, status"):
        per = counts.setdefault(row["destination"], dict.fromkeys(STATUSES, 0))
        per[row["status"]] = int(row["n"])
    return counts
