"""The store's schema, in one place, as numbered migrations applied when the store opens.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the
row that records it, so a crash mid-upgrade leaves the previous version intact.
A migration is a SQL script or a function of a sqlite-utils ``Database``.
Never edit a released migration: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from sqlite_utils import Database

Migration = tuple[int, str, str | Callable[[Database], None]]


def _alerts_for_digests_and_notices(db: Database) -> None:
    # SQLite cannot relax NOT NULL on article_id (digests and notices have no article), so transform()
    # rebuilds the table. It may do so inside the migration's transaction: no foreign key references alerts.
    db.executescript(
        """
        ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
        ALTER TABLE alerts ADD COLUMN story_key TEXT;
        ALTER TABLE alerts ADD COLUMN route TEXT;
        ALTER TABLE alerts ADD COLUMN routed_at TEXT;
        ALTER TABLE alerts ADD COLUMN digest_id TEXT;
        UPDATE alerts SET story_key = substr(key, 9, length(key) - 8 - length('|destination:' || destination))
            WHERE key LIKE 'article:%|destination:%';
        DROP INDEX alerts_destination;
        """
    )
    db.table("alerts").transform(
        not_null={"article_id": False},
        # Given again because transform() would re-quote the "0" PRAGMA table_info reports as '0'.
        defaults={"attempts": 0},
        column_order=["id", "key", "kind", "article_id", "story_key", "destination", "payload", "status", "route",
                      "routed_at", "digest_id"],
    )  # fmt: skip
    db.executescript(
        """
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
        """
    )


MIGRATIONS: list[Migration] = [
    (
        1,
        "initial schema",
        """
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
        """,
    ),
    (2, "alerts: kinds, story key, digests; destination state", _alerts_for_digests_and_notices),
    (
        3,
        "articles: which signal gave the publication date",
        """
        ALTER TABLE articles ADD COLUMN published_from TEXT;
        """,
    ),
    (
        4,
        "stories: near-duplicate articles grouped across outlets",
        # Existing articles each become their own story, keyed by their canonical URL: the key
        # their alerts already carry as story_key, so no alert is owed twice after the upgrade.
        """
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            lead_article_id INTEGER REFERENCES articles(id),
            title TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        ALTER TABLE articles ADD COLUMN story_id INTEGER REFERENCES stories(id);
        ALTER TABLE articles ADD COLUMN signature BLOB;
        CREATE INDEX articles_story ON articles(story_id);
        CREATE TABLE story_bands (
            band INTEGER NOT NULL,
            hash INTEGER NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            PRIMARY KEY (band, hash, article_id)
        ) WITHOUT ROWID;
        INSERT INTO stories (key, lead_article_id, title, first_seen, updated_at)
            SELECT url, id, title, first_seen, updated_at FROM articles;
        UPDATE articles SET story_id = (SELECT id FROM stories WHERE stories.key = articles.url);
        """,
    ),
    (
        5,
        "source_state: the last health judgement per source, so notices go out on changes only",
        """
        CREATE TABLE source_state (
            name TEXT PRIMARY KEY,
            health TEXT NOT NULL,
            reason TEXT,
            since TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        6,
        "runs: median age of the new articles a run found",
        """
        ALTER TABLE runs ADD COLUMN median_age_seconds INTEGER;
        """,
    ),
    (
        7,
        "matches: the rule's weight and recency gate; vetoes: the matches an exclusion stopped",
        """
        ALTER TABLE matches ADD COLUMN weight REAL NOT NULL DEFAULT 1.0;
        ALTER TABLE matches ADD COLUMN gate TEXT;
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
        """,
    ),
    (
        8,
        "alerts: the sender process that holds a claim, so a dead sender's claims need not wait out their lease",
        """
        ALTER TABLE alerts ADD COLUMN claimed_host TEXT;
        ALTER TABLE alerts ADD COLUMN claimed_pid INTEGER;
        ALTER TABLE alerts ADD COLUMN claimed_start TEXT;
        """,
    ),
    (
        9,
        "cluster_cursor: the last entry of a cluster's result stream applied, committed with what it wrote",
        """
        CREATE TABLE cluster_cursor (
            stream TEXT PRIMARY KEY,
            last_id TEXT NOT NULL
        );
        """,
    ),
    (
        10,
        "articles: when the page was last updated, the agencies credited, why a body is empty",
        """
        ALTER TABLE articles ADD COLUMN updated TEXT;
        ALTER TABLE articles ADD COLUMN organisations TEXT;
        ALTER TABLE articles ADD COLUMN text_missing TEXT;
        """,
    ),
    (
        11,
        "cluster_runs, cluster_pages: a cluster run's own crawl done, and the pages it handed out to the workers",
        """
        CREATE TABLE cluster_runs (
            run_id INTEGER PRIMARY KEY,
            status TEXT NOT NULL
        );
        CREATE TABLE cluster_pages (
            run_id INTEGER NOT NULL,
            url TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, url)
        ) WITHOUT ROWID;
        """,
    ),
    (
        12,
        "alerts: the recipients an email still owes, when its server took it for the others",
        """
        ALTER TABLE alerts ADD COLUMN recipients_left TEXT;
        """,
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of the open database (0 for an empty one)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, now: Callable[[], datetime] | None = None) -> list[int]:
    """Bring the schema up to date; return the versions applied. ``conn`` must be in autocommit mode."""
    # Not sqlite_utils.migrations.Migrations: it records names in its own _sqlite_migrations table (a new
    # table in every store), knows no version to refuse a newer store by, and opens each migration with a
    # deferred BEGIN, choosing what to apply before taking the write lock.
    clock = now or (lambda: datetime.now(UTC))
    # The store's own connection: no pragma (recursive_triggers) or plugin hooks of sqlite-utils' choosing on it.
    db = Database(conn, recursive_triggers=False, execute_plugins=False)
    applied: list[int] = []
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for version, name, step in MIGRATIONS:
        if version <= current_version(conn):
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check inside the write lock: another process may have migrated meanwhile.
            if version <= current_version(conn):
                conn.execute("ROLLBACK")
                continue
            if isinstance(step, str):
                # Inside a transaction sqlite-utils runs the script statement by statement, where
                # sqlite3's own executescript would commit first.
                db.executescript(step)
            else:
                step(db)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, clock().isoformat(timespec="seconds")),
            )
            conn.execute("COMMIT")
        except BaseException:
            # An error may already have ended the transaction; a failing ROLLBACK would hide it.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
