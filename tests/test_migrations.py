"""Every earlier schema version upgrades to the latest, keeping its rows; each migration is all or nothing."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from monitor.errors import StoreError
from monitor.store import Store, migrations
from monitor.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate


def database_at(path: Path, version: int) -> None:
    """A database migrated only up to ``version``, with an article in it, as an older monitor left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    original = migrations.MIGRATIONS
    try:
        migrations.MIGRATIONS = [m for m in original if m[0] <= version]
        migrate(conn)
    finally:
        migrations.MIGRATIONS = original
    conn.execute(
        "INSERT INTO articles (url, fetched_url, source, title, text, content_hash, first_seen, last_seen, updated_at)"
        " VALUES ('https://n.test/a', 'https://n.test/a', 'news', 'Old title', 'Old body about sanctions', 'h',"
        " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )
    conn.close()


@pytest.mark.parametrize("version", [number for number, _, _ in MIGRATIONS])
def test_a_store_at_each_version_upgrades_to_the_latest_and_keeps_its_rows(tmp_path: Path, version: int) -> None:
    database_at(tmp_path / "old.db", version)
    with Store.open(tmp_path / "old.db") as store:
        assert current_version(store.conn) == LATEST_VERSION
        assert store.query("SELECT title FROM articles") == [{"title": "Old title"}]
        assert store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'sanctions'") != []
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_migration_versions_are_consecutive_from_one() -> None:
    assert [number for number, _, _ in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))


def released_store(path: Path, dump: str) -> None:
    """A store exactly as the released monitor (before migrations used sqlite-utils) left it, from a dump."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(dump)
    conn.close()


def normalised(sql: str | None) -> str | None:
    """SQL with identifier quoting and whitespace, which carry no schema, taken out."""
    if sql is None:
        return None
    sql = re.sub(r"\s+", " ", re.sub(r'["`\[\]]', "", sql))
    return re.sub(r"\s*([(),])\s*", r"\1", sql).strip()


def schema(conn: sqlite3.Connection) -> dict[str, str | None]:
    """Every object in ``sqlite_master``, its SQL normalised."""
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master")
    return {f"{type_} {name}": normalised(sql) for type_, name, sql in rows}


def raw_schema(conn: sqlite3.Connection) -> set[tuple[str, str, str | None]]:
    """Every object in ``sqlite_master``, its SQL as stored."""
    return {tuple(row) for row in conn.execute("SELECT type, name, sql FROM sqlite_master")}


def structure(conn: sqlite3.Connection) -> dict[str, Any]:
    """Each table's columns, foreign keys and indexes as SQLite itself reports them."""

    def pragma(name: str, argument: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(f"SELECT * FROM pragma_{name}(?)", (argument,))]

    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        table: (
            pragma("table_xinfo", table),
            pragma("foreign_key_list", table),
            sorted((index[1:], pragma("index_xinfo", index[1])) for index in pragma("index_list", table)),
        )
        for table in tables
    }


def contents(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        table: sorted((tuple(row) for row in conn.execute(f'SELECT * FROM "{table}"')), key=repr) for table in tables
    }


