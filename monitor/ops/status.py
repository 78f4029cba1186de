"""How the monitor is doing, read from the store: per-source runs, the outbox, the store's size.

Everything here is derived from the ``runs`` and ``alerts`` tables, so ``monitor
status`` tells the truth about a ``monitor serve`` running in another process,
and the schedule resumes from the same facts after a restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config.model import Config, SourceSpec
from monitor.runs.source_health import keeps_failing
from monitor.store import Store
from monitor.timestamps import iso, utcnow


def last_runs(store: Store) -> dict[str, dict[str, Any]]:
    """The latest finished-or-running (not skipped) run of each source."""
    rows = store.query(
        "SELECT r.* FROM runs r JOIN (SELECT source, MAX(id) AS id FROM runs WHERE status != 'skipped'"
        " GROUP BY source) latest ON latest.id = r.id"
    )
    return {row["source"]: row for row in rows}


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


def source_health(store: Store, source: SourceSpec, last: dict[str, Any] | None, now: datetime) -> str:
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
                "health": source_health(store, source, last, moment),
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


def outbox_status(store: Store) -> list[dict[str, Any]]:
    """Alerts per destination and status (pending, sending, delivered, dead)."""
    rows = store.query(
        "SELECT destination, status, COUNT(*) AS n, SUM(attempts > 0 AND status = 'pending') AS retrying"
        " FROM alerts GROUP BY destination, status"
    )
    table: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = table.setdefault(
            row["destination"],
            {"destination": row["destination"], "pending": 0, "retrying": 0, "sending": 0, "delivered": 0, "dead": 0},
        )
        entry[row["status"]] = entry.get(row["status"], 0) + row["n"]
        entry["retrying"] += int(row["retrying"] or 0)
    return sorted(table.values(), key=lambda e: e["destination"])


def last_success(store: Store) -> str | None:
    """When the last successful run of any source finished."""
    at = store.query("SELECT MAX(finished_at) AS at FROM runs WHERE status = 'ok'")[0]["at"]
    return str(at) if at else None


def store_size(path: str) -> int:
    """Bytes on disk: the database and its write-ahead log."""
    return sum(p.stat().st_size for p in (Path(path), Path(path + "-wal")) if p.exists())


def status_report(store: Store, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``monitor status`` shows, as one JSON-ready dict."""
    moment = now or utcnow()
    successes = last_success(store)
    return {
        "now": iso(moment),
        "sources": sources_status(store, config, moment),
        "alerts": outbox_status(store),
        "last_successful_run": successes,
        "articles": store.query("SELECT COUNT(*) AS n FROM articles")[0]["n"],
        "store_bytes": store_size(store.path),
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
