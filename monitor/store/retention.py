"""Pruning the store: empty old article bodies, drop old run errors, give the space back."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from monitor.store.connection import Store
from monitor.timestamps import iso


def emptied_bodies(conn: sqlite3.Connection, before: datetime) -> int:
    """Empty the text of articles first seen before ``before``; how many were emptied."""
    return conn.execute("UPDATE articles SET text = '' WHERE first_seen < ? AND text != ''", (iso(before),)).rowcount


def deleted_run_errors(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete the run errors recorded before ``before``; how many were deleted."""
    return conn.execute("DELETE FROM run_errors WHERE at < ?", (iso(before),)).rowcount


def compact(store: Store) -> None:
    """Checkpoint the write-ahead log and VACUUM, so the file shrinks to what it holds."""
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.conn.execute("VACUUM")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
