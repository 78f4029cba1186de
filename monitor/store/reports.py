"""What the operator reads about the store: runs, the outbox, periods, the archive, the file's size.

Read-only queries behind ``monitor status``, the health endpoint, ``monitor report``,
``monitor rules test`` and the demo's summary. Each returns plain rows or values;
the callers shape them for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.store.connection import Store
from monitor.timestamps import iso

# The article columns ``monitor rules test`` scores against.
ARTICLE_COLUMNS = "id, url, fetched_url, source, title, text, published, authors, language, first_seen"


def last_runs(store: Store) -> dict[str, dict[str, Any]]:
    """The latest finished-or-running (not skipped) run of each source."""
    rows = store.query(
        "SELECT r.* FROM runs r JOIN (SELECT source, MAX(id) AS id FROM runs WHERE status != 'skipped'"
        " GROUP BY source) latest ON latest.id = r.id"
    )
    return {row["source"]: row for row in rows}


# The states of an outbox message as the operator sees them: ``retrying`` is a pending message that
# failed before and waits for its next attempt, ``pending`` one not tried yet; each row is in one state.
OUTBOX_STATES = ("pending", "retrying", "sending", "held", "delivered", "digested", "dead")
WAITING_STATES = ("pending", "retrying", "sending")  # not yet delivered, and not set aside for a digest


def outbox_counts(store: Store) -> dict[str, dict[str, int]]:
    """Messages per destination in each of OUTBOX_STATES (every state present, zeros included)."""
    counts: dict[str, dict[str, int]] = {}
    for row in store.query(
        "SELECT destination, CASE WHEN status = 'pending' AND attempts > 0 THEN 'retrying' ELSE status END AS state,"
        " COUNT(*) AS n FROM alerts GROUP BY destination, state"
    ):
        counts.setdefault(row["destination"], dict.fromkeys(OUTBOX_STATES, 0))[row["state"]] = int(row["n"])
    return counts


def outbox_totals(counts: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """``outbox_counts`` (or some of its destinations) summed per state, with ``waiting``: the WAITING_STATES."""
    totals = {state: sum(per.get(state, 0) for per in counts.values()) for state in OUTBOX_STATES}
    totals["waiting"] = sum(totals[state] for state in WAITING_STATES)
    return totals


def last_success_at(store: Store) -> str | None:
    """When the last successful run of any source finished."""
    at = store.query("SELECT MAX(finished_at) AS at FROM runs WHERE status = 'ok'")[0]["at"]
    return str(at) if at else None


def first_run_started_at(store: Store) -> str | None:
    """When the first recorded run started (None before any run)."""
    at = store.query("SELECT MIN(started_at) AS at FROM runs")[0]["at"]
    return None if at is None else str(at)


def outbox_backlog(store: Store) -> int:
    """How many alerts wait to be sent or are being sent."""
    return int(store.query("SELECT COUNT(*) AS n FROM alerts WHERE status IN ('pending', 'sending')")[0]["n"])


def article_count(store: Store) -> int:
    """How many articles the store holds."""
    return int(store.query("SELECT COUNT(*) AS n FROM articles")[0]["n"])


def store_size(store: Store) -> int:
    """Bytes on disk: the database and its write-ahead log."""
    path = store.path
    return sum(p.stat().st_size for p in (Path(path), Path(path + "-wal")) if p.exists())


def _period(since: datetime, until: datetime) -> dict[str, Any]:
    return {"since": iso(since), "until": iso(until)}


def period_articles(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    """Articles first seen in [since, until): how many (new), and how many matched a rule (scored)."""
    return store.query(
        "SELECT COUNT(*) AS new, COALESCE(SUM(score > 0), 0) AS scored FROM articles"
        " WHERE first_seen >= :since AND first_seen < :until",
        _period(since, until),
    )[0]


def period_rules(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per rule matching in [since, until): matches, average score, articles alerted; busiest first."""
    # EXISTS, not a join: an article alerted to two destinations is still one match (a rule matches an article once).
    return store.query(
        "SELECT m.rule, COUNT(*) AS matches, ROUND(AVG(m.score), 2) AS avg_score,"
        " SUM(EXISTS (SELECT 1 FROM alerts al WHERE al.article_id = m.article_id)) AS alerted_articles"
        " FROM matches m"
        " WHERE m.matched_at >= :since AND m.matched_at < :until GROUP BY m.rule ORDER BY matches DESC, m.rule",
        _period(since, until),
    )


