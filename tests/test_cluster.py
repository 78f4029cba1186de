"""Scale-out on a real Redis: one writer (``monitor serve --cluster``) and ``monitor worker``s, all real processes.

A real redis-server (``tests.rediskit``) on loopback, a many-feed site (``FeedSite``)
and a webhook receiver. The promises: every article stored once and every alert sent
once, whatever dies (a worker, the writer, Redis itself) and whenever.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.enginekit import ALERTING, FeedSite, article_html, query, wait_for
from tests.receivers import Receiver
from tests.rediskit import RedisServer

KEY = "test-cluster-key-0123456789"
HOOK = "    - name: hook\n      type: webhook\n      url: ${CLUSTER_HOOK_URL}\n"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite() as served:
        yield served


class Rig:
    """The writer and the workers of one test, as processes in sessions of their own (kill -9 takes the whole tree)."""

    def __init__(self, tmp_path: Path, redis_url: str, config: str, hook_url: str):
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.config = config
        self.db = tmp_path / "monitor.db"
        self.env = {**os.environ, "MONITOR_CLUSTER_KEY": KEY, "CLUSTER_HOOK_URL": hook_url}
        self.writer: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Path] = []

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.log"
        self.logs.append(log)
        command = [sys.executable, "-m", "monitor", "--config", self.config, "--db", str(self.db), *args]
        with log.open("ab") as out:
            return subprocess.Popen(command, env=self.env, stdout=out, stderr=out, start_new_session=True)

    def start_writer(self) -> None:
        self.writer = self._start(
            "writer",
            "serve",
            "--cluster",
            self.redis_url,
            "--send-interval",
            "1s",
            "--grace",
            "2s",
            "--worker-timeout",
            "5s",
        )

    def start_worker(self, name: str, *options: str) -> None:
        cache = str(self.tmp_path / f"cache-{name}")
        self.workers[name] = self._start(
            name,
            "worker",
            "--cluster",
            self.redis_url,
            "--name",
            name,
            "--claim-after",
            "3s",
            "--cache-dir",
            cache,
            *options,
        )

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9 the process and everything it started (its engine, its extraction workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in [*self.workers.values(), *([self.writer] if self.writer else [])]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers.values(), *([self.writer] if self.writer else [])]:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill(process)

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)

    def articles(self) -> int:
        if not self.db.exists():
            return 0
        return int(query(self.db, "SELECT COUNT(*) AS n FROM articles")[0]["n"])


def publish(site: FeedSite, sources: int, pages: int, *, alerting_every: int = 10) -> tuple[list[str], int]:
    """``sources`` feeds of ``pages`` articles each; every ``alerting_every``-th one alerts. Names, alerting count."""
    names = [f"s{number}" for number in range(sources)]
    alerting = 0
    for number, name in enumerate(names):
        articles = {}
        for page in range(pages):
            seed = number * 1000 + page
            hot = seed % alerting_every == 0
            alerting += hot
            articles[str(page)] = article_html(f"{name} story {page}", seed, extra=ALERTING if hot else "")
        site.publish(name, articles)
    return names, alerting


@pytest.fixture
def rig(tmp_path: Path, redis_server: RedisServer, site: FeedSite) -> Iterator[tuple[Rig, Receiver, FeedSite]]:
    with Receiver() as receiver:
        yield_rig: Rig | None = None
        try:

            def make(config: str) -> Rig:
                nonlocal yield_rig
                yield_rig = Rig(tmp_path, redis_server.url, config, receiver.url("/hook"))
                return yield_rig

            yield make, receiver, site  # type: ignore[misc]
        finally:
            if yield_rig is not None:
                yield_rig.stop()


def _config(site: FeedSite, tmp_path: Path, names: list[str], interval: str = "1h") -> str:
    return site.config(tmp_path, dict.fromkeys(names, interval), destinations=HOOK)


def _alerts(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["story"]["outlets"][0]["url"] for request in receiver.requests]


def test_three_workers_store_every_article_once_and_alert_once(rig, tmp_path: Path) -> None:
    make, receiver, site = rig
    names, alerting = publish(site, sources=10, pages=30)
    cluster = make(_config(site, tmp_path, names))
    cluster.start_writer()
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name)
    assert wait_for(lambda: cluster.articles() == 300, timeout=240), cluster.output()
    assert wait_for(lambda: len(receiver.requests) >= alerting, timeout=60), cluster.output()
    time.sleep(2)  # a duplicate would come now
    urls = _alerts(receiver)
    assert len(urls) == alerting == len(set(urls))
    rows = query(cluster.db, "SELECT COUNT(*) AS n, COUNT(DISTINCT url) AS d FROM articles")[0]
    assert rows["n"] == rows["d"] == 300
    # every run closed ok, counted by the writer, and run by the workers (not by the writer itself)
    finished = query(cluster.db, "SELECT source, status, new_articles FROM runs WHERE status != 'running'")
    assert sorted(r["source"] for r in finished) == sorted(names)
    assert all(r["status"] == "ok" and r["new_articles"] == 30 for r in finished), finished
    # How old the new articles were when the monitor first had them: the feed dates them a minute apart, so
    # the median of 30 is 14.5 minutes, plus the crawl's own seconds.
    ages = [r["median_age_seconds"] for r in query(cluster.db, "SELECT median_age_seconds FROM runs")]
    assert all(14.5 * 60 <= age < 14.5 * 60 + 240 for age in ages), ages
    # status shows the workers and the streams' backlog
    status = _status(cluster)
    assert sorted(worker["name"] for worker in status["workers"]) == ["w1", "w2", "w3"]
    assert all(
        w["alive"] and w["pid"] and w["host"] and w["config_hash"] == status["config_hash"] for w in status["workers"]
    )
    assert sum(worker["pages_per_minute"] for worker in status["workers"]) >= 300
    assert status["tasks"] == {"entries": 0, "in_progress": 0, "waiting": 0}
    assert status["results"]["entries"] == 0
    joined = re.findall(r"worker (\S+): joined", "".join(log.read_text() for log in tmp_path.glob("w*.log")))
    assert sorted(joined) == ["w1", "w2", "w3"]


def _story_alerts(receiver: Receiver) -> list[str]:
    """The story alerts received (operator notices left out), by their article's URL."""
    bodies = [json.loads(request.body) for request in receiver.requests]
    return [body["story"]["outlets"][0]["url"] for body in bodies if "story" in body]


