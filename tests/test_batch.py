"""Saves batched in shared transactions: each whole or not at all, none seen before its commit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.errors import StoreError
from monitor.ingest import Analyser, CrawlSession, SaveBatch, StoreLedger
from monitor.store import Store
from tests.sitekit import config_text
from tests.test_pipeline import seed_page


def insert_run(store: Store, source: str, fail: bool = False) -> str:
    with store.write() as conn:
        conn.execute("INSERT INTO runs (source, started_at) VALUES (?, '2026-12-05T00:00:00+00:00')", (source,))
        if fail:
            raise StoreError(f"{source}: refused after its insert")
    return source


def sources(db: Path) -> list[str]:
    with sqlite3.connect(db) as other:  # another connection: sees only what is committed
        return [row[0] for row in other.execute("SELECT source FROM runs ORDER BY id")]


def test_saves_close_together_commit_in_one_transaction_and_a_failing_one_rolls_back_alone(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = Store.open(db)
    batch = SaveBatch(store, max_items=10, max_delay=0.05)
    seen_before_commit: list[list[str]] = []

    async def crawl() -> list[object]:
        saves = [
            batch.save(lambda: insert_run(store, "a")),
            batch.save(lambda: insert_run(store, "b", fail=True)),
            batch.save(lambda: insert_run(store, "c")),
        ]
        tasks = [asyncio.ensure_future(save) for save in saves]
        await asyncio.sleep(0.01)  # all three queued, none committed yet
        seen_before_commit.append(sources(db))
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(crawl())
    store.close()
    assert seen_before_commit == [[]]
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], StoreError)
    assert sources(db) == ["a", "c"]  # b's savepoint rolled back, its neighbours kept


def test_a_full_batch_commits_at_once_without_waiting_for_the_delay(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    batch = SaveBatch(store, max_items=2, max_delay=60.0)

    async def crawl() -> list[str]:
        return await asyncio.wait_for(
            asyncio.gather(batch.save(lambda: insert_run(store, "a")), batch.save(lambda: insert_run(store, "b"))),
            timeout=5,
        )

    assert asyncio.run(crawl()) == ["a", "b"]
    store.close()


def test_a_write_outside_any_batch_is_still_its_own_transaction(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    with pytest.raises(StoreError):
        insert_run(store, "x", fail=True)
    insert_run(store, "y")
    store.close()
    assert sources(tmp_path / "m.db") == ["y"]


def test_a_run_ended_while_a_save_is_in_flight_closes_only_once_that_article_is_counted(tmp_path: Path) -> None:
    """A deadline in the moment between a save's request and its commit: the run's record counts that article."""
    config = parse_config(config_text("  - name: news\n    type: rss\n    url: http://127.0.0.1:9/f\n"), "r.yaml", {})
    store = Store.open(tmp_path / "m.db")
    ledger = StoreLedger(store)
    ledger.saves.max_delay = 0.3  # a wide moment, so the deadline surely falls inside it
    session = CrawlSession(config, config.source("news"), ledger, Analyser(config.rules, 3.0, workers=1))
    closed_with: list[dict[str, int]] = []

    def close() -> None:
        closed_with.append(dict(session.counts))
        session.finish()

    async def crawl() -> bool:
        page = asyncio.ensure_future(session.process(seed_page(datetime.now(UTC))))
        while not ledger.saves.pending:  # analysed, its save asked for and not committed
            await asyncio.sleep(0.005)
        session.close_when_saved(close)
        assert closed_with == []  # not closed while its save is in flight
        lost = await page
        later = asyncio.ensure_future(session.process(seed_page(datetime.now(UTC))))
        return lost or await later

    lost = asyncio.run(crawl())
    store.close()
    with sqlite3.connect(tmp_path / "m.db") as other:
        stored = other.execute("SELECT count(*) FROM articles").fetchone()[0]
        [run] = other.execute("SELECT status, new_articles FROM runs").fetchall()
    assert not lost and stored == 1
    assert [counts["new_articles"] for counts in closed_with] == [1]
    assert run == ("ok", 1)
    assert session.analysed == 1  # the page that came after the end was not saved
