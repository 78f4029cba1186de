"""Destinations' stored state: the ``destination_state`` table (which destinations are paused, since when, why).

A paused destination's messages stay in the outbox and are not claimed (``outbox.claim_due``)
until it is resumed. Deciding to pause, and telling the operator, is the alerts' business
(``monitor.alerts.pause``); this module only reads and writes the rows.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from monitor.store.connection import Store
from monitor.timestamps import iso


def paused_destinations(store: Store) -> dict[str, dict[str, Any]]:
    """Every paused destination's state (paused_at, paused_reason, paused_status), by name."""
    rows = store.query("SELECT * FROM destination_state WHERE paused_at IS NOT NULL ORDER BY name")
    return {row["name"]: row for row in rows}


def is_paused(conn: sqlite3.Connection, name: str) -> bool:
    """Whether ``name`` is paused, read in the caller's transaction."""
    row = conn.execute("SELECT paused_at FROM destination_state WHERE name = ?", (name,)).fetchone()
    return row is not None and row["paused_at"] is not None


def paused_names(conn: sqlite3.Connection) -> set[str]:
    """The names of every paused destination, read in the caller's transaction."""
    return {r["name"] for r in conn.execute("SELECT name FROM destination_state WHERE paused_at IS NOT NULL")}


def mark_paused(conn: sqlite3.Connection, name: str, *, reason: str, status: int | None, moment: str) -> None:
    """Record ``name`` as paused since ``moment``, with why, in the caller's write transaction."""
    conn.execute(
        "INSERT INTO destination_state (name, paused_at, paused_reason, paused_status, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET paused_at = excluded.paused_at,"
        " paused_reason = excluded.paused_reason, paused_status = excluded.paused_status,"
        " updated_at = excluded.updated_at",
        (name, moment, reason, status, moment),
    )


def resume_destination(store: Store, name: str, now: datetime) -> bool:
    """Un-pause ``name``; its waiting alerts go out, in order, on the next send. False if it was not paused."""
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE destination_state SET paused_at = NULL, paused_reason = NULL, paused_status = NULL,"
            " updated_at = ? WHERE name = ? AND paused_at IS NOT NULL",
            (iso(now), name),
        )
    return cursor.rowcount > 0
