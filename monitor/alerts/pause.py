"""Paused destinations: one that answers that it is gone (or exhausts its retries) stops being sent to.

Pausing is stored (``destination_state``, see ``monitor.store.destinations``), so it survives restarts, and it happens
in the same transaction as the notices that tell the operator: one
``destination.paused`` message to each other destination, queued once, whatever
happens afterwards. The paused destination's alerts stay in the outbox, in order,
until ``monitor alerts resume NAME`` (or ``monitor alerts retry``) resumes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from monitor.alerts.events import build_notice
from monitor.store import Store
from monitor.store.destinations import is_paused, mark_paused, paused_names
from monitor.store.outbox import count_undelivered, queue_notice
from monitor.timestamps import iso


def message_id(kind: str, key: str) -> str:
    """The stable id of a digest or notice row: ``<kind>_`` and a hash of its key."""
    return f"{kind}_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:26]


def pause_destination(
    store: Store, name: str, *, reason: str, status: int | None, now: datetime, notify: Sequence[str]
) -> bool:
    """Pause ``name`` and queue one notice to each of ``notify`` (those not paused); False if it was paused already."""
    moment = iso(now) or ""
    with store.write() as conn:
        if is_paused(conn, name):
            return False
        mark_paused(conn, name, reason=reason, status=status, moment=moment)
        waiting = count_undelivered(conn, name)
        paused = paused_names(conn)
        for other in notify:
            if other == name or other in paused:
                continue
            key = f"notice:paused:{name}:{moment}|destination:{other}"
            notice_id = message_id("notice", key)
            event = build_notice(notice_id, name, reason=reason, status=status, paused_at=moment, pending=int(waiting))
            queue_notice(conn, notice_id, key, other, event, moment)
    return True
