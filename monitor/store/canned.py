"""SQL that other tools run on the store: Datasette's canned queries, the demo's sqlite3 example."""

from __future__ import annotations

import copy

_QUERIES: dict[str, dict[str, str]] = {
    "latest_alerts": {
        "title": "Latest alerts",
        "sql": "SELECT al.created_at, al.destination, al.status, a.title, a.source, a.score, a.url"
        " FROM alerts al JOIN articles a ON a.id = al.article_id ORDER BY al.created_at DESC LIMIT 100",
    },
    "matches_per_rule_per_day": {
        "title": "Matches per rule per day",
        "sql": "SELECT substr(matched_at, 1, 10) AS day, rule, COUNT(*) AS matches FROM matches"
        " GROUP BY day, rule ORDER BY day DESC, matches DESC",
    },
    "stories_by_outlets": {
        "title": "Stories by number of outlets",
        "description": "The same story across outlets (near-duplicates grouped), most widely carried first.",
        "sql": "SELECT s.id, s.title, COUNT(a.id) AS outlets, group_concat(a.source, ', ') AS sources,"
        " s.first_seen, MAX(a.score) AS score FROM stories s JOIN articles a ON a.story_id = s.id"
        " GROUP BY s.id ORDER BY outlets DESC, s.first_seen DESC LIMIT 100",
    },
    "noisy_rules": {
        "title": "Noisy rules",
        "description": "Rules that match often but rarely push an article over the alert threshold.",
        "sql": "SELECT m.rule, COUNT(*) AS matches, SUM(EXISTS (SELECT 1 FROM alerts al"
        " WHERE al.article_id = m.article_id)) AS alerted, ROUND(AVG(m.score), 2) AS avg_score"
        " FROM matches m GROUP BY m.rule ORDER BY matches DESC",
    },
    "failing_sources": {
        "title": "Failing sources",
        "sql": "SELECT source, COUNT(*) AS failed_runs, MAX(started_at) AS last_failure FROM runs"
        " WHERE status = 'failed' GROUP BY source ORDER BY failed_runs DESC",
    },
}


def canned_queries() -> dict[str, dict[str, str]]:
    """Datasette's canned queries, by name: title, optional description, and sql."""
    return copy.deepcopy(_QUERIES)


def shell_example() -> str:
    """A query to try on the store in the sqlite3 shell."""
    return "SELECT source, title, score FROM articles"