def _notices(receiver: Receiver) -> list[dict[str, object]]:
    bodies = [json.loads(request.body) for request in receiver.requests]
    return [body for body in bodies if "story" not in body]


def _settled(cluster: Rig, receiver: Receiver, articles: int, alerting: int, timeout: float = 240) -> list[str]:
    """Wait for every article and alert; then a moment more, for a duplicate to show; the alerts' URLs."""
    assert wait_for(lambda: cluster.articles() == articles, timeout=timeout), cluster.output()
    assert wait_for(lambda: len(_story_alerts(receiver)) >= alerting, timeout=60), cluster.output()
    time.sleep(2)
    rows = query(cluster.db, "SELECT COUNT(*) AS n, COUNT(DISTINCT url) AS d FROM articles")[0]
    assert rows["n"] == rows["d"] == articles
    return _story_alerts(receiver)


def test_workers_killed_mid_batch_lose_nothing_and_alert_once(rig, tmp_path: Path) -> None:
    make, receiver, site = rig
    names, alerting = publish(site, sources=8, pages=80)
    # A page whose three takers all happened to be killed is given up for its run, and fetched by the next.
    cluster = make(_config(site, tmp_path, names, interval="3s"))
    cluster.start_writer()
    live = ["w1", "w2", "w3"]
    for name in live:
        cluster.start_worker(name)
    pick = random.Random(16)
    killed = []

    def joined(name: str) -> bool:
        return "joined the cluster" in (tmp_path / f"{name}.log").read_text()

    assert wait_for(lambda: cluster.articles() >= 20, timeout=120), cluster.output()  # the crawl is under way
    for number in range(10):
        time.sleep(pick.uniform(0.3, 1.0))
        assert wait_for(lambda: any(joined(name) for name in live), timeout=30), cluster.output()
        victim = pick.choice([name for name in live if joined(name)])  # one that took work
        cluster.kill(cluster.workers[victim])
        killed.append(victim)
        live.remove(victim)
        replacement = f"w{4 + number}"
        cluster.start_worker(replacement)  # a new machine takes its place
        live.append(replacement)
    assert cluster.articles() < 640, "the kills came after the crawl: the test proves nothing"
    urls = _settled(cluster, receiver, 640, alerting)
    assert len(urls) == alerting == len(set(urls))
    log = "".join(path.read_text() for path in tmp_path.glob("w*.log"))
    assert "claimed" in log  # the killed workers' tasks were taken over, not waited out
    # each killed worker is reported once to the operator, through the alert path
    assert wait_for(lambda: len(_notices(receiver)) >= len(killed), timeout=30), cluster.output()
    time.sleep(6)  # past another --worker-timeout: a second notice would come now
    reported = [str(notice["source"]) for notice in _notices(receiver)]
    assert sorted(reported) == sorted(f"cluster worker {name}" for name in killed), (reported, cluster.output())


