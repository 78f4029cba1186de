"""How the monitor is doing, read from the store: per-source runs, the outbox, the store's size.

Everything here is derived from the ``runs`` and ``alerts`` tables, so ``monitor
status`` tells the truth about a ``monitor serve`` running in another process,
and the schedule resumes from the same facts after a restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from monitor.config import Config, SourceSpec
from monitor.runs import keeps_failing
from monitor.store import Store
from monitor.store.destinations import paused_destinations
from monitor.store.reports import OUTBOX_STATES, article_count, last_runs, last_success_at, outbox_counts, store_size
from monitor.timestamps import iso, utcnow


def next_run(source: SourceSpec, last: dict[str, Any] | None, now: datetime) -> datetime:
    """When ``source`` is due: one interval after its last start, or now if that has passed (coalesced)."""
    if last is None:
        return now
    started = datetime.fromisoformat(last["started_at"])
    if source.cron:
        due = source.trigger().get_next_fire_time(None, started + timedelta(seconds=1)) or now
    else:
        due = started + timedelta(seconds=source.interval_seconds)
    return max(due, now)


def run_condition(store: Store, source: SourceSpec, last: dict[str, Any] | None, now: datetime) -> str:
    """ok, failing (the last few runs failed), stale (overdue by three intervals), never-run or disabled."""
    if not source.enabled:
        return "disabled"
    if last is None:
        return "never-run"
    if keeps_failing(store, source.name):
        return "failing"
    started = datetime.fromisoformat(last["started_at"])
    if now - started > timedelta(seconds=3 * source.interval_seconds + 60):
        return "stale"
    return "ok" if last["status"] in ("ok", "running") else "failed-last"


def sources_status(store: Store, config: Config, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per configured source: last run, next run, health."""
    moment = now or utcnow()
    runs = last_runs(store)
    rows = []
    for source in config.sources:
        last = runs.get(source.name)
        duration = None
        if last and last["finished_at"]:
            started, finished = (datetime.fromisoformat(last[k]) for k in ("started_at", "finished_at"))
            duration = round((finished - started).total_seconds(), 1)
        rows.append(
            {
                "source": source.name,
                "health": run_condition(store, source, last, moment),
                "last_run": last["started_at"] if last else None,
                "last_status": last["status"] if last else None,
                "seconds": duration,
                "pages": last["pages"] if last else None,
                "new_articles": last["new_articles"] if last else None,
                "errors": last["errors"] if last else None,
                "median_age": _age(last.get("median_age_seconds")) if last else None,
                "next_run": iso(next_run(source, last, moment)) if source.enabled else None,
            }
        )
    return rows


def outbox_status(store: Store, config: Config) -> list[dict[str, Any]]:
    """One row per destination (configured, or with messages stored): on, off, paused or not configured; its messages.

    The counts are the store's: each message is in one of OUTBOX_STATES, so a row adds up
    to the destination's messages (``retrying`` ones are not also ``pending``).
    """
    counts = outbox_counts(store)
    paused = paused_destinations(store)
    configured = {d.name: d for d in config.alerts.destinations}
    rows = []
    for name in sorted(configured.keys() | counts.keys() | paused.keys()):
        spec, pause = configured.get(name), paused.get(name)
        state = "not configured" if spec is None else "off" if not spec.enabled else "paused" if pause else "on"
        rows.append(
            {
                "destination": name,
                "state": state,
                **counts.get(name, dict.fromkeys(OUTBOX_STATES, 0)),
                "paused_at": pause["paused_at"] if pause else None,
                "paused_reason": pause["paused_reason"] if pause else None,
            }
        )
    return rows


def status_report(store: Store, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``monitor status`` shows, as one JSON-ready dict."""
    moment = now or utcnow()
    successes = last_success_at(store)
    return {
        "now": iso(moment),
        "sources": sources_status(store, config, moment),
        "alerts": outbox_status(store, config),
        "last_successful_run": successes,
        "articles": article_count(store),
        "store_bytes": store_size(store),
    }


def _age(seconds: int | None) -> str | None:
    """A median article age for people: 45m, 6h, 3d."""
    if seconds is None:
        return None
    if seconds < 3600:
        return f"{round(seconds / 60)}m"
    if seconds < 86400:
        return f"{round(seconds / 3600)}h"
    return f"{round(seconds / 86400)}d"
