"""Every earlier schema version upgrades to the latest, keeping its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
