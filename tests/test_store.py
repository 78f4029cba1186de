"""The store: schema by migrations, articles keyed by canonical URL, matches and outbox rows in one transaction."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import DestinationSpec
from monitor.errors import StoreError
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.rules import RuleSpec, compile_rules, score_article
from monitor.store import Store, alert_id, alert_key, finish_run, last_seen, record_error, start_run
from monitor.store.migrations import LATEST_VERSION
from monitor.store.queries import matches as list_matches
from tests.storekit import database

DESTINATIONS = (
    DestinationSpec(name="slack", type="slack", url="http://127.0.0.1:9/slack"),
    DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/hook"),
    DestinationSpec(name="off", type="webhook", url=""),  # switched off: owes nothing
)


def article(text: str = "NATO met in Brussels.", url: str = "https://news.test/a?utm_source=x") -> Article:
    return Article(
        url=url,
        canonical_url="https://news.test/a",
        title="NATO talks",
        text=text,
        published=datetime(2022, 1, 12, 15, 50, tzinfo=UTC),
        authors=["Reuters"],
        language="en",
        source="news",
    )


def verdict(score: float = 5.0) -> Verdict:
    hit = Hit(rule="nato", term="NATO", field="title", count=1, snippet="**NATO** talks")
    return Verdict(score=score, threshold=3.0, matches=(RuleMatch("nato", score, (hit,)),))


def test_a_new_store_is_migrated_to_the_latest_version_in_wal_mode(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = store.conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    assert version == LATEST_VERSION
    assert {"sources", "runs", "run_errors", "articles", "matches", "alerts", "articles_fts"} <= set(
        database(store).table_names()
    )


def test_reopening_an_existing_store_applies_nothing_twice(tmp_path: Path) -> None:
    Store.open(tmp_path / "m.db").close()
    with Store.open(tmp_path / "m.db") as again:
        assert again.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == LATEST_VERSION


def test_a_store_from_a_newer_monitor_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "m.db") as opened:
        opened.conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01')")
    with pytest.raises(StoreError, match="newer than this monitor knows"):
        Store.open(tmp_path / "m.db")


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "m.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(tmp_path / "m.db")


def test_opening_without_create_refuses_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here yet"):
        Store.open(tmp_path / "absent.db", create=False)


def test_saving_an_alerting_article_writes_matches_and_one_alert_per_enabled_destination(store: Store) -> None:
    outcome = save_article(store, article(), verdict(), DESTINATIONS)
    assert (outcome.status, outcome.matches, outcome.alerts_queued) == ("new", 1, 2)
    rows = store.query("SELECT id, destination, status, payload FROM alerts ORDER BY destination")
    assert [(r["destination"], r["status"]) for r in rows] == [("hook", "pending"), ("slack", "pending")]
    assert rows[0]["id"] == alert_id(alert_key("https://news.test/a", "hook"))
    match = store.query("SELECT rule, score FROM matches")[0]
    assert match == {"rule": "nato", "score": 5.0}


def test_the_same_article_again_is_unchanged_and_owes_no_new_alert(store: Store) -> None:
    save_article(store, article(), verdict(), DESTINATIONS)
    again = save_article(store, article(url="https://news.test/a?fbclid=1"), verdict(), DESTINATIONS)
    assert (again.status, again.alerts_queued) == ("unchanged", 0)
    assert database(store)["alerts"].count == 2 and database(store)["articles"].count == 1


def test_a_changed_article_is_rescored_but_never_alerts_twice_at_one_destination(store: Store) -> None:
    save_article(store, article(), verdict(), DESTINATIONS)
    changed = save_article(store, article(text="NATO met again, now in Vilnius."), verdict(7.0), DESTINATIONS)
    assert (changed.status, changed.alerts_queued) == ("updated", 0)
    assert store.query("SELECT score FROM articles")[0]["score"] == 7.0
    assert database(store)["alerts"].count == 2


def test_an_article_below_the_threshold_is_stored_with_its_matches_but_owes_no_alert(store: Store) -> None:
    outcome = save_article(store, article(), verdict(score=1.0), DESTINATIONS)
    assert (outcome.matches, outcome.alerts_queued) == (1, 0)
    assert database(store)["alerts"].count == 0


def test_match_and_outbox_rows_are_written_together_or_not_at_all(store: Store) -> None:
    store.conn.execute("CREATE TRIGGER boom BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError):
        save_article(store, article(), verdict(), DESTINATIONS)
    assert database(store)["articles"].count == 0 and database(store)["matches"].count == 0
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_full_text_index_follows_inserts_and_updates(store: Store) -> None:
    save_article(store, article(text="Talks on sanctions in Brussels."), verdict(), DESTINATIONS)
    found = store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'sanctions'")
    assert len(found) == 1
    save_article(store, article(text="Talks on missiles in Brussels."), verdict(), DESTINATIONS)
    assert store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'sanctions'") == []
    assert len(store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'missiles'")) == 1


def test_last_seen_recognises_fetched_and_canonical_urls(store: Store) -> None:
    save_article(store, article(), verdict(), DESTINATIONS)
    asked = ["https://news.test/a", "https://news.test/a?utm_source=x", "https://news.test/b"]
    assert set(last_seen(store, asked)) == {"https://news.test/a", "https://news.test/a?utm_source=x"}


def test_runs_and_their_errors_are_recorded(store: Store) -> None:
    run_id = start_run(store, "news")
    record_error(store, run_id, "news", "https://news.test/x", "http", "HTTP 500")
    finish_run(store, run_id, {"pages": 3, "new_articles": 2, "errors": 1}, "ok")
    run = store.query("SELECT * FROM runs")[0]
    assert (run["status"], run["pages"], run["new_articles"], run["errors"]) == ("ok", 3, 2, 1)
    assert run["finished_at"] >= run["started_at"]
    assert store.query("SELECT kind, message FROM run_errors") == [{"kind": "http", "message": "HTTP 500"}]


def test_a_match_is_stored_with_its_weight_and_recency_gate_and_a_vetoed_one_with_its_veto(store: Store) -> None:
    rules = compile_rules(
        [
            RuleSpec("nato", ("NATO",), weight=2.0, max_age_seconds=7 * 86400),
            RuleSpec("nato-club", ("NATO",), query='NOT "football club"'),
        ]
    )
    text = "NATO met in Brussels. The football club of the same name played on Sunday."
    now = datetime(2022, 3, 1, tzinfo=UTC)  # seven weeks after the article was published
    save_article(store, article(text), score_article(rules, article(text), threshold=3.0, now=now), DESTINATIONS)

    [match] = store.query("SELECT rule, score, weight, gate FROM matches")
    assert (match["rule"], match["weight"]) == ("nato", 2.0)
    assert match["score"] == 2.0 * (3.0 + 2.0)  # one hit in the title, one in the lead
    assert match["gate"].startswith("published 2022-01-12 15:50 UTC") and "older than max_age 7d" in match["gate"]
    [veto] = store.query("SELECT rule, hits, vetoed_by FROM vetoes")
    assert veto["rule"] == "nato-club"
    assert [hit["term"] for hit in json.loads(veto["hits"])] == ["NATO", "NATO"]
    [vetoed_by] = json.loads(veto["vetoed_by"])
    assert vetoed_by["term"] == '"football club"' and "**football club**" in vetoed_by["snippet"]
    assert database(store)["alerts"].count == 0  # the gate holds the only match back
    [listed] = list_matches(store)  # what `monitor matches` prints
    assert (listed["rule"], listed["gate"]) == ("nato", match["gate"])

    # Rescored without the veto, the article's vetoes are replaced along with its matches.
    plain = "NATO met in Brussels, and again in Vilnius."
    save_article(store, article(plain), score_article(rules, article(plain), threshold=3.0, now=now), DESTINATIONS)
    assert database(store)["vetoes"].count == 0
    assert sorted(row["rule"] for row in store.query("SELECT rule FROM matches")) == ["nato", "nato-club"]
