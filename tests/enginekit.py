"""Helpers for tests of the crawl engine: a many-feed site with gates, the process tree from /proc, a supervisor.

``FeedSite`` serves any number of sources on one host: ``/<source>/feed.xml`` (an RSS
feed of the pages given to ``publish``) and ``/<source>/<page>.html``. A source (or one
page) given a gate answers its article pages only once the gate opens (a feed never
waits), so a run of it is surely in flight for as long as a test needs; a page in
``failing`` answers 503 until it is taken out. Every request
is recorded with when it arrived. The rest reads processes from /proc (the engine, its
forkserver and workers) and drives an ``EngineSupervisor`` without a scheduler.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.localserver import LocalServer, QuietHandler
from monitor.models import SourceRunSummary
from monitor.runs import EngineSupervisor
from monitor.store import Store
from tests.sitekit import config_text, write

WORDS = ("harbour", "ferry", "council", "budget", "island", "bridge", "school", "winter", "storm",
    "timetable", "residents", "mayor", "tender", "road", "fishing", "quota", "museum", "library", "festival",
    "election", "candidate", "turbine", "grid", "pension", "tax", "hospital", "nurse", "clinic", "train",
    "station", "airport", "runway", "freight", "tariff", "wheat", "harvest", "drought", "flood", "river",
    "dam", "reservoir", "forest", "fire", "volunteer", "lifeboat", "coast", "guard", "lighthouse", "tourism",
    "hotel", "campsite", "permit", "planning", "housing", "rent", "landlord")  # fmt: skip
ALERTING = "NATO Ukraine sanctions Kyiv Stoltenberg"  # words the four default topics score high


def article_html(title: str, seed: int, *, words: int = 240, extra: str = "") -> bytes:
    """A page trafilatura reads as an article: a title and paragraphs of words drawn with ``seed``.

    Different seeds give texts far apart, so two pages are never grouped into one story.
    """
    pick = random.Random(seed)
    paragraphs = "".join(
        f"<p>{' '.join(pick.choice(WORDS) for _ in range(40))}. {extra}</p>" for _ in range(max(1, words // 40))
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>"
    ).encode()


def slow_html(title: str = "Slow", paragraphs: int = 12000) -> bytes:
    """A page that takes an extraction worker seconds (about 0.2 ms a paragraph): a worker is busy on it a while."""
    paragraph = f"<p>The {title} authority met on Tuesday to discuss the ferry timetable, criticised for months.</p>"
    body = paragraph * paragraphs
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><div>{body}</div></article>".encode()
    )


@dataclass(frozen=True)
class Hit:
    path: str
    at: float  # time.monotonic() when the request was read


class FeedSite(LocalServer):
    """Sources on one host: feeds of the pages ``publish`` gives them, gated article pages, every request kept."""

    def __init__(self, feed_delay: float = 0.0, page_delay: float = 0.0) -> None:
        self.feed_delay = feed_delay  # seconds each feed takes to answer: a slow host bounds what can be fetched
        self.page_delay = page_delay  # seconds each article page takes to answer
        self.in_flight = 0  # requests being answered now
        self.most_in_flight = 0  # the most ever answered at once
        self.feeds: dict[str, bytes] = {}
        self.pages: dict[str, bytes] = {}
        self.gates: dict[str, threading.Event] = {}  # by source, or by a page's path
        self.failing: set[str] = set()  # paths of pages that answer 503 Service Unavailable
        self.robots_dropped = False  # /robots.txt hangs up without an answer
        self.dates: dict[str, datetime] = {}  # each page's date in its feed, fixed when first published
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                with site._lock:
                    site.hits.append(Hit(self.path, time.monotonic()))
                    site.in_flight += 1
                    site.most_in_flight = max(site.most_in_flight, site.in_flight)
                if self.path == "/robots.txt" and site.robots_dropped:
                    with site._lock:
                        site.in_flight -= 1
                    self.close_connection = True
                    return
                try:
                    status, kind, body = site.answer(self.path)
                finally:
                    with site._lock:
                        site.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler, thread_name="feed-site", report_errors=False)

    def publish(
        self, source: str, pages: dict[str, bytes] | None = None, *, titles: dict[str, str] | None = None
    ) -> None:
        """Serve ``source``'s feed listing ``pages`` (name -> HTML); no pages: an empty feed.

        A page is dated when it is first published (a minute apart, in order), and keeps its date.
        """
        now = datetime.now(UTC)
        items = []
        for number, (name, html) in enumerate((pages or {}).items()):
            path = f"/{source}/{name}.html"
            with self._lock:
                self.pages[path] = html
                dated = self.dates.setdefault(path, now - timedelta(minutes=number))
            title = (titles or {}).get(name, f"{source} {name}")
            when = format_datetime(dated)
            items.append(f"<item><title>{title}</title><link>{self.base}{path}</link><pubDate>{when}</pubDate></item>")
        feed = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>{source}</title>'
            f"<link>{self.base}/{source}/</link><description>{source}</description>{''.join(items)}</channel></rss>"
        )
        with self._lock:
            self.feeds[source] = feed.encode()

    def gate(self, key: str) -> threading.Event:
        """Hold the article pages of the source (or the one page, by its path) ``key`` until the event is set."""
        with self._lock:
            return self.gates.setdefault(key, threading.Event())

    def answer(self, path: str) -> tuple[int, str, bytes]:
        source, _, page = path.strip("/").partition("/")
        with self._lock:
            feed = self.feeds.get(source) if page == "feed.xml" else None
            html = self.pages.get(path)
            gate = self.gates.get(path) or self.gates.get(source)
        if feed is not None:
            time.sleep(self.feed_delay)
            return 200, "application/rss+xml", feed
        if html is None:
            return 404, "text/plain", b"not found"
        if path in self.failing:
            return 503, "text/plain", b"try later"
        if gate is not None:
            gate.wait(60)
        time.sleep(self.page_delay)
        return 200, "text/html; charset=utf-8", html

    def fetches(self, path: str) -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.path == path)

    def requested(self, source: str) -> list[Hit]:
        """The requests for ``source``'s feed and pages, in order."""
        with self._lock:
            return [hit for hit in self.hits if hit.path.startswith(f"/{source}/")]

    def blocked(self, source: str) -> bool:
        """Whether a run of ``source`` has read its feed and asked for an article page."""
        return any(hit.path.endswith(".html") for hit in self.requested(source))

    def config(
        self,
        folder: Path,
        sources: dict[str, str] | list[str],
        *,
        destinations: str = "",
        workers: int = 1,
        extra_crawl: str = "",
        download_delay: str = "0",
        name: str = "rules.yaml",
    ) -> str:
        """A rules.yaml of RSS sources on this site (name -> interval, or names hourly), its timeout past any gate."""
        intervals = sources if isinstance(sources, dict) else dict.fromkeys(sources, "1h")
        entries = "".join(
            f"  - name: {source}\n    type: rss\n    url: {self.base}/{source}/feed.xml\n    interval: {interval}\n"
            for source, interval in intervals.items()
        )
        # Room for every source's requests at once on this one host, so a shut gate holds no other source back.
        crawl = "" if "concurrent_requests_per_domain" in extra_crawl else "  concurrent_requests_per_domain: 16\n"
        crawl += extra_crawl
        text = config_text(entries, destinations=destinations, workers=workers, extra_crawl=crawl)
        text = text.replace("timeout: 5s", "timeout: 60s").replace(
            "download_delay: 0\n", f"download_delay: {download_delay}\n"
        )
        return write(folder / name, text)

    def open_gates(self) -> None:
        with self._lock:
            gates = list(self.gates.values())
        for gate in gates:
            gate.set()

    def stop(self) -> None:
        self.open_gates()
        super().stop()


