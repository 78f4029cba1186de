"""Test-only views of a store: sqlite-utils' table API over the store's connection."""

from __future__ import annotations

import sqlite_utils

from monitor.store import Store


def database(store: Store) -> sqlite_utils.Database:
    """The store's tables through sqlite-utils (``database(store)["alerts"].count``)."""
    return sqlite_utils.Database(store.conn)