def period_sources(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per source, the (not skipped) runs started in [since, until) and their summed counters."""
    return store.query(
        "SELECT r.source, COUNT(*) AS runs, SUM(r.status = 'failed') AS failed_runs, SUM(r.pages) AS pages,"
        " SUM(r.new_articles) AS new_articles, SUM(r.matches) AS matches, SUM(r.alerts_queued) AS alerts,"
        " SUM(r.errors) AS errors FROM runs r"
        " WHERE r.started_at >= :since AND r.started_at < :until AND r.status != 'skipped'"
        " GROUP BY r.source ORDER BY r.source",
        _period(since, until),
    )


def period_top_stories(store: Store, since: datetime, until: datetime, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` best-scored articles first seen in [since, until), with their rules and alerts."""
    return store.query(
        "SELECT a.title, a.source, a.score, a.published, a.url,"
        " (SELECT group_concat(m.rule, ', ') FROM matches m WHERE m.article_id = a.id) AS rules,"
        " (SELECT group_concat(al.destination || ':' || al.status, ' ') FROM alerts al"
        "   WHERE al.article_id = a.id) AS alerts"
        " FROM articles a WHERE a.first_seen >= :since AND a.first_seen < :until AND a.score > 0"
        " ORDER BY a.score DESC, a.id LIMIT :top",
        {**_period(since, until), "top": limit},
    )


def period_delivery(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Alerts created in [since, until) per destination and status."""
    return store.query(
        "SELECT destination, status, COUNT(*) AS alerts FROM alerts"
        " WHERE created_at >= :since AND created_at < :until GROUP BY destination, status"
        " ORDER BY destination, status",
        _period(since, until),
    )


def period_rule_days(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Matches recorded in [since, until) per UTC day and rule: day (YYYY-MM-DD), rule, matches; by day, then rule."""
    return store.query(
        "SELECT substr(matched_at, 1, 10) AS day, rule, COUNT(*) AS matches FROM matches"
        " WHERE matched_at >= :since AND matched_at < :until GROUP BY day, rule ORDER BY day, rule",
        _period(since, until),
    )


def period_story_reach(store: Store, since: datetime, until: datetime, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` matched stories with an article first seen in [since, until) carried by the most outlets.

    A story's outlets are the distinct sources of all its articles; ties go to the newer story.
    """
    return store.query(
        "SELECT s.id, s.title, COUNT(DISTINCT a.source) AS outlets, group_concat(DISTINCT a.source) AS sources,"
        " MAX(a.score) AS score, s.first_seen FROM stories s JOIN articles a ON a.story_id = s.id"
        " WHERE s.id IN (SELECT story_id FROM articles WHERE first_seen >= :since AND first_seen < :until)"
        " GROUP BY s.id HAVING MAX(a.score) > 0 ORDER BY outlets DESC, s.first_seen DESC, s.id LIMIT :top",
        {**_period(since, until), "top": limit},
    )


# Delivery latency buckets: (upper bound in seconds, exclusive, or None for the last; label).
LATENCY_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (10, "< 10 s"),
    (60, "10 s – 1 min"),
    (300, "1 – 5 min"),
    (3600, "5 min – 1 h"),
    (86400, "1 h – 1 day"),
    (None, "≥ 1 day"),
)


def period_delivery_latency(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Alerts created in [since, until) and delivered, per destination and LATENCY_BUCKETS label.

    Latency runs from queueing the alert to its delivery, or to its digest's delivery for a
    digested one. Rows: destination, bucket (the label), alerts; by destination, then bucket order.
    """
    cases = " ".join(
        f"WHEN seconds < {bound} THEN {index}" for index, (bound, _) in enumerate(LATENCY_BUCKETS) if bound is not None
    )
    rows = store.query(
        f"SELECT destination, CASE {cases} ELSE {len(LATENCY_BUCKETS) - 1} END AS bucket, COUNT(*) AS alerts"
        " FROM (SELECT al.destination,"
        "   ROUND((julianday(COALESCE(al.delivered_at, d.delivered_at)) - julianday(al.created_at)) * 86400) AS seconds"
        "   FROM alerts al LEFT JOIN alerts d ON d.id = al.digest_id AND d.status = 'delivered'"
        "   WHERE al.kind = 'alert' AND al.created_at >= :since AND al.created_at < :until"
        "   AND COALESCE(al.delivered_at, d.delivered_at) IS NOT NULL)"
        " GROUP BY destination, bucket ORDER BY destination, bucket",
        _period(since, until),
    )
    return [
        {"destination": row["destination"], "bucket": LATENCY_BUCKETS[row["bucket"]][1], "alerts": row["alerts"]}
        for row in rows
    ]


def rule_match_scores(store: Store, rule: str) -> dict[int, float]:
    """The stored matches of ``rule``: article id -> score."""
    return {
        row["article_id"]: row["score"]
        for row in store.query("SELECT article_id, score FROM matches WHERE rule = ?", (rule,))
    }


def articles_since(store: Store, cutoff: datetime | None) -> list[dict[str, Any]]:
    """Stored articles (ARTICLE_COLUMNS) published (or first seen) since ``cutoff`` (all if None), newest first."""
    where, params = "", []
    if cutoff is not None:
        moment = cutoff.astimezone(UTC).isoformat(timespec="seconds")
        where, params = " WHERE COALESCE(published, first_seen) >= ?", [moment]
    return store.query(
        f"SELECT {ARTICLE_COLUMNS} FROM articles{where} ORDER BY COALESCE(published, first_seen) DESC", params
    )


def unalerted_articles(store: Store) -> list[dict[str, Any]]:
    """Articles whose story raised no alert (title, score, source, fetched_url), by source and title."""
    return store.query(
        "SELECT title, score, source, fetched_url FROM articles WHERE story_id NOT IN "
        "(SELECT s.id FROM stories s JOIN alerts al ON al.story_key = s.key) ORDER BY source, title"
    )