# -- processes, from /proc ------------------------------------------------------------------


def parents() -> dict[int, int]:
    """Every live process's parent, pid -> ppid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(pid: int, tree: dict[int, int] | None = None) -> set[int]:
    """The live processes below ``pid`` (children, their children, ...)."""
    tree = parents() if tree is None else tree
    below: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in tree.items() if parent in frontier} - below
        below |= frontier
    return below


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cpu_ticks(pid: int) -> int:
    """The CPU time ``pid`` has used (user + system), in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def workers_of(engine: int) -> set[int]:
    """An engine's extraction workers: its grandchildren (forked by the forkserver, its child)."""
    tree = parents()
    children = {pid for pid, parent in tree.items() if parent == engine}
    return {pid for pid, parent in tree.items() if parent in children}


class WorkerKiller:
    """Kills, on a thread, every extraction worker of ``engine`` found busy: what a page that crashes workers does.

    Only a page that takes a worker long (``slow_html``) keeps one busy for a whole sample.
    """

    def __init__(self, engine: int, sample: float = 0.2):
        self.engine = engine
        self.sample = sample
        self.killed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-killer", daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            before = {pid: cpu_ticks(pid) for pid in workers_of(self.engine)}
            if self._stop.wait(self.sample):
                return
            for pid, ticks in before.items():
                if cpu_ticks(pid) - ticks >= 3:  # 30 ms of CPU in the sample: more than a whole ordinary page
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append(pid)

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class ProcessWatch:
    """Samples, on a thread, every process below this one: which appeared while it watched (``started``)."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.before = descendants(_self_pid())
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="process-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for pid in descendants(_self_pid()) - self.before:
                if pid not in self.seen:
                    self.seen[pid] = cmdline(pid)
            self._stop.wait(self.interval)

    @property
    def started(self) -> dict[int, str]:
        """The processes that appeared below this one while watched: pid -> command line."""
        return dict(self.seen)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _self_pid() -> int:
    return os.getpid()


# -- waiting, the store ---------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def query(db: Path | str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of ``sql`` on the store at ``db`` (none if it does not exist yet)."""
    if not Path(db).exists():
        return []
    with Store.open(db) as store:
        return [dict(row) for row in store.query(sql, list(args))]


