"""The storage side of the alert outbox: claim due messages, record what happened, retry, report.

A row is one message owed to one destination: an ``alert`` (an article matched),
a ``digest`` (alerts of one window, sent as one message) or a ``notice`` (a
destination was paused). It moves ``pending`` -> ``sending`` (claimed, with a
lease) -> ``delivered``, back to ``pending`` (failed, retried later) or to ``dead``
(given up). An alert of a destination that sends digests waits ``held`` until its
digest is made, then is ``digested`` (the digest row carries the delivery).

A sender that dies mid-send leaves its rows ``sending``; once their lease has
passed they are claimed again and re-sent with the same id (at-least-once
delivery). Claiming only leases a row: its ``attempts`` grow when a post of it
starts (``start_attempt``), so a row claimed in a batch whose sender died before
reaching it is not charged. A claim records its sender process (``ClaimOwner``),
so a sender on the same host that finds that process gone ends the lease at once
(``expire_claims``).
Each destination's messages go out in the order they were queued: a row is not
claimed while an older row of its destination waits for a retry or is being sent,
and nothing of a paused destination is claimed. Posting happens
outside any transaction: each function here is one short write. The functions that take
a ``sqlite3.Connection`` (queueing notices and digests, routing alerts to a digest) run
in the caller's write transaction, where ``monitor.alerts`` decides what to write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.errors import MonitorError
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.rules import RuleSpec
from monitor.store.articles import queue_story_alert
from monitor.store.connection import Store
from monitor.store.reports import ARTICLE_COLUMNS
from monitor.store.stories import story_outlets
from monitor.timestamps import as_utc, iso

STATUSES = ("pending", "sending", "delivered", "dead", "held", "digested")
ERROR_CHARS = 2000

log = logging.getLogger("monitor.alerts")


class OutboxError(MonitorError):
    """An outbox request that cannot be done (no such alert, or one that must not be re-sent)."""


@dataclass(frozen=True)
class ClaimOwner:
    """The sender process holding claims: its host (machine and pid namespace), pid, and when it started."""

    host: str
    pid: int
    started: str


@dataclass(frozen=True)
class ClaimedAlert:
    """A message claimed for sending; ``attempts`` is the count this attempt will make once started."""

    id: str
    destination: str
    payload: dict[str, Any]
    attempts: int
    kind: str = "alert"
    recipients_left: tuple[str, ...] | None = None  # an email taken for some recipients: those it still owes


def queue_notice(
    conn: sqlite3.Connection, notice_id: str, key: str, destination: str, payload: Mapping[str, Any], moment: str
) -> bool:
    """Queue an operator notice in the caller's write transaction; False if one with that key is queued already."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO alerts (id, key, kind, destination, payload, next_attempt_at, created_at)"
        " VALUES (?, ?, 'notice', ?, ?, ?, ?)",
        (notice_id, key, destination, json.dumps(payload, ensure_ascii=False), moment, moment),
    )
    return cursor.rowcount > 0


def count_undelivered(conn: sqlite3.Connection, destination: str) -> int:
    """How many messages of ``destination`` are pending, being sent or held, in the caller's transaction."""
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM alerts WHERE destination = ? AND status IN ('pending', 'sending', 'held')",
            (destination,),
        ).fetchone()[0]
    )


def count_waiting(store: Store, destination: str) -> int:
    """How many messages of ``destination`` wait to be sent (pending or held)."""
    rows = store.query(
        "SELECT COUNT(*) AS n FROM alerts WHERE destination = ? AND status IN ('pending', 'held')", [destination]
    )
    return int(rows[0]["n"])


# Routing and digests: an alert of a destination that sends digests is routed once, ``immediate``
# (sent on its own) or ``digest`` (``held``); a digest row gathers the held alerts of its window.


@dataclass(frozen=True)
class HeldAlert:
    """An alert held for a digest: its id, its decoded payload and when it was routed."""

    id: str
    payload: Any
    routed_at: str


