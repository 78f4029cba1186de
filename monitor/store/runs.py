"""Sources, crawl runs and their errors: the ``sources``, ``runs`` and ``run_errors`` tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.config import SourceSpec
from monitor.store.connection import Store
from monitor.timestamps import iso, utcnow


def sync_sources(store: Store, sources: Sequence[SourceSpec]) -> None:
    """Record the configured sources, so queries can join on them."""
    now = iso(utcnow())
    with store.write() as conn:
        for source in sources:
            conn.execute(
                "INSERT INTO sources (name, type, url, interval_seconds, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET type = excluded.type, url = excluded.url,"
                " interval_seconds = excluded.interval_seconds, updated_at = excluded.updated_at",
                (source.name, source.type, source.url, source.interval_seconds, now),
            )


def start_run(store: Store, source: str, now: datetime | None = None) -> int:
    """Open a run record for ``source``; returns its id."""
    with store.write() as conn:
        cursor = conn.execute("INSERT INTO runs (source, started_at) VALUES (?, ?)", (source, iso(now or utcnow())))
        return int(cursor.lastrowid or 0)


# The counters a run row keeps, written as the run goes (update_run_counts) and when it ends (finish_run).
RUN_COUNTERS = ("pages", "new_articles", "updated_articles", "matches", "alerts_queued", "errors")


def update_run_counts(store: Store, run_id: int, counts: Mapping[str, int | None]) -> None:
    """Write a running run's counters so far, so status shows a long crawl's progress; a closed run is left alone."""
    with store.write() as conn:
        conn.execute(
            "UPDATE runs SET " + ", ".join(f"{c} = ?" for c in RUN_COUNTERS) + " WHERE id = ? AND status = 'running'",
            (*(int(counts.get(c) or 0) for c in RUN_COUNTERS), run_id),
        )


def finish_run(
    store: Store, run_id: int, counts: Mapping[str, int | None], status: str, now: datetime | None = None
) -> None:
    """Close a run record with its counters ("pages", "new_articles", ...; "median_age_seconds") and status."""
    with store.write() as conn:
        conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, median_age_seconds = ?, "
            + ", ".join(f"{c} = ?" for c in RUN_COUNTERS)
            + " WHERE id = ?",
            (
                iso(now or utcnow()),
                status,
                counts.get("median_age_seconds"),
                *(int(counts.get(c) or 0) for c in RUN_COUNTERS),
                run_id,
            ),
        )


def record_error(store: Store, run_id: int | None, source: str, url: str | None, kind: str, message: str) -> None:
    """Keep one error of a run (a dead source, a hostile page) so it can be reviewed later."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO run_errors (run_id, source, url, kind, message, at) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, source, url, kind, message[:2000], iso(utcnow())),
        )


def fail_open_runs(store: Store, sources: Sequence[str], reason: str, *, record_crash: bool = True) -> int:
    """Close runs a dead crawl process left open, so status never shows a crawl running forever.

    Only for sources whose leases the caller holds (``monitor.processes.SourceLeases``):
    then no live process is crawling them, and no live crawl's run is closed.
    With ``record_crash``, a source whose crawl died before opening a run still gets a
    ``crash`` row in run_errors, so the failure is never silent.
    """
    if not sources:
        return 0
    marks = ",".join("?" * len(sources))
    now = iso(utcnow())
    with store.write() as conn:
        open_runs = conn.execute(
            f"SELECT id, source FROM runs WHERE status = 'running' AND source IN ({marks})", tuple(sources)
        ).fetchall()
        for run_id, source in open_runs:
            conn.execute(
                "UPDATE runs SET status = 'failed', finished_at = ?, errors = errors + 1 WHERE id = ?", (now, run_id)
            )
            conn.execute(
                "INSERT INTO run_errors (run_id, source, url, kind, message, at) VALUES (?, ?, NULL, 'crash', ?, ?)",
                (run_id, source, reason, now),
            )
        closed = {source for _, source in open_runs}
        for source in sources if record_crash else ():
            if source not in closed:
                conn.execute(
                    "INSERT INTO run_errors (run_id, source, url, kind, message, at) VALUES (NULL, ?, NULL, 'crash',"
                    " ?, ?)",
                    (source, reason, now),
                )
    return len(open_runs)


LEFT_OPEN = "the monitor stopped during this crawl"


def close_left_open(store: Store, sources: Sequence[str]) -> int:
    """Close the ``running`` runs of ``sources``, whose leases the caller holds: their processes are gone; how many."""
    return fail_open_runs(store, sources, LEFT_OPEN, record_crash=False)


def record_skipped_run(store: Store, source: str, now: datetime | None = None) -> None:
    """Keep a skipped slot of ``source`` as a run with status ``skipped``."""
    moment = iso(now or utcnow())
    with store.write() as conn:
        conn.execute(
            "INSERT INTO runs (source, started_at, finished_at, status) VALUES (?, ?, ?, 'skipped')",
            (source, moment, moment),
        )


def has_finished_run(store: Store, source: str) -> bool:
    """Whether ``source`` has a run that ended (ok or failed) in this store: whether anything of it was read before."""
    row = store.query("SELECT 1 AS found FROM runs WHERE source = ? AND status IN ('ok', 'failed') LIMIT 1", (source,))
    return bool(row)
