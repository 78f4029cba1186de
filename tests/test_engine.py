"""The long-lived crawl engine, for real: its processes (read from /proc), its runs in the store, a site on 127.0.0.1.

Sources are RSS feeds on one local ``FeedSite``; a gated source's article pages wait
until the test opens its gate, so a run is surely in flight when the test acts on it
(kills the engine, reloads, recycles). ``monitor serve``'s ``Service`` drives the
scheduled tests; ``EngineSupervisor`` alone the others.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.ops.scheduler import Service
from monitor.runs import EngineSupervisor, run_crawl
from monitor.runs.supervisor import STABLE_SECONDS
from tests.enginekit import (
    ALERTING,
    FeedSite,
    ProcessWatch,
    Supervised,
    WorkerKiller,
    alive,
    article_html,
    cmdline,
    cpu_ticks,
    descendants,
    query,
    runs,
    slow_html,
    supervised,
    wait_for,
    workers_of,
)
from tests.receivers import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite() as feeds:
        yield feeds


def supervisor(service: Service) -> EngineSupervisor:
    """The service's real engine supervisor."""
    assert isinstance(service.engine, EngineSupervisor)
    return service.engine


def crashes(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT run_id, source, kind FROM run_errors WHERE kind = 'crash' ORDER BY id")


def test_two_hundred_sources_on_second_intervals_all_run_never_twice_at_once_in_one_engine_process(
    tmp_path: Path,
) -> None:
    # More than the host can answer: 8 feeds at a time, each 0.1 s, 80 a second, against 150 slots a second.
    # Every source must still get its turn (a fair queue), its slots skipped while its run waits.
    site = FeedSite(feed_delay=0.1).start()
    names = [f"s{n:03d}" for n in range(200)]
    for name in names:
        site.publish(name)  # an empty feed: a run is one request
    intervals = {name: "1s" if n % 2 else "2s" for n, name in enumerate(names)}
    crawl = "  concurrent_requests_per_domain: 8\n  engine_max_runs: 100000\n"
    config = load_config(site.config(tmp_path, intervals, extra_crawl=crawl))
    db = tmp_path / "m.db"
    service = Service(config, str(db), send_interval=60, grace_seconds=5)
    doubled: list[dict[str, Any]] = []  # a source with two runs open at once, whenever one was seen

    def every_source_ran() -> bool:
        doubled.extend(
            query(db, "SELECT source FROM runs WHERE status = 'running' GROUP BY source HAVING COUNT(*) > 1")
        )
        return len(query(db, "SELECT DISTINCT source FROM runs WHERE status = 'ok'")) == len(names)

    try:
        with ProcessWatch() as watch:
            service.schedule()
            service.start()
            try:
                engine = supervisor(service).current
                assert engine is not None
                assert wait_for(every_source_ran, timeout=30, interval=0.2), sorted(
                    set(names) - {r["source"] for r in query(db, "SELECT source FROM runs WHERE status = 'ok'")}
                )
                assert supervisor(service).current is engine
            finally:
                service.stop()
    finally:
        site.stop()
    # No process per run: one engine, no pool (workers: 1); a library's one-off `uname -p` is no crawl.
    assert {pid for pid, command in watch.started.items() if "-m spiders.engine" in command} == {engine.pid}
    assert len(watch.started) <= 2, watch.started
    assert doubled == []
    rows = query(db, "SELECT source, status, started_at, finished_at FROM runs ORDER BY id")
    assert {r["status"] for r in rows} == {"ok", "skipped"}  # none failed, none left open
    last_end: dict[str, str] = {}
    for row in rows:
        if row["status"] == "skipped":
            assert row["started_at"] == row["finished_at"]
            continue
        assert row["started_at"] >= last_end.get(row["source"], ""), row  # a run starts after the last one ended
        last_end[row["source"]] = row["finished_at"]


def test_an_engine_killed_mid_run_is_restarted_its_run_recorded_failed_and_the_source_runs_again(
    site: FeedSite, tmp_path: Path
) -> None:
    site.publish("a", {"1": article_html("Harbour ferry timetable", 1)})
    gate = site.gate("a")
    config = load_config(site.config(tmp_path, {"a": "2s"}))
    db = tmp_path / "m.db"
    service = Service(config, str(db), send_interval=60, grace_seconds=5)
    service.schedule()
    service.start()
    try:
        assert wait_for(lambda: site.blocked("a"))
        killed = supervisor(service).current
        assert killed is not None and runs(db) == [("a", "running")]
        os.kill(killed.pid, signal.SIGKILL)
        assert wait_for(lambda: runs(db) == [("a", "failed")])
        gate.set()
        assert wait_for(lambda: ("a", "ok") in runs(db))
        restarted = supervisor(service).current
        assert restarted is not None and restarted.pid != killed.pid and alive(restarted.pid)
        assert supervisor(service).restarts == 1
    finally:
        service.stop()
    assert runs(db)[:2] == [("a", "failed"), ("a", "ok")]
    [failed] = query(db, "SELECT id FROM runs WHERE status = 'failed'")
    assert crashes(db) == [{"run_id": failed["id"], "source": "a", "kind": "crash"}]
    # The dead engine's run read the feed but stored none of its articles: the run after it must fetch them.
    assert query(db, "SELECT fetched_url FROM articles") == [{"fetched_url": f"{site.base}/a/1.html"}]


def test_a_page_that_kills_its_worker_is_recorded_the_pool_replaced_and_later_pages_stored(
    site: FeedSite, tmp_path: Path
) -> None:
    site.publish("w", {"slow": slow_html(paragraphs=8000), "later": article_html("Lighthouse keeper retires", 2)})
    site.publish("v", {"next": article_html("Museum reopens", 3)})
    later = site.gate("/w/later.html")  # asked for with the slow page, answered once the slow one is recorded
    db = tmp_path / "m.db"
    with supervised(load_config(site.config(tmp_path, ["w", "v"], workers=2)), db, site) as engine:
        with WorkerKiller(engine.pid) as killer:  # the slow page kills every worker that analyses it
            engine.run("w")
            assert wait_for(lambda: query(db, "SELECT 1 FROM run_errors"), timeout=20)
        later.set()
        first = engine.next()
        assert (first.source, first.status, first.new_articles, first.errors) == ("w", "ok", 1, 1)
        second = engine.run_to_end("v")
        assert (second.status, second.new_articles, second.errors) == ("ok", 1, 0)
        replaced = workers_of(engine.pid)
        assert killer.killed and replaced and not replaced & set(killer.killed)
        assert query(db, "SELECT url, kind, message FROM run_errors") == [
            {"url": f"{site.base}/w/slow.html", "kind": "extract", "message": "an extraction worker died on this page"}
        ]
        stored = {r["fetched_url"] for r in query(db, "SELECT fetched_url FROM articles")}
        assert stored == {f"{site.base}/w/later.html", f"{site.base}/v/next.html"}
        # Its feed unchanged, the page lost to a dead worker is fetched again next run (workers no longer killed).
        third = engine.run_to_end("w")
        assert (third.status, third.new_articles) == ("ok", 1)
    stored = {r["fetched_url"] for r in query(db, "SELECT fetched_url FROM articles")}
    assert f"{site.base}/w/slow.html" in stored


def test_a_page_in_the_pool_beside_the_one_whose_worker_was_killed_is_stored_by_the_next_run(
    site: FeedSite, tmp_path: Path
) -> None:
    # A dead worker breaks the whole pool: every page being analysed fails, not only the one that killed it.
    pages = {name: slow_html(name, paragraphs=6000) for name in ("harbour", "ferry")}
    site.publish("w", pages)
    db = tmp_path / "m.db"
    with supervised(load_config(site.config(tmp_path, ["w"], workers=2)), db, site) as engine:
        engine.run("w")
        assert wait_for(lambda: len(workers_of(engine.pid)) == 2, timeout=20)
        workers = workers_of(engine.pid)

        def both_busy() -> bool:
            before = {pid: cpu_ticks(pid) for pid in workers}
            time.sleep(0.2)
            return all(cpu_ticks(pid) - ticks >= 3 for pid, ticks in before.items())  # a slow page each

        assert wait_for(both_busy, timeout=10)
        os.kill(min(workers), signal.SIGKILL)
        assert engine.next().status == "ok"
        assert engine.run_to_end("w").status == "ok"
    stored = {r["fetched_url"] for r in query(db, "SELECT fetched_url FROM articles")}
    assert stored, query(db, "SELECT url, message FROM run_errors")  # at most one page is the worker's killer


def test_the_workers_of_a_killed_engine_do_not_outlive_it(site: FeedSite, tmp_path: Path) -> None:
    site.publish("a", {"1": article_html("Harbour ferry timetable", 1)})
    with supervised(load_config(site.config(tmp_path, ["a"], workers=2)), tmp_path / "m.db") as engine:
        engine.run_to_end("a")  # the pool is up: a forkserver, a worker, the resource tracker
        killed = engine.pid
        below = descendants(killed)
        assert workers_of(killed)
        try:
            os.kill(killed, signal.SIGKILL)  # the OOM killer, or the supervisor giving up on a drain
            assert wait_for(lambda: not any(alive(pid) for pid in below), timeout=10), {
                pid: cmdline(pid) for pid in below if alive(pid)
            }
        finally:
            for pid in below:  # left behind: ours to end
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_a_reload_under_load_lets_the_old_engine_finish_its_runs_and_gives_later_runs_to_the_new_one(
    site: FeedSite, tmp_path: Path
) -> None:
    for source in ("a", "b"):
        site.publish(source, {"1": article_html(f"{source} ferry story", ord(source))})
    gates = [site.gate("a"), site.gate("b")]
    path = site.config(tmp_path, {"a": "2s", "b": "2s"})
    db = tmp_path / "m.db"
    service = Service(load_config(path), str(db), send_interval=60, grace_seconds=5)
    doubled: list[dict[str, Any]] = []

    def sampled(condition: Any) -> Any:
        doubled.extend(
            query(db, "SELECT source FROM runs WHERE status = 'running' GROUP BY source HAVING COUNT(*) > 1")
        )
        return condition()

    service.schedule()
    service.start()
    try:
        assert wait_for(lambda: site.blocked("a") and site.blocked("b"))
        old = supervisor(service).current
        assert old is not None
        assert service.reload()
        new = supervisor(service).current
        assert new is not None and new.pid != old.pid and alive(old.pid)
        reloaded = query(db, "SELECT MAX(id) AS id FROM runs")[0]["id"]
        skipped = "SELECT DISTINCT source FROM runs WHERE status = 'skipped' AND id > ? ORDER BY source"
        # A slot of each source comes while its run is in flight on the old engine: skipped, not run on the new one.
        assert wait_for(lambda: sampled(lambda: query(db, skipped, reloaded) == [{"source": "a"}, {"source": "b"}]))
        assert runs(db) == [("a", "running"), ("b", "running")]
        for gate in gates:
            gate.set()
        assert wait_for(lambda: sampled(lambda: runs(db)[:2] == [("a", "ok"), ("b", "ok")]))
        assert wait_for(lambda: not alive(old.pid))  # drained: it exits once its runs are done
        assert wait_for(lambda: sampled(lambda: len(runs(db)) >= 4))  # the next slots, on the only engine left
        assert supervisor(service).current is new and alive(new.pid)
    finally:
        service.stop()
    assert doubled == []
    assert {status for _, status in runs(db)} == {"ok"} and crashes(db) == []
    assert sorted(source for source, _ in runs(db)[2:4]) == ["a", "b"]
    assert site.fetches("/a/1.html") == site.fetches("/b/1.html") == 1  # fetched by the old engine, once


def store_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``runs`` (the run record, which every run writes)."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'runs'")]
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}