@pytest.fixture
def released_latest(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A store at the last released version, as the released monitor made it, upgraded by this code."""
    released_store(tmp_path / "released.db", RELEASED_LATEST_STORE)
    Store.open(tmp_path / "released.db").close()
    conn = sqlite3.connect(tmp_path / "released.db")
    yield conn
    conn.close()


def test_a_new_store_gets_the_schema_the_released_monitor_made(
    tmp_path: Path, released_latest: sqlite3.Connection
) -> None:
    with Store.open(tmp_path / "new.db") as store:
        assert schema(store.conn) == schema(released_latest)
        assert structure(store.conn) == structure(released_latest)


def test_a_version_1_store_from_the_released_monitor_upgrades_with_its_rows(
    tmp_path: Path, released_latest: sqlite3.Connection
) -> None:
    released_store(tmp_path / "old.db", RELEASED_VERSION_1_STORE)
    with Store.open(tmp_path / "old.db") as store:
        assert schema(store.conn) == schema(released_latest)
        assert structure(store.conn) == structure(released_latest)
        assert store.query("SELECT version, applied_at FROM schema_migrations")[0] == {
            "version": 1,
            "applied_at": "2026-01-01T00:00:00+00:00",
        }
        assert [row["version"] for row in store.query("SELECT version FROM schema_migrations")] == list(
            range(1, LATEST_VERSION + 1)
        )
        assert store.query("SELECT id, key, kind, article_id, story_key, destination, status, attempts FROM alerts") == [
            {"id": "alert_1", "key": "article:https://news.test/a|destination:hook", "kind": "alert", "article_id": 1,
             "story_key": "https://news.test/a", "destination": "hook", "status": "pending", "attempts": 2}
        ]  # fmt: skip
        assert store.query("SELECT s.key, a.title FROM articles a JOIN stories s ON s.id = a.story_id") == [
            {"key": "https://news.test/a", "title": "Sanctions widened"}
        ]
        assert store.query("SELECT rule, score, weight FROM matches") == [
            {"rule": "sanctions", "score": 3.0, "weight": 1.0}
        ]
        assert store.query("SELECT COUNT(*) AS n FROM runs JOIN run_errors ON run_errors.run_id = runs.id") == [
            {"n": 1}
        ]
        assert store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'sanctions'") == [{"rowid": 1}]
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_latest_store_from_the_released_monitor_gains_only_the_new_migrations(tmp_path: Path) -> None:
    released_store(tmp_path / "old.db", RELEASED_LATEST_STORE)
    before = sqlite3.connect(tmp_path / "old.db")
    expected_schema, expected_rows = raw_schema(before), contents(before)
    before.close()
    with Store.open(tmp_path / "old.db") as store:
        assert migrate(store.conn) == []
        assert [row["version"] for row in store.query("SELECT version FROM schema_migrations")] == list(
            range(1, LATEST_VERSION + 1)
        )
        # Version 8 added the claim owner's columns to alerts, NULL in the rows already there; version 9 an
        # empty table, cluster_cursor; version 10 three columns to articles, NULL in its rows; version 11 two
        # empty tables, cluster_runs and cluster_pages; version 12 one column to alerts; nothing else changed.
        changed = {
            "alerts",
            "articles",
            "schema_migrations",
            "cluster_cursor",
            "sqlite_autoindex_cluster_cursor_1",
            "cluster_runs",
            "cluster_pages",
            "sqlite_autoindex_cluster_pages_1",
        }
        assert {item for item in raw_schema(store.conn) if item[1] not in changed} == {
            item for item in expected_schema if item[1] not in changed
        }
        rows = contents(store.conn)
        assert {t: r for t, r in rows.items() if t not in changed} == {
            t: r for t, r in expected_rows.items() if t not in changed
        }
        assert rows["alerts"] == [(*row, None, None, None, None) for row in expected_rows["alerts"]]
        assert rows["articles"] == [(*row, None, None, None) for row in expected_rows["articles"]]
        assert rows["cluster_cursor"] == rows["cluster_runs"] == rows["cluster_pages"] == []
        applied = sorted(rows["schema_migrations"])  # by version: repr order puts 10 before 2
        assert applied[: len(expected_rows["schema_migrations"])] == sorted(expected_rows["schema_migrations"])
        assert store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'sanctions'") == [{"rowid": 1}]


def test_a_store_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    released_store(tmp_path / "new.db", RELEASED_LATEST_STORE)
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    conn.execute(
        "INSERT INTO schema_migrations VALUES (?, 'from the future', '2030-01-01T00:00:00+00:00')",
        (LATEST_VERSION + 1,),
    )
    expected_schema, expected_rows = raw_schema(conn), contents(conn)
    conn.close()
    with pytest.raises(StoreError, match="newer than this monitor knows"):
        Store.open(tmp_path / "new.db")
    conn = sqlite3.connect(tmp_path / "new.db")
    assert (raw_schema(conn), contents(conn)) == (expected_schema, expected_rows)


def test_each_migration_commits_with_its_record_in_one_begin_immediate(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    trace: list[str] = []
    conn.set_trace_callback(trace.append)
    assert migrate(conn) == list(range(1, LATEST_VERSION + 1))
    control = [sql for sql in trace if sql.split()[:1] in (["BEGIN"], ["COMMIT"], ["ROLLBACK"], ["END"])]
    assert control == ["BEGIN IMMEDIATE", "COMMIT"] * LATEST_VERSION
    records = [i for i, sql in enumerate(trace) if sql.startswith("INSERT INTO schema_migrations")]
    assert [trace[i + 1] for i in records] == ["COMMIT"] * LATEST_VERSION


def test_a_migration_failing_after_its_table_rebuild_leaves_the_store_at_version_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    released_store(tmp_path / "old.db", RELEASED_VERSION_1_STORE)
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    expected_schema, expected_rows = raw_schema(conn), contents(conn)
    number, name, rebuild = MIGRATIONS[1]
    assert callable(rebuild)

    def crash(db: Database) -> None:
        rebuild(db)
        raise KeyboardInterrupt

    monkeypatch.setattr(migrations, "MIGRATIONS", [MIGRATIONS[0], (number, name, crash), *MIGRATIONS[2:]])
    with pytest.raises(KeyboardInterrupt):
        migrate(conn)
    assert not conn.in_transaction
    assert current_version(conn) == 1
    assert (raw_schema(conn), contents(conn)) == (expected_schema, expected_rows)


def test_a_script_failing_half_way_applies_none_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open(tmp_path / "m.db").close()
    broken = (
        LATEST_VERSION + 1,
        "broken",
        "CREATE TABLE half (x);\nALTER TABLE articles ADD COLUMN half TEXT;\nINSERT INTO missing VALUES (1);",
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(StoreError, match="no such table: missing"):
        Store.open(tmp_path / "m.db")
    conn = sqlite3.connect(tmp_path / "m.db")
    assert current_version(conn) == LATEST_VERSION
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchall() == []
    assert "half" not in [row[1] for row in conn.execute("PRAGMA table_info(articles)")]


# Dumped from stores the released monitor (commit a838594) made: its schema as sqlite_master held it, the
# schema_migrations rows it wrote, and a few rows of each kind. The FTS5 shadow tables come from CREATE VIRTUAL TABLE.
RELEASED_VERSION_1_STORE = """
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            url TEXT NOT NULL,
            interval_seconds INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            pages INTEGER NOT NULL DEFAULT 0,
            new_articles INTEGER NOT NULL DEFAULT 0,
            updated_articles INTEGER NOT NULL DEFAULT 0,
            matches INTEGER NOT NULL DEFAULT 0,
            alerts_queued INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0
        );
