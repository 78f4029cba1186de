"""What a cluster's writer keeps in the store: how far it applied the result stream, run counters, open runs.

The writer applies stream entries in a transaction that also moves ``cluster_cursor``
to the last entry applied, so an entry read again after a crash (Redis still holds it
as pending) is recognised and skipped: each entry takes effect exactly once.

A run ends when its own crawl is done (``cluster_runs``) and so is every page it
handed out (``cluster_pages``); both are kept here, so a restarted writer knows.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from monitor.store.connection import Store
from monitor.store.runs import RUN_COUNTERS
from monitor.timestamps import as_utc


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


def new_articles_median_age(conn: sqlite3.Connection, run_id: int) -> int | None:
    """Seconds from publication to first save, the median over the dated articles a cluster run found new."""
    rows = conn.execute(
        "SELECT a.published, a.first_seen FROM articles a JOIN runs r ON a.source = r.source"
        " WHERE r.id = ? AND a.first_seen >= r.started_at AND a.published IS NOT NULL",
        (run_id,),
    ).fetchall()
    ages = [(_moment(seen) - _moment(published)).total_seconds() for published, seen in rows]
    return round(statistics.median(ages)) if ages else None


def _moment(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def seen_urls(store: Store, batch: int = 5000) -> Iterator[list[tuple[str, str, str]]]:
    """Every stored article's URL, fetched URL and last fetch, in batches (to seed the workers' view)."""
    cursor = store.conn.execute("SELECT url, COALESCE(fetched_url, url), last_seen FROM articles")
    while rows := cursor.fetchmany(batch):
        yield [(str(url), str(fetched), str(moment)) for url, fetched, moment in rows]


def run_is_open(conn: sqlite3.Connection, run_id: int) -> bool:
    """Whether run ``run_id`` is still running (not finished, not given up)."""
    row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return bool(row) and row[0] == "running"


def expect_pages(conn: sqlite3.Connection, run_id: int, urls: Sequence[str]) -> None:
    """The run handed out ``urls``: it is not over until each is done (a URL handed out twice counts once)."""
    conn.executemany("INSERT OR IGNORE INTO cluster_pages (run_id, url) VALUES (?, ?)", [(run_id, url) for url in urls])


def mark_page_done(conn: sqlite3.Connection, run_id: int, url: str) -> bool:
    """Mark a handed-out page done; False if it was already (a page claimed twice: count it once)."""
    cursor = conn.execute("UPDATE cluster_pages SET done = 1 WHERE run_id = ? AND url = ? AND done = 0", (run_id, url))
    return cursor.rowcount == 1


def mark_crawl_done(conn: sqlite3.Connection, run_id: int, status: str) -> bool:
    """Record that the run's own crawl ended with ``status``; False if it was already (its task ran twice)."""
    cursor = conn.execute("INSERT OR IGNORE INTO cluster_runs (run_id, status) VALUES (?, ?)", (run_id, status))
    return cursor.rowcount == 1


def completed_status(conn: sqlite3.Connection, run_id: int) -> str | None:
    """The status of the run's own crawl, once it and every page it handed out are done; else None."""
    row = conn.execute("SELECT status FROM cluster_runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    waiting = conn.execute("SELECT 1 FROM cluster_pages WHERE run_id = ? AND done = 0 LIMIT 1", (run_id,)).fetchone()
    return None if waiting else str(row[0])


def forget_cluster_run(conn: sqlite3.Connection, run_id: int) -> None:
    """Drop what the writer kept of an ended run."""
    conn.execute("DELETE FROM cluster_runs WHERE run_id = ?", (run_id,))
    conn.execute("DELETE FROM cluster_pages WHERE run_id = ?", (run_id,))
