"""Saves batched in shared transactions: each whole or not at all, none seen before its commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.ingest import SaveBatch
from monitor.store import Store


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
