"""Two processes on one store: one `serve` per store, one crawl of a source at a time, no live run closed as a crash.

Real `monitor serve` and `monitor run` processes crawl a site on 127.0.0.1 whose article
pages wait until the test opens their source's gate, so a crawl runs for as long as a
test needs it to.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.ops.scheduler import Service
from monitor.store import Store
from monitor.timestamps import utcnow
from tests.enginekit import FeedSite, article_html

pytestmark = pytest.mark.slow

SOURCES = ("a", "b")


@pytest.fixture
def site() -> Iterator[FeedSite]:
    """Sources ``a`` and ``b``: a feed of two articles each, whose pages wait until the source's gate opens."""
    with FeedSite() as served:
        for number, name in enumerate(SOURCES):
            served.publish(name, {str(n): article_html(f"Ferry story {n}", number * 10 + n) for n in (1, 2)})
            served.gate(name)
        yield served


def rules(site: FeedSite, folder: Path, sources: tuple[str, ...] = SOURCES) -> str:
    """A rules.yaml crawling ``sources`` hourly, with a timeout longer than any gate stays shut."""
    return site.config(folder, sources, name=f"rules-{''.join(sources)}.yaml")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `monitor --config CONFIG --db m.db ARGS…` in its own process group, output to a log file."""
    started: list[subprocess.Popen[bytes]] = []

    def run(config: str, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (tmp_path / log).open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", config, "--db", str(tmp_path / "m.db"), *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its crawl processes share its group: one killpg ends them all
            )
        started.append(process)
        return process

    yield run
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its group: a crawl process may have outlived it
        process.wait()


def parent_of(pid: int) -> int:
    """The parent pid of a live process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def runs(db: Path) -> list[tuple[str, str]]:
    """Every run as (source, status), oldest first."""
    if not db.exists():
        return []
    with Store.open(db) as store:
        return [(row["source"], row["status"]) for row in store.query("SELECT source, status FROM runs ORDER BY id")]


def crashes(db: Path) -> list[tuple[str, str]]:
    with Store.open(db) as store:
        rows = store.query("SELECT source, message FROM run_errors WHERE kind = 'crash' ORDER BY id")
    return [(row["source"], row["message"]) for row in rows]


