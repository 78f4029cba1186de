"""Read the store: full-text search, matches, stories and run errors, as rows of JSON-ready values."""

from __future__ import annotations

import json
import re
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


# An FTS5 query's pieces: a "phrase" (its quotes doubled inside), or a run of anything else but brackets.
_FTS_PIECES = re.compile(r'"(?:[^"]|"")*"?|[^\s"(),:*^+]+')
_OPERATORS = ("AND", "OR", "NOT", "NEAR")


def check_query(query: str) -> None:
    """SearchError for an operator written in lower case, which FTS5 would take for a word: refused, as in rules."""
    for piece in _FTS_PIECES.finditer(query):
        word = piece.group()
        if word.upper() in _OPERATORS and word != word.upper():
            raise SearchError(
                f"cannot search for {query!r}: {word!r} at column {piece.start() + 1}: operators are upper-case"
                f' ({word.upper()}); quote it ("{word}") to search for the word'
            )


def search(store: Store, query: str, *, filters: Filters = Filters(), limit: int = 20) -> list[dict[str, Any]]:
    """Articles matching an FTS5 ``query`` (words, "phrases", AND/OR/NOT, prefix*), best first.

    SearchError for a query FTS5 cannot parse, and for a lower-case operator (``nato or
    ukraine``), which FTS5 would silently search for as a word.
    """
    check_query(query)
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
    """Rule matches, newest first: the article, its hits (term, field, count, points, snippet), alerts and gate.

    ``hits`` is a list of objects and ``alerts`` a list of ``{"destination", "status"}``,
    by destination.
    """
    clauses, params = filters.where("m.matched_at", "m.score", "m.rule = :rule")
    sql = f"""
        SELECT m.matched_at, m.rule, m.score AS rule_score, a.score AS article_score, a.source, a.title, a.url,
               (SELECT json_group_array(json_object('destination', al.destination, 'status', al.status))
                  FROM (SELECT destination, status FROM alerts WHERE article_id = a.id ORDER BY destination) al)
                 AS alerts,
               m.gate, m.hits
        FROM matches m JOIN articles a ON a.id = m.article_id
        WHERE {" AND ".join(clauses or ["1 = 1"])}
        ORDER BY m.matched_at DESC, m.score DESC, m.id DESC LIMIT :limit
    """
    rows = store.query(sql, {**params, "limit": limit})
    for row in rows:
        row["alerts"] = json.loads(row["alerts"])
        row["hits"] = json.loads(row["hits"])
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


def run_errors(
    store: Store, *, source: str | None = None, since: datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """What went wrong during crawls, newest first: when, the source and its run, the kind, the URL and the message."""
    clauses: list[str] = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    if source:
        clauses.append("e.source = :source")
        params["source"] = source
    if since is not None:
        clauses.append("e.at >= :since")
        params["since"] = iso(since)
    sql = f"""
        SELECT e.at, e.source, e.run_id, e.kind, e.url, e.message FROM run_errors e
        WHERE {" AND ".join(clauses)} ORDER BY e.at DESC, e.id DESC LIMIT :limit
    """
    return store.query(sql, params)