def test_one_engine_reads_an_unchanged_feed_again_each_run_with_one_request_and_no_store_write(
    site: FeedSite, tmp_path: Path
) -> None:
    pages = {"1": article_html("Bridge tender", 1), "2": article_html("Winter storm", 2)}
    site.publish("u", pages)
    db = tmp_path / "m.db"
    with supervised(load_config(site.config(tmp_path, ["u"])), db) as engine:
        pid = engine.pid
        assert engine.run_to_end("u").new_articles == 2
        before, mark = store_rows(db), len(site.requested("u"))
        again = engine.run_to_end("u")
        assert [hit.path for hit in site.requested("u")[mark:]] == ["/u/feed.xml"]
        assert (again.status, again.pages, again.new_articles, again.errors) == ("ok", 1, 0, 0)
        assert store_rows(db) == before
        site.publish("u", {**pages, "3": article_html("Library festival", 3)})
        mark = len(site.requested("u"))
        third = engine.run_to_end("u")
        assert [hit.path for hit in site.requested("u")[mark:]] == ["/u/feed.xml", "/u/3.html"]
        assert third.new_articles == 1 and engine.pid == pid
    assert [status for _, status in runs(db)] == ["ok", "ok", "ok"]


def test_an_alert_reaches_its_receiver_within_a_second_of_its_commit_not_at_the_next_send_interval(
    site: FeedSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, source in enumerate(("n1", "n2")):
        site.publish(source, {"1": article_html(f"NATO summit report {n}", 10 + n, extra=ALERTING)})
    second = site.gate("n2")  # its alert is committed once the first one has been delivered
    queued: list[float] = []  # when each AlertsQueued reached the service: just after its alert's commit

    def engine(service: Service) -> EngineSupervisor:
        def alerts_queued() -> None:
            queued.append(time.monotonic())
            service.alerts_queued()

        return EngineSupervisor(
            service.config,
            service.db_path,
            on_finished=service.run_finished,
            on_busy=service.source_busy,
            on_alerts=alerts_queued,
        )

    with Receiver() as receiver:
        monkeypatch.setenv("ENGINE_HOOK_URL", receiver.url("/hook"))
        hook = "    - name: hook\n      type: webhook\n      url: ${ENGINE_HOOK_URL}\n"
        config = load_config(site.config(tmp_path, ["n1", "n2"], destinations=hook))
        service = Service(config, str(tmp_path / "m.db"), send_interval=60, grace_seconds=5, engine=engine)
        service.schedule()
        service.start()  # the sender's first pass is now, before any alert; its next periodic one a minute later
        try:
            receiver.wait_for(1, timeout=30)
            second.set()
            posts = receiver.wait_for(2, timeout=30)
        finally:
            service.stop()
    urls = [json.loads(post.body)["story"]["outlets"][0]["url"] for post in posts]
    assert urls == [f"{site.base}/n1/1.html", f"{site.base}/n2/1.html"] and len(queued) == 2
    delays = [post.at - committed for post, committed in zip(posts, queued, strict=True)]
    assert all(0 <= delay < 1.0 for delay in delays), delays


def test_two_sources_on_one_host_crawled_at_once_share_its_download_delay(site: FeedSite, tmp_path: Path) -> None:
    for source in ("p", "q"):
        site.publish(source, {"1": article_html(f"{source} harbour", ord(source))})
    config = site.config(tmp_path, ["p", "q"], download_delay="1")
    report = run_crawl(config, str(tmp_path / "m.db"))
    assert sorted((s.source, s.status, s.new_articles) for s in report.sources) == [("p", "ok", 1), ("q", "ok", 1)]
    times = sorted(hit.at for hit in site.hits)
    assert len(times) == 5  # robots.txt, then each source's feed and page
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.45, gaps  # Scrapy waits 0.5-1.5 times the delay between two requests to a host
    p, q = site.requested("p"), site.requested("q")
    assert p[0].at < q[-1].at and q[0].at < p[-1].at  # the two runs were in flight together


def test_an_engine_is_recycled_after_engine_max_runs_and_its_run_in_flight_finishes_on_it(
    site: FeedSite, tmp_path: Path
) -> None:
    site.publish("g", {"1": article_html("Slow harbour story", 7)})
    for source in ("s1", "s2", "s3"):
        site.publish(source)
    gate = site.gate("g")
    config = load_config(site.config(tmp_path, ["g", "s1", "s2", "s3"], extra_crawl="  engine_max_runs: 3\n"))
    db = tmp_path / "m.db"
    with supervised(config, db, site) as engine:
        first = engine.pid
        engine.run("g")
        assert wait_for(lambda: site.blocked("g"))
        for source in ("s1", "s2", "s3"):
            engine.run(source)
        assert sorted(engine.next().source for _ in range(3)) == ["s1", "s2", "s3"]
        assert wait_for(lambda: engine.supervisor.current is not None and engine.pid != first)
        assert engine.supervisor.recycled == 1 and alive(first)  # still crawling g
        gate.set()
        assert engine.next().source == "g"
        assert wait_for(lambda: not alive(first))
        assert engine.run_to_end("s1").status == "ok"
        assert engine.supervisor.recycled == 1
    assert sorted(runs(db)) == [("g", "ok"), ("s1", "ok"), ("s1", "ok"), ("s2", "ok"), ("s3", "ok")]
    assert crashes(db) == []


def restarted(engine: Supervised, dead: int) -> bool:
    current = engine.supervisor.current
    return current is not None and current.pid != dead


def test_an_engine_that_keeps_dying_is_restarted_after_a_doubling_delay_reset_once_one_lived_long(
    site: FeedSite, tmp_path: Path
) -> None:
    site.publish("a")
    shift = [0.0]  # the supervisor's clock runs this far ahead: how long an engine lived, as it sees it
    with supervised(
        load_config(site.config(tmp_path, ["a"])), tmp_path / "m.db", clock=lambda: time.monotonic() + shift[0]
    ) as engine:
        delays = []
        for lived in (0.0, 0.0, STABLE_SECONDS):
            shift[0] = lived
            dying = engine.pid
            killed_at = time.monotonic()
            os.kill(dying, signal.SIGKILL)
            assert wait_for(functools.partial(restarted, engine, dying), interval=0.01)
            delays.append(time.monotonic() - killed_at)
        assert engine.supervisor.restarts == 3
    # Each restart waits its backoff (1 s, doubled, reset after a long life), and little more: a Timer, then a Popen.
    assert all(expected - 0.05 <= delay < expected + 0.75 for delay, expected in zip(delays, (1, 2, 1), strict=True)), (
        delays
    )
