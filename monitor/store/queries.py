"""Read the store: full-text search and matches, as plain rows ready for any output format."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.errors import MonitorError
from monitor.store.connection import Store
from monitor.timestamps import iso


class SearchError(MonitorError):
    """A search the store cannot run (usually a full-text query syntax error)."""


@dataclass(frozen=True)
class Filters:
    """What every query command can narrow by. Times are when the monitor caught the article."""

    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    rule: str | None = None
    min_score: float | None = None

    def where(self, caught: str, score: str, rule_clause: str) -> tuple[list[str], dict[str, Any]]:
        """SQL conditions and parameters, given the columns that hold the time, the score and the rule."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.since is not None:
            clauses.append(f"{caught} >= :since")
            params["since"] = iso(self.since)
        if self.until is not None:
            clauses.append(f"{caught} < :until")
            params["until"] = iso(self.until)
        if self.source:
            clauses.append("a.source = :source")
            params["source"] = self.source
        if self.rule:
            clauses.append(rule_clause)
            params["rule"] = self.rule
        if self.min_score is not None:
            clauses.append(f"{score} >= :min_score")
            params["min_score"] = self.min_score
        return clauses, params


def search(store: Store, query: str, *, filters: Filters = Filters(), limit: int = 20) -> list[dict[str, Any]]:
    """Articles matching an FTS5 ``query`` (words, "phrases", AND/OR/NOT, prefix*), best first."""
    clauses, params = filters.where(
        "a.first_seen", "a.score", "EXISTS (SELECT 1 FROM matches m WHERE m.article_id = a.id AND m.rule = :rule)"
    )
    sql = f"""
        SELECT a.id, a.published, a.source, a.title, a.score,
               snippet(articles_fts, 1, '**', '**', '…', 16) AS snippet, a.url
        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
        WHERE {" AND ".join(["articles_fts MATCH :query", *clauses])}
        ORDER BY bm25(articles_fts, 3.0, 1.0) LIMIT :limit
    """
    try:
        return store.query(sql, {**params, "query": query, "limit": limit})
    except sqlite3.OperationalError as error:
        raise SearchError(f"cannot search for {query!r}: {error}") from None


def matches(store: Store, *, filters: Filters = Filters(), limit: int = 50) -> list[dict[str, Any]]:
    """Rule matches, newest first, with the article, the terms that hit, where alerts went and any recency gate."""
    clauses, params = filters.where("m.matched_at", "m.score", "m.rule = :rule")
    sql = f"""
        SELECT m.matched_at, m.rule, m.score AS rule_score, a.score AS article_score, a.source, a.title,
               m.hits, a.url,
               (SELECT group_concat(al.destination || ':' || al.status, ' ')
                  FROM alerts al WHERE al.article_id = a.id) AS alerts,
               m.gate
        FROM matches m JOIN articles a ON a.id = m.article_id
        WHERE {" AND ".join(clauses or ["1 = 1"])}
        ORDER BY m.matched_at DESC, m.score DESC, m.id DESC LIMIT :limit
    """
    rows = store.query(sql, {**params, "limit": limit})
    for row in rows:
        hits = json.loads(row.pop("hits"))
        row["terms"] = ", ".join(f"{h['term']} ({h['field']} ×{h['count']})" for h in hits)
    return rows


def stories(store: Store, *, filters: Filters = Filters(), limit: int = 50) -> list[dict[str, Any]]:
    """Stories (the same wire story across outlets), newest first: lead headline, outlets, alert status."""
    clauses, params = filters.where(
        "s.first_seen",
        "a.score",
        "EXISTS (SELECT 1 FROM matches m JOIN articles o ON o.id = m.article_id"
        " WHERE o.story_id = s.id AND m.rule = :rule)",
    )
    if filters.source:  # any outlet of the story, not only its lead
        clauses.remove("a.source = :source")
        clauses.append("EXISTS (SELECT 1 FROM articles o WHERE o.story_id = s.id AND o.source = :source)")
    sql = f"""
        SELECT s.id, s.first_seen, s.title, a.source AS lead_source, a.score,
               (SELECT COUNT(*) FROM articles o WHERE o.story_id = s.id) AS outlets,
               (SELECT group_concat(source, ', ') FROM (SELECT o.source FROM articles o WHERE o.story_id = s.id
                  ORDER BY COALESCE(o.published, o.first_seen), o.id)) AS sources,
               (SELECT group_concat(al.destination || ':' || al.status, ' ') FROM alerts al
                  WHERE al.story_key = s.key AND al.kind = 'alert') AS alerts,
               a.url
        FROM stories s JOIN articles a ON a.id = s.lead_article_id
        WHERE {" AND ".join(clauses or ["1 = 1"])}
        ORDER BY s.first_seen DESC, s.id DESC LIMIT :limit
    """
    return store.query(sql, {**params, "limit": limit})