def _crawling(rig, tmp_path: Path) -> tuple[Rig, Receiver, int]:  # type: ignore[no-untyped-def]
    """A writer and two workers well into a crawl of 320 articles; the rig, the receiver, the alerts owed."""
    make, receiver, site = rig
    names, alerting = publish(site, sources=8, pages=40)
    cluster = make(_config(site, tmp_path, names))
    cluster.start_writer()
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    assert wait_for(lambda: cluster.articles() >= 40, timeout=120), cluster.output()
    return cluster, receiver, alerting


def test_writer_killed_mid_batch_completes_it_on_restart(rig, tmp_path: Path) -> None:
    cluster, receiver, alerting = _crawling(rig, tmp_path)
    assert cluster.writer is not None
    cluster.kill(cluster.writer)
    stored = cluster.articles()
    assert stored < 320, "the writer was killed after the crawl: the test proves nothing"
    time.sleep(2)  # the workers go on; their results wait in Redis
    cluster.start_writer()
    urls = _settled(cluster, receiver, 320, alerting)
    assert len(set(urls)) == alerting
    # The writer is also the sender: killed between a POST and its mark, it posts that alert once more on
    # restart with the same webhook-id (the outbox's at-least-once promise), which a receiver deduplicates on.
    ids: dict[str, set[str]] = {}
    for request in receiver.requests:
        body = json.loads(request.body)
        if "story" in body:
            ids.setdefault(body["story"]["outlets"][0]["url"], set()).add(str(request.header("webhook-id")))
    assert all(len(posted) == 1 for posted in ids.values()), ids
    assert len(urls) - alerting <= 1
    alerts = query(cluster.db, "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM alerts WHERE kind = 'alert'")[0]
    assert alerts["n"] == alerts["d"] == alerting


def test_redis_restarted_mid_crawl_loses_nothing(rig, tmp_path: Path, redis_server: RedisServer) -> None:
    cluster, receiver, alerting = _crawling(rig, tmp_path)
    redis_server.restart(down_for=2.0)
    assert cluster.articles() < 320, "Redis restarted after the crawl: the test proves nothing"
    urls = _settled(cluster, receiver, 320, alerting)
    assert len(urls) == alerting == len(set(urls))
    writer_log = (tmp_path / "writer.log").read_text()
    assert writer_log.count("Redis unreachable") >= 1 and "Redis is back" in writer_log


def test_a_worker_with_a_stale_configuration_reloads(rig, tmp_path: Path) -> None:
    make, _, site = rig
    names, _ = publish(site, sources=2, pages=3)
    config = _config(site, tmp_path, names, interval="2s")
    cluster = make(config)
    cluster.start_writer()
    cluster.start_worker("w1")
    assert wait_for(lambda: cluster.articles() == 6, timeout=120), cluster.output()
    # A new rule, and a new source whose article only that rule matches: the old configuration knows neither.
    site.publish("s2", {"new": article_html("Lighthouse keeper", 99, extra="lighthouse keeper " * 5)})
    text = Path(_config(site, tmp_path, [*names, "s2"], interval="2s")).read_text()
    Path(config).write_text(text + "  - name: ferries\n    terms: [lighthouse keeper]\n")
    assert wait_for(
        lambda: query(cluster.db, "SELECT COUNT(*) AS n FROM matches WHERE rule = 'ferries'")[0]["n"] == 1, timeout=60
    ), cluster.output()
    log = (tmp_path / "w1.log").read_text()
    assert re.search(r"worker w1: configuration \w+ replaces \w+", log), log


def test_workers_share_one_download_delay_per_host(rig, tmp_path: Path) -> None:
    make, _, site = rig
    names, _ = publish(site, sources=4, pages=3)
    config = site.config(tmp_path, dict.fromkeys(names, "1h"), download_delay="0.4")
    cluster = make(config)
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    assert wait_for(lambda: "joined" in (tmp_path / "w2.log").read_text(), timeout=30)
    cluster.start_writer()
    assert wait_for(lambda: cluster.articles() == 12, timeout=120), cluster.output()
    arrivals = sorted(hit.at for hit in site.hits)
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # 4 feeds, 12 pages and one robots.txt for the cluster, to one host from two machines: never two within the delay
    robots = [hit for hit in site.hits if hit.path == "/robots.txt"]
    assert len(robots) == 1 and len(arrivals) == 17
    assert min(gaps) >= 0.35, [round(gap, 3) for gap in gaps]
    ran_on = re.findall(r"worker (w\d): joined", "".join(p.read_text() for p in tmp_path.glob("w*.log")))
    assert sorted(ran_on) == ["w1", "w2"]


