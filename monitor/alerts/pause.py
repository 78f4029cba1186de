"""Paused destinations: one that answers that it is gone (or exhausts its retries) stops being sent to.

Pausing is stored (``destination_state``), so it survives restarts, and it happens
in the same transaction as the notices that tell the operator: one
``destination.paused`` message to each other destination, queued once, whatever
happens afterwards. The paused destination's alerts stay in the outbox, in order,
until ``monitor alerts resume NAME`` (or ``monitor alerts retry``) resumes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.alerts.events import build_notice
from monitor.store import Store
from monitor.timestamps import iso


def message_id(kind: str, key: str) -> str:
    """The stable id of a digest or notice row: ``<kind>_`` and a hash of its key."""
    return f"{kind}_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:26]


def paused_destinations(store: Store) -> dict[str, dict[str, Any]]:
    """Every paused destination's state (paused_at, paused_reason, paused_status), by name."""
    rows = store.query("SELECT * FROM destination_state WHERE paused_at IS NOT NULL ORDER BY name")
    return {row["name"]: row for row in rows}


def pause_destination(
    store: Store, name: str, *, reason: str, status: int | None, now: datetime, notify: Sequence[str]
) -> bool:
    """Pause ``name`` and queue one notice to each of ``notify`` (those not paused); False if it was paused already."""
    moment = iso(now) or ""
    with store.write() as conn:
        row = conn.execute("SELECT paused_at FROM destination_state WHERE name = ?", (name,)).fetchone()
        if row is not None and row["paused_at"] is not None:
            return False
        conn.execute(
            "INSERT INTO destination_state (name, paused_at, paused_reason, paused_status, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET paused_at = excluded.paused_at,"
            " paused_reason = excluded.paused_reason, paused_status = excluded.paused_status,"
            " updated_at = excluded.updated_at",
            (name, moment, reason, status, moment),
        )
        waiting = conn.execute(
            "SELECT COUNT(*) FROM alerts WHERE destination = ? AND status IN ('pending', 'sending', 'held')", (name,)
        ).fetchone()[0]
        paused = {r["name"] for r in conn.execute("SELECT name FROM destination_state WHERE paused_at IS NOT NULL")}
        for other in notify:
            if other == name or other in paused:
                continue
            key = f"notice:paused:{name}:{moment}|destination:{other}"
            notice_id = message_id("notice", key)
            event = build_notice(notice_id, name, reason=reason, status=status, paused_at=moment, pending=int(waiting))
            conn.execute(
                "INSERT OR IGNORE INTO alerts (id, key, kind, destination, payload, next_attempt_at, created_at)"
                " VALUES (?, ?, 'notice', ?, ?, ?, ?)",
                (notice_id, key, other, json.dumps(event, ensure_ascii=False), moment, moment),
            )
    return True


def resume_destination(store: Store, name: str, now: datetime) -> bool:
    """Un-pause ``name``; its waiting alerts go out, in order, on the next send. False if it was not paused."""
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE destination_state SET paused_at = NULL, paused_reason = NULL, paused_status = NULL,"
            " updated_at = ? WHERE name = ? AND paused_at IS NOT NULL",
            (iso(now), name),
        )
    return cursor.rowcount > 0
