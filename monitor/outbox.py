"""The storage side of the alert outbox: claim due alerts, record what happened, report.

An alert row moves ``pending`` -> ``sending`` (claimed, with a lease) -> ``delivered``,
back to ``pending`` (failed, retried later) or to ``dead`` (given up). A sender that
dies mid-send leaves its rows ``sending``; once their lease has passed they are
claimed again and re-sent with the same id (at-least-once delivery). Posting
happens outside any transaction: each function here is one short write.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.store import Store, iso

STATUSES = ("pending", "sending", "delivered", "dead")
ERROR_CHARS = 2000

log = logging.getLogger("monitor.alerts")


@dataclass(frozen=True)
class ClaimedAlert:
    """An alert claimed for sending; ``attempts`` counts this attempt."""

    id: str
    destination: str
    payload: dict[str, Any]
    attempts: int


def claim_due(store: Store, now: datetime, *, limit: int = 50, lease_seconds: float = 120) -> list[ClaimedAlert]:
    """Claim up to ``limit`` due alerts, oldest first, for ``lease_seconds``; each claim counts as an attempt.

    Due means ``pending`` with ``next_attempt_at`` reached, or ``sending`` with an
    expired lease (its sender crashed: the alert is re-sent under the same id).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    moment = iso(now)
    until = iso(now + timedelta(seconds=lease_seconds))
    claimed: list[ClaimedAlert] = []
    with store.write() as conn:
        rows = conn.execute(
            "SELECT id, destination, payload, attempts FROM alerts"
            " WHERE (status = 'pending' AND next_attempt_at <= ?)"
            " OR (status = 'sending' AND (claimed_until IS NULL OR claimed_until <= ?))"
            " ORDER BY created_at, id LIMIT ?",
            (moment, moment, limit),
        ).fetchall()
        for row in rows:
            try:
                payload = json.loads(row["payload"])
                if not isinstance(payload, dict):
                    raise ValueError("not a JSON object")
            except ValueError:
                # A row no sender can ever render: dead-letter it rather than claim it forever.
                conn.execute(
                    "UPDATE alerts SET status = 'dead', claimed_until = NULL, last_error = ? WHERE id = ?",
                    ("the stored payload is not a JSON object", row["id"]),
                )
                log.warning("alert=%s destination=%s outcome=dead (unreadable payload)", row["id"], row["destination"])
                continue
            conn.execute(
                "UPDATE alerts SET status = 'sending', claimed_until = ?, attempts = attempts + 1 WHERE id = ?",
                (until, row["id"]),
            )
            claimed.append(ClaimedAlert(row["id"], row["destination"], payload, int(row["attempts"]) + 1))
    return claimed


def release(store: Store, alert_ids: Sequence[str]) -> int:
    """Give claimed alerts back untried: ``pending`` again, due as before, the claim not counted as an attempt."""
    if not alert_ids:
        return 0
    changed = 0
    with store.write() as conn:
        for alert_id in alert_ids:
            cursor = conn.execute(
                "UPDATE alerts SET status = 'pending', claimed_until = NULL, attempts = MAX(attempts - 1, 0)"
                " WHERE id = ? AND status = 'sending'",
                (alert_id,),
            )
            changed += cursor.rowcount
    return changed


def mark_delivered(store: Store, alert_id: str, status_code: int, now: datetime) -> bool:
    """Record a delivery (a 2xx answer); False if there is no such alert."""
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE alerts SET status = 'delivered', claimed_until = NULL, last_status = ?, last_error = NULL,"
            " delivered_at = ? WHERE id = ?",
            (status_code, iso(now), alert_id),
        )
    return cursor.rowcount > 0


def mark_failed(
    store: Store,
    alert_id: str,
    *,
    status_code: int | None,
    error: str,
    next_attempt_at: datetime | None,
    now: datetime,
) -> bool:
    """Record a failed attempt: retry at ``next_attempt_at``, or dead-letter it when that is None.

    Only a claimed (``sending``) alert changes, so a sender whose lease ran out never
    undoes the delivery another sender recorded meanwhile. ``now`` is when it failed.
    """
    status = "dead" if next_attempt_at is None else "pending"
    # A dead alert keeps the time it died in ``next_attempt_at``, for the record: it is never due again.
    when = iso(next_attempt_at) if next_attempt_at is not None else iso(now)
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE alerts SET status = ?, claimed_until = NULL, last_status = ?, last_error = ?, next_attempt_at = ?"
            " WHERE id = ? AND status = 'sending'",
            (status, status_code, error[:ERROR_CHARS], when, alert_id),
        )
    return cursor.rowcount > 0


def list_alerts(store: Store, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest alerts (newest first), optionally of one status, with the payload decoded."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    rows = store.query(
        "SELECT id, key, article_id, destination, payload, status, attempts, next_attempt_at, claimed_until,"
        f" last_status, last_error, created_at, delivered_at FROM alerts {where}"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        [*params, limit],
    )
    for row in rows:
        with contextlib.suppress(ValueError):  # else shown as stored; claim_due dead-letters such rows
            row["payload"] = json.loads(row["payload"])
    return rows


def counts_by_status(store: Store) -> dict[str, dict[str, int]]:
    """How many alerts each destination has in each status (every status present, zero included)."""
    counts: dict[str, dict[str, int]] = {}
    for row in store.query("SELECT destination, status, COUNT(*) AS n FROM alerts GROUP BY destination, status"):
        per = counts.setdefault(row["destination"], dict.fromkeys(STATUSES, 0))
        per[row["status"]] = int(row["n"])
    return counts