CREATE INDEX runs_source_started ON runs(source, started_at);
CREATE TABLE run_errors (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            source TEXT NOT NULL,
            url TEXT,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            at TEXT NOT NULL
        );
CREATE INDEX run_errors_run ON run_errors(run_id);
CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            fetched_url TEXT NOT NULL,
            source TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            published TEXT,
            authors TEXT NOT NULL DEFAULT '[]',
            language TEXT,
            content_hash TEXT NOT NULL,
            score REAL NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
CREATE INDEX articles_fetched_url ON articles(fetched_url);
CREATE INDEX articles_source_published ON articles(source, published);
CREATE INDEX articles_first_seen ON articles(first_seen);
CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            score REAL NOT NULL,
            hits TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            UNIQUE (article_id, rule)
        );
CREATE INDEX matches_rule_matched ON matches(rule, matched_at);
CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            destination TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_until TEXT,
            last_status INTEGER,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT
        );
CREATE INDEX alerts_due ON alerts(status, next_attempt_at);
CREATE INDEX alerts_destination ON alerts(destination, status);
CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, text, content="articles", content_rowid="id", tokenize='unicode61 remove_diacritics 2'
        );
CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
        END;
CREATE TRIGGER articles_au AFTER UPDATE OF title, text ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
            INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-01-01T00:00:00+00:00');
INSERT INTO sources VALUES ('news', 'rss', 'https://news.test/feed', 900, '2026-01-01T00:00:00+00:00');
INSERT INTO runs (id, source, started_at, finished_at, status, pages, new_articles, matches, alerts_queued)
    VALUES (1, 'news', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'ok', 1, 1, 1, 1);
