"""`monitor demo --db PATH` replaces its own store from an earlier demo, and refuses to touch anything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.demo import load_stories
from monitor.store import Store, start_run
from tests.storekit import database

SEED_HEADLINE = next(s.title for s in load_stories()["ledger"] if s.path == "/world/nato-offers-arms-talks.html")


def demo(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line message of a refusal (exit status 2, nothing on stdout)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    return line


def test_monitor_demo_refuses_to_replace_a_store_that_is_not_a_demo_store(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    with Store.open(db) as store:
        start_run(store, "bbc-world")
    before = db.read_bytes()
    line = refused(demo(db))
    assert line == (
        f"Error: {db} is not a demo store (no monitor.db-demo beside it), so monitor demo will not replace it;"
        " choose another --db, or delete it yourself"
    )
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.db"]  # no mark, no WAL: untouched
    with Store.open(db) as store:
        assert database(store)["runs"].count == 1


def test_monitor_demo_refuses_to_replace_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n", encoding="utf-8")
    assert "is not a demo store" in refused(demo(notes))
    assert notes.read_text(encoding="utf-8") == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_monitor_demo_refuses_a_demo_store_since_used_for_other_sources(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    with Store.open(db) as store:
        start_run(store, "daily-ledger")
        start_run(store, "bbc-world")  # `monitor run` with a real configuration, on the demo's store
    (tmp_path / "demo.db-demo").write_text("marked by an earlier demo\n", encoding="utf-8")
    line = refused(demo(db))
    assert line == (
        f"Error: {db} holds runs of sources that are not the demo's (bbc-world),"
        " so monitor demo will not replace it; choose another --db"
    )
    with Store.open(db) as store:
        assert database(store)["runs"].count == 2


@pytest.mark.slow
def test_monitor_demo_makes_its_store_where_none_is_and_replaces_it_on_the_next_demo(tmp_path: Path) -> None:
    db = tmp_path / "new" / "folder" / "demo.db"
    for _ in range(2):
        result = demo(db)
        assert result.returncode == 0, result.stdout + result.stderr
        alerts_part = result.stdout.split("Stored, scored, and rightly quiet:")[0]
        # The alert describes the story's earliest-published copy, the Ledger's, whichever site was stored first.
        assert f"] {SEED_HEADLINE}\n" in alerts_part
        assert (db.parent / "demo.db-demo").is_file()
        with Store.open(db) as store:
            # The second demo starts from an empty store: one run per site, the five articles once.
            assert database(store)["runs"].count == 2 and database(store)["articles"].count == 5


@pytest.mark.slow
def test_monitor_demo_replaces_a_marked_store_it_cannot_read(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    db.write_bytes(b"a demo store cut short by a full disk")
    (tmp_path / "demo.db-demo").write_text("marked by an earlier demo\n", encoding="utf-8")
    result = demo(db)
    assert result.returncode == 0, result.stdout + result.stderr
    with Store.open(db) as store:
        assert database(store)["articles"].count == 5
