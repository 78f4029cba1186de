"""Source health: tell the operator, once, when a source keeps failing or goes quiet, and when it recovers.

Judged from the ``runs`` table after each crawl. The last judgement per source is
kept in ``source_state``, so a notice goes out on a change only: a source that has
failed for a week raised one notice, not one per run. Notices travel the normal
alert path (outbox rows of kind ``notice`` to every destination not paused).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from monitor.alerts.events import build_source_notice
from monitor.alerts.pause import message_id, paused_destinations
from monitor.config.model import Config, DestinationSpec, SourceSpec
from monitor.store import Store
from monitor.timestamps import iso

log = logging.getLogger("monitor.health")

FAILING_RUNS = 3  # this many failed runs in a row: failing
QUIET_RUNS = 5  # this many successful runs in a row with nothing new ...
BASELINE_RUNS = 20  # ... after runs that brought at least QUIET_BASELINE new articles: quiet
QUIET_BASELINE = 5


def keeps_failing(store: Store, source: str) -> bool:
    """Whether the source's last FAILING_RUNS finished runs all failed."""
    recent = store.query(
        "SELECT status FROM runs WHERE source = ? AND status IN ('ok', 'failed') ORDER BY id DESC LIMIT ?",
        [source, FAILING_RUNS],
    )
    return len(recent) == FAILING_RUNS and all(row["status"] == "failed" for row in recent)


def assess(store: Store, source: SourceSpec) -> tuple[str, str]:
    """The source's health from its recent runs: ("ok" | "failing" | "quiet", why)."""
    if keeps_failing(store, source.name):
        error = store.query(
            "SELECT kind, message FROM run_errors WHERE source = ? ORDER BY id DESC LIMIT 1", [source.name]
        )
        last = f"; last error: {error[0]['kind']}: {error[0]['message']}" if error else ""
        return "failing", f"its last {FAILING_RUNS} runs failed{last}"
    runs = store.query(
        "SELECT new_articles FROM runs WHERE source = ? AND status = 'ok' ORDER BY id DESC LIMIT ?",
        [source.name, QUIET_RUNS + BASELINE_RUNS],
    )
    latest, before = runs[:QUIET_RUNS], runs[QUIET_RUNS:]
    usual = sum(int(row["new_articles"]) for row in before)
    if len(latest) == QUIET_RUNS and all(row["new_articles"] == 0 for row in latest) and usual >= QUIET_BASELINE:
        return "quiet", (
            f"no new article in its last {QUIET_RUNS} runs, after {usual} in the {len(before)} runs before"
        )
    return "ok", "its runs succeed and bring new articles as usual"


def check_sources(store: Store, config: Config, now: datetime, names: Sequence[str] = ()) -> list[str]:
    """Judge each source (or those named) and queue a notice for every change; the notices' ids."""
    moment = iso(now) or ""
    paused = paused_destinations(store)
    targets = [d for d in config.alerts.destinations if d.enabled and d.name not in paused]
    queued: list[str] = []
    for source in config.sources:
        if not source.enabled or (names and source.name not in names):
            continue
        health, reason = assess(store, source)
        with store.write() as conn:
            row = conn.execute("SELECT health FROM source_state WHERE name = ?", (source.name,)).fetchone()
            before = row["health"] if row is not None else "ok"
            if health == before:
                continue
            conn.execute(
                "INSERT INTO source_state (name, health, reason, since, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET health = excluded.health, reason = excluded.reason,"
                " since = excluded.since, updated_at = excluded.updated_at",
                (source.name, health, reason, moment, moment),
            )
            queued += _queue(conn, targets, source.name, health, reason, moment)
        level = logging.INFO if health == "ok" else logging.WARNING
        log.log(level, "source %s is now %s: %s", source.name, health, reason)
    return queued


def _queue(
    conn: sqlite3.Connection, targets: Sequence[DestinationSpec], source: str, health: str, reason: str, moment: str
) -> list[str]:
    ids = []
    for destination in targets:
        key = f"notice:source:{source}:{health}:{moment}|destination:{destination.name}"
        notice_id = message_id("notice", key)
        event = build_source_notice(notice_id, source, health=health, reason=reason, since=moment)
        conn.execute(
            "INSERT OR IGNORE INTO alerts (id, key, kind, destination, payload, next_attempt_at, created_at)"
            " VALUES (?, ?, 'notice', ?, ?, ?, ?)",
            (notice_id, key, destination.name, json.dumps(event, ensure_ascii=False), moment, moment),
        )
        ids.append(notice_id)
    return ids
