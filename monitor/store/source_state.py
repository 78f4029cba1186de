"""Sources' health as stored: the ``source_state`` table, and the reads of ``runs`` and ``run_errors`` behind it.

Judging a source (failing, quiet, ok) and telling the operator is the runs' business
(``monitor.runs.source_health``); this module only reads and writes the rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from monitor.store.connection import Store


def last_finished_statuses(store: Store, source: str, limit: int) -> list[str]:
    """The statuses ("ok" or "failed") of the source's last ``limit`` finished runs, newest first."""
    rows = store.query(
        "SELECT status FROM runs WHERE source = ? AND status IN ('ok', 'failed') ORDER BY id DESC LIMIT ?",
        [source, limit],
    )
    return [row["status"] for row in rows]


def last_run_error(store: Store, source: str) -> dict[str, Any] | None:
    """The source's latest run error (its kind and message), or None if it has none."""
    rows = store.query("SELECT kind, message FROM run_errors WHERE source = ? ORDER BY id DESC LIMIT 1", [source])
    return rows[0] if rows else None


def recent_successful_runs(store: Store, source: str, limit: int) -> list[tuple[int, str]]:
    """The source's last ``limit`` successful runs as (new articles, started_at), newest first."""
    rows = store.query(
        "SELECT new_articles, started_at FROM runs WHERE source = ? AND status = 'ok' ORDER BY id DESC LIMIT ?",
        [source, limit],
    )
    return [(int(row["new_articles"]), row["started_at"]) for row in rows]


def stored_health(conn: sqlite3.Connection, source: str) -> str | None:
    """The source's last recorded health, or None if none was recorded, read in the caller's transaction."""
    row = conn.execute("SELECT health FROM source_state WHERE name = ?", (source,)).fetchone()
    return row["health"] if row is not None else None


def record_health(conn: sqlite3.Connection, source: str, health: str, reason: str, moment: str) -> None:
    """Record the source's health (and why) as of ``moment``, in the caller's write transaction."""
    conn.execute(
        "INSERT INTO source_state (name, health, reason, since, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET health = excluded.health, reason = excluded.reason,"
        " since = excluded.since, updated_at = excluded.updated_at",
        (source, health, reason, moment, moment),
    )