def test_a_robots_txt_that_could_not_be_fetched_holds_no_other_worker_back(rig, tmp_path: Path) -> None:
    make, _, site = rig
    site.robots_dropped = True  # the host hangs up on /robots.txt: the worker that asked allows all (Scrapy's way)
    names, _ = publish(site, sources=4, pages=6)
    cluster = make(site.config(tmp_path, dict.fromkeys(names, "1h")))
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    assert wait_for(lambda: "joined" in (tmp_path / "w2.log").read_text(), timeout=30)
    cluster.start_writer()
    # The others learn of the failure from Redis: without it, they would wait out the 30 s fetch lock, then ask again.
    assert wait_for(lambda: cluster.articles() == 24, timeout=20), cluster.output()
    assert [hit.path for hit in site.hits].count("/robots.txt") == 1

    def fetched() -> dict[str, int]:  # pages each worker fetched, as its heartbeats tell
        return {worker["name"]: worker["pages_per_minute"] for worker in _status(cluster)["workers"]}

    assert wait_for(lambda: sum(fetched().values()) == 4 + 24, timeout=20, interval=0.5), fetched()
    assert sorted(fetched()) == ["w1", "w2"] and min(fetched().values()) > 0, fetched()  # both fetched from it


def _status(cluster: Rig) -> dict[str, Any]:
    shown = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", cluster.config, "--db", str(cluster.db), "status", "--json"],
        env={**cluster.env, "MONITOR_CLUSTER": cluster.redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout)["cluster"])


def test_one_big_source_is_fetched_by_every_worker(rig, tmp_path: Path) -> None:
    make, receiver, site = rig
    names, alerting = publish(site, sources=1, pages=100)  # a source's max_pages a run
    cluster = make(_config(site, tmp_path, names))
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    assert wait_for(lambda: "joined" in (tmp_path / "w2.log").read_text(), timeout=30)
    cluster.start_writer()
    urls = _settled(cluster, receiver, 100, alerting, timeout=60)
    assert len(urls) == alerting == len(set(urls))
    # One run: one worker read its feed, and both fetched and analysed its pages.
    status = _status(cluster)
    fetched = {worker["name"]: worker["pages_per_minute"] for worker in status["workers"]}
    assert sum(fetched.values()) == 101, fetched  # the feed and 100 pages, each once
    assert min(fetched.values()) >= 20, fetched
    assert status["pages"] == {"entries": 0, "in_progress": 0, "waiting": 0}
    # The writer closed the run once every page was done, with every page counted.
    assert wait_for(lambda: query(cluster.db, "SELECT status FROM runs")[0]["status"] != "running", timeout=30)
    run = query(cluster.db, "SELECT status, pages, new_articles, errors FROM runs")
    assert run == [{"status": "ok", "pages": 101, "new_articles": 100, "errors": 0}]
    assert query(cluster.db, "SELECT COUNT(*) AS n FROM cluster_pages")[0]["n"] == 0


def test_a_page_a_worker_could_not_fetch_is_fetched_at_the_next_run(rig, tmp_path: Path) -> None:
    make, _, site = rig
    names, _ = publish(site, sources=1, pages=3)
    failing = "/s0/1.html"
    site.failing.add(failing)
    cluster = make(_config(site, tmp_path, names, interval="2s"))
    cluster.start_writer()
    # w1 reads every run's feed (and keeps it in its HTTP cache), w2 fetches every page: only the cluster
    # can tell w1 that a page its feed named was not fetched.
    cluster.start_worker("w1", "--page-slots", "0")
    cluster.start_worker("w2", "--slots", "0")
    first = "SELECT status, pages, new_articles, errors FROM runs WHERE status IN ('ok', 'failed') ORDER BY id LIMIT 1"
    assert wait_for(lambda: cluster.db.exists() and query(cluster.db, first), timeout=60), cluster.output()
    assert query(cluster.db, first) == [{"status": "ok", "pages": 3, "new_articles": 2, "errors": 1}]
    site.failing.clear()
    # The feed has not changed, so its runs would not read it again; the page that failed is fetched anyway.
    assert wait_for(lambda: cluster.articles() == 3, timeout=60), cluster.output()
    assert site.fetches(failing) == 2
    assert site.fetches("/s0/0.html") == 1


