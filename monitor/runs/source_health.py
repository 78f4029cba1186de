"""Source health: tell the operator, once, when a source keeps failing or goes quiet, and when it recovers.

Judged from the ``runs`` table after each crawl; a source is called quiet only against
a history of many runs or several days. The last judgement per source is
kept in ``source_state``, so a notice goes out on a change only: a source that has
failed for a week raised one notice, not one per run. Notices travel the normal
alert path (outbox rows of kind ``notice`` to every destination not paused).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.alerts import build_source_notice, message_id
from monitor.config import Config, DestinationSpec, SourceSpec
from monitor.store import Store
from monitor.store.destinations import paused_destinations
from monitor.store.outbox import queue_notice
from monitor.store.source_state import (
    last_finished_statuses,
    last_run_error,
    recent_successful_runs,
    record_health,
    stored_health,
)
from monitor.timestamps import iso

log = logging.getLogger("monitor.health")

FAILING_RUNS = 3  # this many failed runs in a row: failing
QUIET_RUNS = 5  # this many successful runs in a row with nothing new ...
BASELINE_RUNS = 20  # ... after runs (this many at most) that brought at least QUIET_BASELINE new articles: quiet,
QUIET_BASELINE = 5
# ... but only against a history: a source tried for a few minutes has no usual volume to fall below.
HISTORY_RUNS = 10  # at least this many successful runs before the silence,
HISTORY_AGE = timedelta(days=3)  # or runs before it going back at least this long


def keeps_failing(store: Store, source: str) -> bool:
    """Whether the source's last FAILING_RUNS finished runs all failed."""
    recent = last_finished_statuses(store, source, FAILING_RUNS)
    return len(recent) == FAILING_RUNS and all(status == "failed" for status in recent)


def assess(store: Store, source: SourceSpec, now: datetime) -> tuple[str, str]:
    """The source's health from its recent runs, as of ``now``: ("ok" | "failing" | "quiet", why)."""
    if keeps_failing(store, source.name):
        error = last_run_error(store, source.name)
        last = f"; last error: {error['kind']}: {error['message']}" if error else ""
        return "failing", f"its last {FAILING_RUNS} runs failed{last}"
    runs = recent_successful_runs(store, source.name, QUIET_RUNS + BASELINE_RUNS)
    latest, before = runs[:QUIET_RUNS], runs[QUIET_RUNS:]
    usual = sum(count for count, _ in before)
    silent = len(latest) == QUIET_RUNS and all(count == 0 for count, _ in latest)
    if silent and usual >= QUIET_BASELINE and _is_history(before, now):
        earlier = "the run" if len(before) == 1 else f"the {len(before)} runs"
        return "quiet", f"no new article in its last {QUIET_RUNS} runs, though {earlier} before them brought {usual}"
    return "ok", "its runs succeed and bring new articles as usual"


def _is_history(runs: Sequence[tuple[int, str]], now: datetime) -> bool:
    """Whether ``runs`` (newest first, with their start) are enough to know a source's usual volume."""
    return len(runs) >= HISTORY_RUNS or (bool(runs) and runs[-1][1] <= (iso(now - HISTORY_AGE) or ""))


def check_sources(store: Store, config: Config, now: datetime, names: Sequence[str] = ()) -> list[str]:
    """Judge each source (or those named) and queue a notice for every change; the notices' ids."""
    moment = iso(now) or ""
    paused = paused_destinations(store)
    targets = [d for d in config.alerts.destinations if d.enabled and d.name not in paused]
    queued: list[str] = []
    for source in config.sources:
        if not source.enabled or (names and source.name not in names):
            continue
        health, reason = assess(store, source, now)
        with store.write() as conn:
            stored = stored_health(conn, source.name)
            before = stored if stored is not None else "ok"
            if health == before:
                continue
            record_health(conn, source.name, health, reason, moment)
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
        queue_notice(conn, notice_id, key, destination.name, event, moment)
        ids.append(notice_id)  # listed even when it was queued already (the insert is ignored), as before
    return ids