INSERT INTO run_errors (run_id, source, url, kind, message, at)
    VALUES (1, 'news', 'https://news.test/b', 'http', 'HTTP 500', '2026-01-01T00:00:30+00:00');
INSERT INTO articles (id, url, fetched_url, source, title, text, content_hash, first_seen, last_seen, updated_at)
    VALUES (1, 'https://news.test/a', 'https://news.test/a?utm_source=x', 'news', 'Sanctions widened',
    'The council widened sanctions on Monday.', 'h1', '2026-01-01T00:00:10+00:00', '2026-01-01T00:00:10+00:00',
    '2026-01-01T00:00:10+00:00');
INSERT INTO matches (article_id, rule, score, hits, matched_at)
    VALUES (1, 'sanctions', 3.0, '[]', '2026-01-01T00:00:10+00:00');
INSERT INTO alerts (id, key, article_id, destination, payload, status, attempts, next_attempt_at, created_at)
    VALUES ('alert_1', 'article:https://news.test/a|destination:hook', 1, 'hook', '{"id": "alert_1"}', 'pending', 2,
    '2026-01-01T00:05:00+00:00', '2026-01-01T00:00:10+00:00');
"""

RELEASED_LATEST_STORE = """
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            url TEXT NOT NULL,
            interval_seconds INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            pages INTEGER NOT NULL DEFAULT 0,
            new_articles INTEGER NOT NULL DEFAULT 0,
            updated_articles INTEGER NOT NULL DEFAULT 0,
            matches INTEGER NOT NULL DEFAULT 0,
            alerts_queued INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0
        , median_age_seconds INTEGER);
CREATE INDEX runs_source_started ON runs(source, started_at);
CREATE TABLE run_errors (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            source TEXT NOT NULL,
            url TEXT,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            at TEXT NOT NULL
        );
CREATE INDEX run_errors_run ON run_errors(run_id);
CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            fetched_url TEXT NOT NULL,
            source TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            published TEXT,
            authors TEXT NOT NULL DEFAULT '[]',
            language TEXT,
            content_hash TEXT NOT NULL,
            score REAL NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        , published_from TEXT, story_id INTEGER REFERENCES stories(id), signature BLOB);
CREATE INDEX articles_fetched_url ON articles(fetched_url);
CREATE INDEX articles_source_published ON articles(source, published);
CREATE INDEX articles_first_seen ON articles(first_seen);
CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            score REAL NOT NULL,
            hits TEXT NOT NULL,
            matched_at TEXT NOT NULL, weight REAL NOT NULL DEFAULT 1.0, gate TEXT,
            UNIQUE (article_id, rule)
        );
CREATE INDEX matches_rule_matched ON matches(rule, matched_at);
CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, text, content="articles", content_rowid="id", tokenize='unicode61 remove_diacritics 2'
        );
CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
        END;
CREATE TRIGGER articles_au AFTER UPDATE OF title, text ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
            INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
CREATE TABLE "alerts" (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT 'alert',
            article_id INTEGER REFERENCES articles(id),
            story_key TEXT,
            destination TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            route TEXT,
            routed_at TEXT,
            digest_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_until TEXT,
            last_status INTEGER,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT
        );
CREATE INDEX alerts_due ON alerts(status, next_attempt_at);
CREATE INDEX alerts_queue ON alerts(destination, status, created_at);
CREATE INDEX alerts_article ON alerts(article_id);
CREATE INDEX alerts_story ON alerts(story_key);
CREATE INDEX alerts_digest ON alerts(digest_id);
CREATE TABLE destination_state (
            name TEXT PRIMARY KEY,
            paused_at TEXT,
            paused_reason TEXT,
            paused_status INTEGER,
            updated_at TEXT NOT NULL
        );
CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            lead_article_id INTEGER REFERENCES articles(id),
            title TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
CREATE INDEX articles_story ON articles(story_id);
CREATE TABLE story_bands (
            band INTEGER NOT NULL,
            hash INTEGER NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            PRIMARY KEY (band, hash, article_id)
        ) WITHOUT ROWID;