def test_a_page_that_took_down_every_worker_that_took_it_is_given_up_for_the_run(
    redis_server: RedisServer, monkeypatch
) -> None:
    import redis as redis_py

    from monitor.cluster import Worker
    from monitor.cluster.bus import PAGES, REREAD, RESULTS, WORKER_GROUP, ensure_group, seal, unseal
    from monitor.cluster.messages import ErrorFound, PageDone, PageTask
    from monitor.ingest import PageOrder

    monkeypatch.setenv("MONITOR_CLUSTER_KEY", KEY)
    client = redis_py.Redis.from_url(redis_server.url)
    ensure_group(client, PAGES, WORKER_GROUP)
    killer = PageOrder("http://127.0.0.1:1/s0/killer.html", "Killer", None, "http://127.0.0.1:1/s0/feed.xml")
    task = PageTask("s0", 7, killer, None, "")
    ticket = client.xadd(PAGES, {"m": seal(task, KEY.encode())}).decode()
    worker = Worker(redis_server.url, name="w9", claim_after=0.01)
    client.xreadgroup(WORKER_GROUP, "dead-1", {PAGES: ">"}, count=1)  # taken by three workers that died on it
    for dead in ("dead-2", "dead-3"):
        client.xclaim(PAGES, WORKER_GROUP, dead, 0, [ticket])
    time.sleep(0.02)
    claimed = worker._claim(PAGES, 1)  # the silent worker's page, taken over a fourth time
    assert [item[0].decode() for item in claimed] == [ticket]
    worker._fetch(task, ticket)
    assert worker.engine is None and not worker.pages_in_flight  # no engine was even asked
    results = [unseal(fields[b"m"], KEY.encode()) for _, fields in client.xrange(RESULTS)]
    assert [type(result) for result in results] == [ErrorFound, PageDone]
    error, done = results
    assert isinstance(error, ErrorFound) and isinstance(done, PageDone)
    assert error.url == killer.url and "given up after 3 workers" in error.message
    assert (done.run_id, done.url, done.errors, done.ticket) == (7, killer.url, 1, ticket)
    assert client.xlen(PAGES) == 0 and client.xpending(PAGES, WORKER_GROUP)["pending"] == 0
    # Not for good: the workers may have died of something else, so the next run reads its feed in full.
    assert client.smembers(REREAD) == {killer.index_url.encode()}


def test_workers_share_one_concurrency_budget_per_host(rig, tmp_path: Path) -> None:
    make, _, _ = rig
    with FeedSite(page_delay=0.3) as slow:
        names, _ = publish(slow, sources=4, pages=8)
        extra = "  concurrent_requests_per_domain: 2\n"
        cluster = make(slow.config(tmp_path, dict.fromkeys(names, "1h"), extra_crawl=extra))
        for name in ("w1", "w2"):
            cluster.start_worker(name)
        assert wait_for(lambda: "joined" in (tmp_path / "w2.log").read_text(), timeout=30)
        cluster.start_writer()
        assert wait_for(lambda: cluster.articles() == 32, timeout=120), cluster.output()
        # Each worker may send two at once; together they never send the host more than two.
        assert slow.most_in_flight == 2
        fetched = {worker["name"]: worker["pages_per_minute"] for worker in _status(cluster)["workers"]}
        assert min(fetched.values()) >= 4, fetched  # both workers fetched from the host


def test_a_killed_workers_concurrency_slots_are_freed_within_seconds(rig, tmp_path: Path) -> None:
    import redis as redis_py

    from monitor.cluster.bus import BUSY
    from monitor.netpolicy import host_of

    make, _, site = rig
    names, _ = publish(site, sources=2, pages=5)
    extra = "  concurrent_requests_per_domain: 2\n"  # the download timeout is 60 s: a slot holds 90 s
    cluster = make(site.config(tmp_path, dict.fromkeys(names, "1h"), extra_crawl=extra))
    cluster.start_worker("w1")
    assert wait_for(lambda: "joined" in (tmp_path / "w1.log").read_text(), timeout=30)
    # A worker killed mid-download left both of the host's slots taken, for the full hold.
    client = redis_py.Redis.from_url(cluster.redis_url)
    now_ms = int(time.time() * 1000)
    client.zadd(BUSY + str(host_of(site.base)), {"w0:1": now_ms + 90_000, "w0:2": now_ms + 90_000})
    cluster.start_writer()
    # w0 never heartbeats: its slots go at once, not after the 90 s their hold would last.
    assert wait_for(lambda: cluster.articles() == 10, timeout=30), cluster.output()
    assert client.zcard(BUSY + str(host_of(site.base))) == 0