def runs(db: Path | str, source: str | None = None) -> list[tuple[str, str]]:
    """Every run (skips left out) as (source, status), oldest first; of ``source`` only if given."""
    rows = query(db, "SELECT source, status FROM runs WHERE status != 'skipped' ORDER BY id")
    return [(r["source"], r["status"]) for r in rows if source is None or r["source"] == source]


class Supervised:
    """An ``EngineSupervisor`` on a store, its finished runs in a queue: what ``monitor serve`` runs, without the clock."""

    def __init__(self, config: Config, db: Path, **kwargs: Any):
        self.finished: queue.Queue[SourceRunSummary] = queue.Queue()
        self.supervisor = EngineSupervisor(
            config, str(db), on_finished=self.finished.put, on_busy=_unexpected_busy, on_alerts=lambda: None, **kwargs
        )

    @property
    def pid(self) -> int:
        engine = self.supervisor.current
        assert engine is not None, "no engine is up"
        return engine.pid

    def run(self, source: str, deadline: float | None = 60.0) -> None:
        assert self.supervisor.submit(source, deadline), f"{source} was not started"

    def next(self, timeout: float = 30.0) -> SourceRunSummary:
        return self.finished.get(timeout=timeout)

    def run_to_end(self, source: str) -> SourceRunSummary:
        self.run(source)
        summary = self.next()
        assert summary.source == source, summary
        return summary


def _unexpected_busy(source: str, pid: int | None) -> None:
    raise AssertionError(f"{source}: a run was refused, its lease held by pid {pid}")


@contextlib.contextmanager
def supervised(config: Config, db: Path, site: FeedSite | None = None, **kwargs: Any) -> Iterator[Supervised]:
    """A started supervisor, stopped (its engines drained, then killed) at the end, after ``site``'s gates open."""
    harness = Supervised(config, db, **kwargs)
    harness.supervisor.start()
    try:
        yield harness
    finally:
        if site is not None:
            site.open_gates()  # a test that failed with a run at a gate: let it end rather than wait out the drain
        harness.supervisor.stop(5.0)