def finished(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def test_a_second_serve_refuses_to_start_and_names_the_first_and_a_run_beside_it_skips_the_running_source(
    site: FeedSite, start: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    config = rules(site, tmp_path)
    first = start(config, "serve", "--send-interval", "1s", "--grace", "5s", log="first.log")
    assert wait_for(lambda: site.blocked("a") and site.blocked("b")), (tmp_path / "first.log").read_text()
    assert runs(db) == [("a", "running"), ("b", "running")]

    second = start(config, "serve", log="second.log")
    status = finished(second, timeout=30)
    said = (tmp_path / "second.log").read_text().strip().splitlines()
    assert status == 2, said
    assert len(said) == 1 and f"pid {first.pid}" in said[0] and "another `monitor serve` is running" in said[0]

    beside = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", config, "--db", str(db), "run", "--source", "a", "--no-send"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert beside.returncode == 0, beside.stdout + beside.stderr
    named = re.search(r"skipped: another process \(pid (\d+)\) is crawling it now", beside.stdout)
    assert named is not None, beside.stdout
    assert parent_of(int(named[1])) == first.pid  # serve's crawl engine holds the source
    assert beside.stdout.startswith("Crawled 0 source(s)")
    assert site.fetches("/a/feed.xml") == 1  # the run beside serve fetched nothing
    assert runs(db) == [("a", "running"), ("b", "running")]  # and nobody closed serve's live runs

    site.gates["a"].set()
    site.gates["b"].set()
    assert wait_for(lambda: runs(db) == [("a", "ok"), ("b", "ok")]), runs(db)
    first.send_signal(signal.SIGTERM)
    assert finished(first, timeout=60) == 0
    assert crashes(db) == []
    assert site.fetches("/a/1.html") == site.fetches("/a/2.html") == 1


def test_a_run_beside_another_run_crawls_only_the_sources_that_are_not_running(
    site: FeedSite, start: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    config = rules(site, tmp_path)
    first = start(config, "run", "--source", "a", "--no-send", log="first.log")
    assert wait_for(lambda: site.blocked("a")), (tmp_path / "first.log").read_text()
    assert runs(db) == [("a", "running")]

    site.gates["b"].set()
    second = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", config, "--db", str(db), "run", "--no-send"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    lines = second.stdout.splitlines()
    assert lines[0].startswith("Crawled 1 source(s)")
    assert any(line.split()[:2] == ["b", "ok"] for line in lines), second.stdout
    named = [re.fullmatch(r"  a +skipped: another process \(pid (\d+)\) is crawling it now", line) for line in lines]
    [pid] = [int(match[1]) for match in named if match]
    assert parent_of(pid) == first.pid  # the first `monitor run`'s engine holds the source

    site.gates["a"].set()
    assert finished(first, timeout=60) == 0
    assert runs(db) == [("a", "ok"), ("b", "ok")]
    assert [site.fetches(f"/{s}/{n}.html") for s in "ab" for n in (1, 2)] == [1, 1, 1, 1]  # each page once
    assert site.fetches("/a/feed.xml") == site.fetches("/b/feed.xml") == 1


def test_after_a_serve_is_killed_the_next_one_starts_and_closes_only_the_dead_ones_run(
    site: FeedSite, start: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    killed = start(rules(site, tmp_path, ("a",)), "serve", "--send-interval", "1s", log="killed.log")
    assert wait_for(lambda: site.blocked("a")), (tmp_path / "killed.log").read_text()
    both = rules(site, tmp_path)
    beside = start(both, "run", "--source", "b", "--no-send", log="beside.log")
    assert wait_for(lambda: site.blocked("b")), (tmp_path / "beside.log").read_text()
    assert runs(db) == [("a", "running"), ("b", "running")]

    os.killpg(killed.pid, signal.SIGKILL)  # serve and its crawl process, as a power cut or the OOM killer would
    killed.wait()

    after = start(both, "serve", "--send-interval", "1s", "--grace", "5s", log="after.log")
    assert wait_for(lambda: "closed 1 run(s) left open" in (tmp_path / "after.log").read_text()), (
        tmp_path / "after.log"
    ).read_text()
    assert after.poll() is None  # it started: the dead serve's lock died with it
    assert runs(db) == [("a", "failed"), ("b", "running")]  # the live `monitor run`'s crawl goes on
    assert crashes(db) == [("a", "the monitor stopped during this crawl")]

    site.gates["b"].set()
    assert finished(beside, timeout=60) == 0
    assert runs(db) == [("a", "failed"), ("b", "ok")]
    after.send_signal(signal.SIGTERM)
    assert finished(after, timeout=60) == 0
    assert crashes(db) == [("a", "the monitor stopped during this crawl")]


def test_a_serve_slot_that_comes_while_a_run_crawls_its_source_is_skipped_and_recorded(
    site: FeedSite, start: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    config = rules(site, tmp_path, ("a",))
    running = start(config, "run", "--no-send", log="run.log")
    assert wait_for(lambda: site.blocked("a")), (tmp_path / "run.log").read_text()
    assert runs(db) == [("a", "running")]

    service = Service(load_config(config), str(db), grace_seconds=5)
    service.schedule()
    service.start()
    try:
        service.scheduler.modify_job("crawl:a", next_run_time=utcnow())  # its slot comes now
        assert wait_for(lambda: runs(db) == [("a", "running"), ("a", "skipped")]), runs(db)
    finally:
        service.stop()
    assert site.fetches("/a/feed.xml") == 1

    site.gates["a"].set()
    assert finished(running, timeout=60) == 0
    assert runs(db) == [("a", "ok"), ("a", "skipped")]


def test_a_crawl_that_outlives_its_killed_serve_keeps_its_source_and_its_run_until_it_ends(
    site: FeedSite, start: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    config = rules(site, tmp_path, ("a",))
    killed = start(config, "serve", "--send-interval", "1s", log="killed.log")
    assert wait_for(lambda: site.blocked("a")), (tmp_path / "killed.log").read_text()
    os.kill(killed.pid, signal.SIGKILL)  # serve alone: its crawl process goes on
    killed.wait()

    after = start(config, "serve", "--send-interval", "1s", "--grace", "5s", log="after.log")
    assert wait_for(lambda: "serving 1 sources" in (tmp_path / "after.log").read_text()), (
        tmp_path / "after.log"
    ).read_text()
    assert runs(db) == [("a", "running")]  # the crawl still lives: its run is not closed as a crash

    site.gates["a"].set()
    assert wait_for(lambda: runs(db) == [("a", "ok")]), runs(db)
    after.send_signal(signal.SIGTERM)
    assert finished(after, timeout=60) == 0
    assert crashes(db) == []
    assert site.fetches("/a/feed.xml") == 1


def test_ctrl_c_on_a_run_stops_its_crawl_engine_and_records_the_run(
    site: FeedSite, start: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches the whole group; the engine leaves it to `monitor run`, which stops it."""
    db = tmp_path / "m.db"
    config = rules(site, tmp_path, ("a",))
    running = start(config, "run", "--no-send", log="run.log")
    assert wait_for(lambda: site.blocked("a")), (tmp_path / "run.log").read_text()
    engines = [pid for pid in children(running.pid) if "spiders.engine" in command_line(pid)]
    assert len(engines) == 1
    os.killpg(running.pid, signal.SIGINT)
    assert finished(running, timeout=30) is not None
    assert wait_for(lambda: not Path(f"/proc/{engines[0]}").exists(), timeout=15), "the engine outlived its run"
    assert runs(db) == [("a", "failed")]  # recorded, not left running
    with Store.open(db) as store:
        assert [r["kind"] for r in store.query("SELECT kind FROM run_errors")] == ["stopped"]


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``, from /proc."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(int(p.name)) == pid]


def _parent(pid: int) -> int | None:
    try:
        return parent_of(pid)
    except (OSError, ValueError, IndexError):
        return None


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
