"""Read the store: full-text search and matches, as plain rows ready for any output format."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from monitor.errors import MonitorError
from monitor.store import Store, iso


class QueryError(MonitorError):
    """A search the store cannot run (usually a full-text query syntax error)."""


def search(
    store: Store, query: str, *, limit: int = 20, since: datetime | None = None, source: str | None = None
) -> list[dict[str, Any]]:
    """Articles matching an FTS5 ``query`` (words, "phrases", AND/OR/NOT, prefix*), best first."""
    where = ["articles_fts MATCH :query"]
    params: dict[str, Any] = {"query": query, "limit": limit}
    if since is not None:
        where.append("a.first_seen >= :since")
        params["since"] = iso(since)
    if source:
        where.append("a.source = :source")
        params["source"] = source
    sql = f"""
        SELECT a.id, a.published, a.source, a.title, a.score,
               snippet(articles_fts, 1, '**', '**', '…', 16) AS snippet, a.url
        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
        WHERE {" AND ".join(where)}
        ORDER BY bm25(articles_fts, 3.0, 1.0) LIMIT :limit
    """
    try:
        return store.query(sql, params)
    except sqlite3.OperationalError as error:
        raise QueryError(f"cannot search for {query!r}: {error}") from None


def matches(
    store: Store, *, since: datetime | None = None, rule: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Rule matches, newest first, with the article and the terms that hit."""
    where = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    if since is not None:
        where.append("m.matched_at >= :since")
        params["since"] = iso(since)
    if rule:
        where.append("m.rule = :rule")
        params["rule"] = rule
    sql = f"""
        SELECT m.matched_at, m.rule, m.score AS rule_score, a.score AS article_score, a.source, a.title,
               m.hits, a.url,
               (SELECT group_concat(al.destination || ':' || al.status, ' ')
                  FROM alerts al WHERE al.article_id = a.id) AS alerts
        FROM matches m JOIN articles a ON a.id = m.article_id
        WHERE {" AND ".join(where)}
        ORDER BY m.matched_at DESC, m.score DESC, m.id DESC LIMIT :limit
    """
    rows = store.query(sql, params)
    for row in rows:
        hits = json.loads(row.pop("hits"))
        row["terms"] = ", ".join(f"{h['term']} ({h['field']} ×{h['count']})" for h in hits)
    return rows