def has_unrouted_alerts(store: Store, destination: str) -> bool:
    """Whether ``destination`` has a pending alert not yet routed (immediate or digest)."""
    return bool(
        store.query(
            "SELECT 1 FROM alerts WHERE destination = ? AND kind = 'alert' AND status = 'pending' AND route IS NULL"
            " LIMIT 1",
            [destination],
        )
    )


def unrouted_alert_ids(conn: sqlite3.Connection, destination: str) -> list[str]:
    """The ids of ``destination``'s pending alerts not yet routed, oldest first, in the caller's transaction."""
    return [
        row["id"]
        for row in conn.execute(
            "SELECT id FROM alerts WHERE destination = ? AND kind = 'alert' AND status = 'pending'"
            " AND route IS NULL ORDER BY created_at, id",
            (destination,),
        )
    ]


def count_routed_immediately(conn: sqlite3.Connection, destination: str, start: datetime, end: datetime) -> int:
    """How many alerts of ``destination`` were routed to go out at once in ``[start, end)``."""
    sent = conn.execute(
        "SELECT COUNT(*) FROM alerts WHERE destination = ? AND kind = 'alert' AND route = 'immediate'"
        " AND routed_at >= ? AND routed_at < ?",
        (destination, iso(start), iso(end)),
    ).fetchone()[0]
    return int(sent)


def route_immediately(conn: sqlite3.Connection, alert_ids: Sequence[str], now: datetime) -> None:
    """Route these alerts to go out on their own, in the caller's write transaction."""
    moment = iso(now)
    for alert_id in alert_ids:
        conn.execute("UPDATE alerts SET route = 'immediate', routed_at = ? WHERE id = ?", (moment, alert_id))


def hold_for_digest(conn: sqlite3.Connection, alert_ids: Sequence[str], now: datetime) -> None:
    """Route these alerts to a digest: ``held`` until it is made, in the caller's write transaction."""
    moment = iso(now)
    for alert_id in alert_ids:
        conn.execute(
            "UPDATE alerts SET status = 'held', route = 'digest', routed_at = ? WHERE id = ?", (moment, alert_id)
        )


def has_held_alerts(store: Store, destination: str) -> bool:
    """Whether ``destination`` has alerts held for a digest."""
    return bool(store.query("SELECT 1 FROM alerts WHERE destination = ? AND status = 'held' LIMIT 1", [destination]))


def held_alerts(conn: sqlite3.Connection, destination: str, before: datetime | None) -> list[HeldAlert]:
    """``destination``'s held alerts (routed before ``before``, if given), oldest first, in the caller's transaction."""
    cutoff = iso(before)
    rows = conn.execute(
        "SELECT id, payload, routed_at FROM alerts WHERE destination = ? AND status = 'held'"
        " AND (? IS NULL OR routed_at < ?) ORDER BY created_at, id",
        (destination, cutoff, cutoff),
    ).fetchall()
    return [HeldAlert(row["id"], json.loads(row["payload"]), row["routed_at"]) for row in rows]


def queue_digest(
    conn: sqlite3.Connection,
    digest_id: str,
    key: str,
    destination: str,
    payload: Mapping[str, Any],
    members: Sequence[str],
    now: datetime,
) -> None:
    """Queue a digest row and mark its member alerts ``digested``, in the caller's write transaction."""
    conn.execute(
        "INSERT INTO alerts (id, key, kind, destination, payload, next_attempt_at, created_at)"
        " VALUES (?, ?, 'digest', ?, ?, ?, ?)",
        (digest_id, key, destination, json.dumps(payload, ensure_ascii=False), iso(now), iso(now)),
    )
    conn.executemany(
        "UPDATE alerts SET status = 'digested', digest_id = ? WHERE id = ?",
        [(digest_id, alert_id) for alert_id in members],
    )


