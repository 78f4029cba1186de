"""What a cluster's writer keeps in the store: how far it applied the result stream, and run counters.

The writer applies stream entries in a transaction that also moves ``cluster_cursor``
to the last entry applied, so an entry read again after a crash (Redis still holds it
as pending) is recognised and skipped: each entry takes effect exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping

from monitor.store.connection import Store
from monitor.store.runs import RUN_COUNTERS


def applied_cursor(store: Store, stream: str) -> str | None:
    """The id of the last entry of ``stream`` applied, or None."""
    row = store.conn.execute("SELECT last_id FROM cluster_cursor WHERE stream = ?", (stream,)).fetchone()
    return str(row[0]) if row else None


def move_cursor(conn: sqlite3.Connection, stream: str, last_id: str) -> None:
    """Record ``last_id`` as applied, in the caller's transaction."""
    conn.execute(
        "INSERT INTO cluster_cursor (stream, last_id) VALUES (?, ?)"
        " ON CONFLICT(stream) DO UPDATE SET last_id = excluded.last_id",
        (stream, last_id),
    )


def add_run_counts(conn: sqlite3.Connection, run_id: int, deltas: Mapping[str, int]) -> None:
    """Add to a run's counters (the writer counts what each article it saves turned out to be)."""
    names = [name for name in RUN_COUNTERS if deltas.get(name)]
    if not names:
        return
    conn.execute(
        "UPDATE runs SET " + ", ".join(f"{name} = {name} + ?" for name in names) + " WHERE id = ?",
        (*(int(deltas[name]) for name in names), run_id),
    )


def run_counts(store: Store, run_id: int) -> dict[str, int]:
    """A run's counters as the store holds them."""
    row = store.conn.execute("SELECT " + ", ".join(RUN_COUNTERS) + " FROM runs WHERE id = ?", (run_id,)).fetchone()
    return {name: int(row[name] or 0) for name in RUN_COUNTERS} if row else dict.fromkeys(RUN_COUNTERS, 0)


def seen_urls(store: Store, batch: int = 5000) -> Iterator[list[tuple[str, str, str]]]:
    """Every stored article's URL, fetched URL and last fetch, in batches (to seed the workers' view)."""
    cursor = store.conn.execute("SELECT url, COALESCE(fetched_url, url), last_seen FROM articles")
    while rows := cursor.fetchmany(batch):
        yield [(str(url), str(fetched), str(moment)) for url, fetched, moment in rows]