CREATE TABLE source_state (
            name TEXT PRIMARY KEY,
            health TEXT NOT NULL,
            reason TEXT,
            since TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
CREATE TABLE vetoes (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            score REAL NOT NULL,
            hits TEXT NOT NULL,
            vetoed_by TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            UNIQUE (article_id, rule)
        );
CREATE INDEX vetoes_rule_matched ON vetoes(rule, matched_at);
INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-01-01T00:00:00+00:00');
INSERT INTO schema_migrations VALUES (2, 'alerts: kinds, story key, digests; destination state', '2026-01-01T00:00:00+00:00');
INSERT INTO schema_migrations VALUES (3, 'articles: which signal gave the publication date', '2026-01-01T00:00:00+00:00');
INSERT INTO schema_migrations VALUES (4, 'stories: near-duplicate articles grouped across outlets', '2026-01-01T00:00:00+00:00');
INSERT INTO schema_migrations VALUES (5, 'source_state: the last health judgement per source, so notices go out on changes only', '2026-01-01T00:00:00+00:00');
INSERT INTO schema_migrations VALUES (6, 'runs: median age of the new articles a run found', '2026-01-01T00:00:00+00:00');
INSERT INTO schema_migrations VALUES (7, 'matches: the rule''s weight and recency gate; vetoes: the matches an exclusion stopped', '2026-01-01T00:00:00+00:00');
INSERT INTO sources VALUES ('news', 'rss', 'https://news.test/feed', 900, '2026-01-01T00:00:00+00:00');
INSERT INTO runs (id, source, started_at, finished_at, status, pages, new_articles, matches, alerts_queued,
    median_age_seconds) VALUES (1, 'news', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'ok', 1, 1, 1, 1, 600);
INSERT INTO run_errors (run_id, source, url, kind, message, at)
    VALUES (1, 'news', 'https://news.test/b', 'http', 'HTTP 500', '2026-01-01T00:00:30+00:00');
INSERT INTO articles (id, url, fetched_url, source, title, text, content_hash, first_seen, last_seen, updated_at,
    published_from, story_id, signature) VALUES (1, 'https://news.test/a', 'https://news.test/a?utm_source=x', 'news',
    'Sanctions widened', 'The council widened sanctions on Monday.', 'h1', '2026-01-01T00:00:10+00:00',
    '2026-01-01T00:00:10+00:00', '2026-01-01T00:00:10+00:00', 'meta', NULL, X'0102030405060708');
INSERT INTO stories VALUES (1, 'https://news.test/a', 1, 'Sanctions widened', '2026-01-01T00:00:10+00:00',
    '2026-01-01T00:00:10+00:00');
UPDATE articles SET story_id = 1 WHERE id = 1;
INSERT INTO story_bands VALUES (0, 1234567, 1);
INSERT INTO matches (article_id, rule, score, hits, matched_at, weight, gate)
    VALUES (1, 'sanctions', 3.0, '[]', '2026-01-01T00:00:10+00:00', 1.5, NULL);
INSERT INTO vetoes (article_id, rule, score, hits, vetoed_by, matched_at)
    VALUES (1, 'markets', 2.0, '[]', '[{"kind": "filter"}]', '2026-01-01T00:00:10+00:00');
INSERT INTO alerts (id, key, kind, article_id, story_key, destination, payload, status, attempts, next_attempt_at,
    created_at) VALUES ('alert_1', 'story:https://news.test/a|destination:hook', 'alert', 1, 'https://news.test/a',
    'hook', '{"id": "alert_1"}', 'pending', 2, '2026-01-01T00:05:00+00:00', '2026-01-01T00:00:10+00:00');
INSERT INTO alerts (id, key, kind, destination, payload, status, next_attempt_at, created_at, delivered_at)
    VALUES ('digest_1', 'digest:daily|destination:mail', 'digest', 'mail', '{"id": "digest_1"}', 'delivered',
    '2026-01-01T08:00:00+00:00', '2026-01-01T08:00:00+00:00', '2026-01-01T08:00:01+00:00');
INSERT INTO destination_state VALUES ('hook', '2026-01-01T00:06:00+00:00', 'HTTP 410', 410, '2026-01-01T00:06:00+00:00');
INSERT INTO source_state VALUES ('news', 'ok', NULL, '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00');
"""