# Each destination's queue is blocked from its oldest message that waits (for a retry) or is
# being sent (a live lease) onwards; ``created_at || ' ' || id`` orders rows as (created_at, id),
# created_at being fixed-width ISO text. Everything due and ahead of its destination's block is claimable.
# An email already taken for some of its recipients (``recipients_left``) blocks nothing: its retry only
# catches up with those it still owes, and one full mailbox must not hold back every other recipient.
_DUE = """
    WITH blocked AS (
        SELECT destination, MIN(created_at || ' ' || id) AS since FROM alerts
        WHERE ((status = 'pending' AND next_attempt_at > :now) OR (status = 'sending' AND claimed_until > :now))
          AND recipients_left IS NULL
        GROUP BY destination
    )
    SELECT a.id, a.destination, a.payload, a.attempts, a.kind, a.recipients_left FROM alerts a
    LEFT JOIN blocked b ON b.destination = a.destination
    WHERE ((a.status = 'pending' AND a.next_attempt_at <= :now)
           OR (a.status = 'sending' AND (a.claimed_until IS NULL OR a.claimed_until <= :now)))
      AND (b.since IS NULL OR a.created_at || ' ' || a.id < b.since)
      AND a.destination NOT IN (SELECT name FROM destination_state WHERE paused_at IS NOT NULL)
    ORDER BY a.created_at, a.id LIMIT :limit
"""


def claim_due(
    store: Store, now: datetime, *, limit: int = 50, lease_seconds: float = 120, owner: ClaimOwner | None = None
) -> list[ClaimedAlert]:
    """Claim up to ``limit`` due messages, oldest first, for ``lease_seconds``; a claim is not an attempt.

    Due means ``pending`` with ``next_attempt_at`` reached, or ``sending`` with an
    expired lease (its sender crashed: the message is re-sent under the same id);
    never behind an older message of the same destination that is waiting, and
    never for a paused destination. The claims record ``owner``, the claiming process.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    until = iso(now + timedelta(seconds=lease_seconds))
    holder = (owner.host, owner.pid, owner.started) if owner is not None else (None, None, None)
    claimed: list[ClaimedAlert] = []
    with store.write() as conn:
        for row in conn.execute(_DUE, {"now": iso(now), "limit": limit}).fetchall():
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
                "UPDATE alerts SET status = 'sending', claimed_until = ?, claimed_host = ?,"
                " claimed_pid = ?, claimed_start = ? WHERE id = ?",
                (until, *holder, row["id"]),
            )
            left = tuple(json.loads(row["recipients_left"])) if row["recipients_left"] else None
            claimed.append(
                ClaimedAlert(row["id"], row["destination"], payload, int(row["attempts"]) + 1, row["kind"], left)
            )
    return claimed


def start_attempt(store: Store, alert_id: str) -> int | None:
    """Count an attempt at a claimed message, right before it is posted; its attempts now, None if not claimed."""
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE alerts SET attempts = attempts + 1 WHERE id = ? AND status = 'sending'", (alert_id,)
        )
        if cursor.rowcount == 0:
            return None
        return int(conn.execute("SELECT attempts FROM alerts WHERE id = ?", (alert_id,)).fetchone()[0])


def claim_owners(store: Store, host: str, now: datetime) -> list[ClaimOwner]:
    """The processes on ``host`` that hold claims whose lease has not passed at ``now``."""
    rows = store.query(
        "SELECT DISTINCT claimed_host, claimed_pid, claimed_start FROM alerts WHERE status = 'sending'"
        " AND claimed_until > ? AND claimed_host = ? AND claimed_pid IS NOT NULL AND claimed_start IS NOT NULL",
        [iso(now), host],
    )
    return [ClaimOwner(row["claimed_host"], int(row["claimed_pid"]), row["claimed_start"]) for row in rows]


def expire_claims(store: Store, owner: ClaimOwner, now: datetime) -> int:
    """End the leases ``owner`` holds at ``now`` (it died mid-send), so its messages are due again; how many."""
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE alerts SET claimed_until = ? WHERE status = 'sending' AND claimed_until > ? AND claimed_host = ?"
            " AND claimed_pid = ? AND claimed_start = ?",
            (iso(now), iso(now), owner.host, owner.pid, owner.started),
        )
    return cursor.rowcount


def release(store: Store, alert_ids: Sequence[str]) -> int:
    """Give claimed messages back untried: ``pending`` again, due as before, their attempts unchanged."""
    if not alert_ids:
        return 0
    changed = 0
    with store.write() as conn:
        for alert_id in alert_ids:
            cursor = conn.execute(
                "UPDATE alerts SET status = 'pending', claimed_until = NULL WHERE id = ? AND status = 'sending'",
                (alert_id,),
            )
            changed += cursor.rowcount
    return changed


def mark_delivered(store: Store, alert_id: str, status_code: int | None, now: datetime) -> bool:
    """Record a delivery (a 2xx answer, an SMTP 250; None from Apprise); False if there is no such message."""
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
    recipients_left: Sequence[str] | None = None,
) -> bool:
    """Record a failed attempt: retry at ``next_attempt_at``, or dead-letter it when that is None.

    Only a claimed (``sending``) message changes, so a sender whose lease ran out never
    undoes the delivery another sender recorded meanwhile. ``now`` is when it failed.
    ``recipients_left``: an email its server took for the other recipients; the next
    attempts go to these only (None: the recipients it owed before this attempt).
    """
    status = "dead" if next_attempt_at is None else "pending"
    # A dead message keeps the time it died in ``next_attempt_at``, for the record: it is never due again.
    when = iso(next_attempt_at) if next_attempt_at is not None else iso(now)
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE alerts SET status = ?, claimed_until = NULL, last_status = ?, last_error = ?, next_attempt_at = ?,"
            " recipients_left = COALESCE(?, recipients_left) WHERE id = ? AND status = 'sending'",
            (status, status_code, error[:ERROR_CHARS], when, _json_list(recipients_left), alert_id),
        )
    return cursor.rowcount > 0


def _json_list(items: Sequence[str] | None) -> str | None:
    return None if items is None else json.dumps(list(items), ensure_ascii=False)


_COLUMNS = (
    "id, key, kind, article_id, story_key, destination, payload, status, route, digest_id, attempts,"
    " next_attempt_at, claimed_until, last_status, last_error, created_at, delivered_at, recipients_left"
)


def list_alerts(
    store: Store, status: str | None = None, limit: int = 100, *, destination: str | None = None
) -> list[dict[str, Any]]:
    """The latest outbox rows (newest first), optionally of one status and destination, payloads decoded."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    where, params = ["1 = 1"], []
    if status:
        where.append("status = ?")
        params.append(status)
    if destination:
        where.append("destination = ?")
        params.append(destination)
    rows = store.query(
        f"SELECT {_COLUMNS} FROM alerts WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
        [*params, limit],
    )
    return _decoded(rows)


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        with contextlib.suppress(ValueError):  # else shown as stored; claim_due dead-letters such rows
            row["payload"] = json.loads(row["payload"])
    return rows


def retry(store: Store, alert_ids: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """Make dead (or waiting) messages due now with a fresh attempt count; the rows retried.

    OutboxError, and nothing changed, if one is unknown or must not be re-sent: a
    delivered or digested message (it would arrive twice), one being sent, or one
    waiting for its digest.
    """
    refusals = {
        "delivered": "was delivered; retrying would send it twice",
        "digested": "went out in digest {digest_id}; retry that digest instead",
        "sending": "is being sent right now",
        "held": "waits for its destination's next digest",
    }
    rows: list[dict[str, Any]] = []
    with store.write() as conn:
        for alert_id in alert_ids:
            row = conn.execute("SELECT id, destination, status, digest_id FROM alerts WHERE id = ?", (alert_id,))
            found = row.fetchone()
            if found is None:
                raise OutboxError(f"no alert {alert_id}")
            if found["status"] in refusals:
                reason = refusals[found["status"]].format(digest_id=found["digest_id"])
                raise OutboxError(f"alert {alert_id} {reason}")
            conn.execute(
                "UPDATE alerts SET status = 'pending', attempts = 0, next_attempt_at = ?, claimed_until = NULL"
                " WHERE id = ?",
                (iso(now), alert_id),
            )
            rows.append(dict(found))
    return rows


def dead_ids(store: Store, destination: str | None = None) -> list[str]:
    """The ids of every dead message (of one destination), oldest first."""
    where, params = ("AND destination = ?", [destination]) if destination else ("", [])
    found = store.query(f"SELECT id FROM alerts WHERE status = 'dead' {where} ORDER BY created_at, id", params)
    return [row["id"] for row in found]


# Replay: an article that alerted while a destination was off (its URL empty) left no row for it.
# Its stored matches say whether it alerts there, by the rules' current thresholds and destinations.


@dataclass(frozen=True)
class MissedAlert:
    """A story with no alert at a destination it is owed one at: its earliest published article that alerts there."""

    article_id: int
    verdict: Verdict
    story_id: int
    story_key: str


def missed_alerts(
    store: Store, destination: str, rules: Sequence[RuleSpec], threshold: float, since: datetime | None = None
) -> list[MissedAlert]:
    """The stories matched since ``since`` (ever, if None) that alert at ``destination`` but have no alert there.

    Each story once, earliest published first. The verdict is rebuilt from the stored matches
    (scores, hits, recency gates) with ``threshold`` and the current ``rules``' thresholds and
    destinations; a match of a rule no longer configured counts with the defaults.
    """
    specs = {rule.name: rule for rule in rules}
    rows = store.query(
        "SELECT m.article_id, m.rule, m.score, m.hits, m.weight, m.gate, a.score AS total, s.id AS story_id,"
        " s.key AS story_key FROM matches m JOIN articles a ON a.id = m.article_id JOIN stories s ON s.id = a.story_id"
        " WHERE (:since IS NULL OR m.matched_at >= :since) AND NOT EXISTS (SELECT 1 FROM alerts al"
        " WHERE al.story_key = s.key AND al.destination = :destination AND al.kind = 'alert')"
        " ORDER BY COALESCE(a.published, a.first_seen), a.id, m.id",
        {"since": iso(since), "destination": destination},
    )
    by_article: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_article.setdefault(row["article_id"], []).append(row)
    owed: dict[str, MissedAlert] = {}
    for article_id, found in by_article.items():
        story_key = found[0]["story_key"]
        if story_key in owed:
            continue
        matches = []
        for row in found:
            spec = specs.get(row["rule"])
            hits = tuple(Hit(**hit) for hit in json.loads(row["hits"]))
            matches.append(
                RuleMatch(row["rule"], row["score"], hits, row["weight"], gate=row["gate"],
                          threshold=spec.threshold if spec else None, destinations=spec.destinations if spec else ())
            )  # fmt: skip
        verdict = Verdict(found[0]["total"], threshold, tuple(matches))
        if verdict.alert_destinations([destination]):
            owed[story_key] = MissedAlert(article_id, verdict, found[0]["story_id"], story_key)
    return list(owed.values())


def stored_article(store: Store, article_id: int) -> Article:
    """The stored article ``article_id`` as the pipeline had it (its body empty if pruned)."""
    [row] = store.query(
        f"SELECT {ARTICLE_COLUMNS}, published_from, updated, organisations, text_missing FROM articles WHERE id = ?",
        [article_id],
    )
    return Article(
        url=row["fetched_url"],
        canonical_url=row["url"],
        title=row["title"],
        text=row["text"],
        published=as_utc(datetime.fromisoformat(row["published"])) if row["published"] else None,
        authors=list(json.loads(row["authors"] or "[]")),
        language=row["language"],
        source=row["source"],
        published_from=row["published_from"],
        updated=as_utc(datetime.fromisoformat(row["updated"])) if row["updated"] else None,
        organisations=list(json.loads(row["organisations"] or "[]")),
        text_missing=row["text_missing"],
    )


def queue_missed(store: Store, missed: MissedAlert, destination: str, event: Mapping[str, Any], now: datetime) -> bool:
    """Queue ``event``, the alert ``destination`` missed, with its story filled in; False if the story has one there.

    ``event`` is the ``article.matched`` event the caller built for ``missed``, its id from ``alert_id``.
    """
    with store.write() as conn:
        story = {"key": missed.story_key, "outlets": story_outlets(conn, missed.story_id)}
        queued = queue_story_alert(
            conn, {**event, "story": story}, missed.article_id, missed.story_key, destination, iso(now) or ""
        )
        return queued > 0
