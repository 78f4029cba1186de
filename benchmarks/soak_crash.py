"""Crash safety: SIGKILL ``monitor serve``'s tree, its crawl engine or an extraction worker again and again.

A local news site (127.0.0.1) gains articles while the soak runs, made from the
demo's NATO story (alerting) and a quiet one, each under its own title and URL;
one in three stays quiet. In ``world`` each alerting article has the words of
its paragraphs shuffled (seeded by its number), so it is a story of its own;
``business`` carries unchanged copies of the NATO story, one story to the store.
``monitor serve`` crawls it (two RSS feeds and a sitemap of the first, on 1-2 s
intervals, plus a feed on a dead port whose failures raise a ``source.health``
notice) and sends alerts every second to a local, signed webhook receiver that
verifies each signature, answers after a short delay (like a real endpoint),
and deduplicates by ``webhook-id``, counting a second receipt of an id as a
re-send.

What is owed: the store groups near-duplicates into stories and owes one alert
per story per destination, so the soak owes one alert per alerting ``world``
article and one for all of ``business``'s copies (checked against the stories
the store formed). Operator notices (``source.health``, ``destination.paused``)
travel the same outbox: the receiver takes them too, and every notice queued is
owed like an alert.

serve runs in its own process group; at random moments (a seeded RNG) one of
three targets (``--target``) is killed with SIGKILL:

* ``tree`` (the default): the whole group (serve, its crawl engine and the
  engine's extraction workers), and serve is started again. A third of the kills
  wait for a run to open in the store, a third for a POST to reach the receiver
  (so the kill lands while the sender waits for the answer or records it), a
  third are plain random.
* ``engine``: the crawl engine alone (``python -m spiders.engine``); serve stays
  up, records the engine's runs in flight as failed and starts a new engine after
  a backoff (1 s, doubling while engines keep dying young, reset by an engine
  that lived a minute). Before a kill whose backoff would pass ``--max-backoff``
  the soak lets the engine live past that minute, so the backoff is reset rather
  than the soak spent waiting. A third of the kills wait for a run to open, a
  third for an article page to be fetched (so the kill lands while the page is
  analysed or stored with its alerts), a third are random. The sender lives in
  serve, so no kill should cause a re-send.
* ``worker``: one extraction worker (a child of the engine's forkserver); the
  engine retries the pages in flight on a fresh pool, and records a page that
  kills a second worker. A third of the kills wait for an article page to be
  fetched and kill the worker that is then on the CPU (analysing it), a third
  kill a worker of a fresh pool as soon as it appears (while the page that broke
  the last pool waits for it), a third are random.

The engine and worker targets use two extraction workers (``--workers``); the
tree uses one, as before. Then publishing stops and serve (started again after a
tree kill) runs until every article is stored and every alert and notice owed
has arrived and is marked delivered (or ``--drain`` seconds pass), and is
stopped with SIGTERM; whatever of its process group is still there then (a
killed engine's forkserver or workers) is reported and killed. Each re-send is
put down to the first kill after the previous receipt of its id (the kill that
kept the sender from recording the delivery); one with no kill in between is
"unexplained". Nothing may be lost; at most one re-send per kill. A soak test,
not part of the quick suite. Usage::

    python benchmarks/soak_crash.py [--kills 20] [--seed 6] [--target tree|engine|worker]
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from bench_serve import Publisher, dead_port, machine

from monitor.alerts import SignatureError, verify
from monitor.demo.receiver import Receiver
from monitor.demo.sites import LocalSite, Story
from monitor.runs.supervisor import FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, STABLE_SECONDS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.sitekit import config_text  # noqa: E402 - the tests' config for local sites, shared on purpose

TRIGGER_LIMIT = 30.0  # seconds to wait for a moment (a run, a page, a POST, a worker) before going on anyway
URL_VARIABLE, SECRET_VARIABLE = "SOAK_WEBHOOK_URL", "SOAK_WEBHOOK_SECRET"


# --- the site ----------------------------------------------------------------------------------------------------

PARAGRAPH = re.compile(r"<p>([^<]+)</p>")


def reworded(story: Story, salt: str) -> Story:
    """``story`` with the words of each plain paragraph shuffled: the same terms, another story to the store."""
    rng = random.Random(salt)

    def shuffle(match: re.Match[str]) -> str:
        words = match.group(1).split()
        rng.shuffle(words)
        return "<p>" + " ".join(words) + "</p>"

    return replace(story, html=PARAGRAPH.sub(shuffle, story.html))


class StoryPublisher(Publisher):
    """A Publisher whose alerting articles are each a story of their own (see ``reworded``)."""

    def __init__(self, site: LocalSite, feed: str, *, every: float, tag: str):
        super().__init__(site, feed, every=every, tag=tag)
        self.original = self.alerting

    def publish(self) -> Story:
        self.alerting = reworded(self.original, f"{self.tag}{len(self.stories) + 1}")
        return super().publish()


# --- the receiver ------------------------------------------------------------------------------------------------


@dataclass
class Receipt:
    """One signed POST as the receiver got it."""

    alert_id: str
    kind: str  # the event's type: "article.matched", "source.health", ...
    story: str  # the story's key for an alert; "" for a notice
    at: float  # time.monotonic() when it was read
    answered: float | None = None  # when the 200 went out, if it did


ALERT_TYPE = "article.matched"
NOTICE_TYPES = ("source.health", "destination.paused")


def receipt(alert_id: str, event: dict[str, Any], at: float) -> Receipt:
    """What the receiver keeps of one event: its id, type and, for an alert, its story's key."""
    story = event["story"]["key"] if event.get("type") == ALERT_TYPE else ""
    return Receipt(alert_id, str(event.get("type")), story, at)


class DedupReceiver(Receiver):
    """The demo receiver, made a careful consumer: checks signatures, answers after ``delay``, dedupes by id."""

    def __init__(self, secret: str, delay: float):
        self.secret, self.delay = secret, delay
        self.receipts: list[Receipt] = []
        self.bad_signatures = 0
        self.got_post = threading.Event()
        super().__init__()
        self.server.handle_error = _quiet  # type: ignore[method-assign]  # a killed sender resets its connection

    def unique(self) -> dict[str, Receipt]:
        """Id -> its first receipt, each id once (alerts and notices)."""
        with self._lock:
            first: dict[str, Receipt] = {}
            for r in self.receipts:
                first.setdefault(r.alert_id, r)
            return first

    def stories(self) -> set[str]:
        """The keys of the stories whose alert arrived."""
        return {r.story for r in self.unique().values() if r.kind == ALERT_TYPE}

    def in_flight(self, moment: float) -> int:
        """POSTs read but not yet answered at ``moment``."""
        with self._lock:
            return sum(1 for r in self.receipts if r.at <= moment and (r.answered is None or r.answered > moment))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verify(receiver.secret, headers, body)
                except SignatureError:
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    self.answer(401)
                    return
                got = receipt(headers["webhook-id"], json.loads(body), time.monotonic())
                with receiver._lock:
                    receiver.receipts.append(got)
                receiver.got_post.set()
                time.sleep(receiver.delay)
                if self.answer(200):
                    got.answered = time.monotonic()

            def answer(self, status: int) -> bool:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self.wfile.flush()
                except OSError:  # the sender was killed while waiting
                    return False
                return True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _quiet(request: Any, client_address: Any) -> None:
    """Say nothing about a connection the sender's death cut."""


# --- the processes -----------------------------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    """One live process as /proc shows it."""

    pid: int
    ppid: int
    pgrp: int
    started: int  # clock ticks after boot: with the pid, names the process even if the pid is reused
    command: str


def processes() -> dict[int, Proc]:
    """Every live (not zombie) process, by pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found[int(entry)] = Proc(int(entry), int(fields[1]), int(fields[2]), int(fields[19]), command)
    return found


def group(pgid: int) -> list[tuple[int, str]]:
    """Live processes of process group ``pgid``: pid and command line."""
    return [(p.pid, p.command) for p in processes().values() if p.pgrp == pgid]


def engines(pgid: int, procs: dict[int, Proc] | None = None) -> list[Proc]:
    """Crawl engines (``python -m spiders.engine``) in serve's group, oldest first."""
    procs = processes() if procs is None else procs
    return sorted(
        (p for p in procs.values() if p.pgrp == pgid and "spiders.engine" in p.command), key=lambda p: p.started
    )


def engine_age(pgid: int) -> float:
    """Seconds the current engine has been up; 0 when there is none."""
    engine = newest_engine(pgid)
    return age(engine) if engine is not None else 0.0


def crawls(pgid: int) -> int:
    """Crawl engines running in serve's group."""
    return len(engines(pgid))


def newest_engine(pgid: int, procs: dict[int, Proc] | None = None) -> Proc | None:
    """The engine serve started last: the current one (an older one is draining after a recycle or reload)."""
    found = engines(pgid, procs)
    return found[-1] if found else None


def pool(engine: int, procs: dict[int, Proc]) -> list[Proc]:
    """The extraction workers of ``engine``: the children of its forkserver (forked from it, so with its command)."""
    servers = {p.pid for p in procs.values() if p.ppid == engine and "multiprocessing.forkserver" in p.command}
    return [p for p in procs.values() if p.ppid in servers]


def orphans(serve: int) -> set[Proc]:
    """Processes of serve's group no longer under serve: their parent (an engine) died and they did not."""
    procs = processes()
    found = set()
    for proc in procs.values():
        if proc.pgrp != serve or proc.pid == serve:
            continue
        up = proc
        while up.ppid in procs and up.ppid != serve:
            up = procs[up.ppid]
        if up.ppid != serve:
            found.add(proc)
    return found


def role(proc: Proc, among: set[Proc]) -> str:
    """What an orphan is: a resource tracker, a forkserver, or a worker (a forkserver's child)."""
    if "resource_tracker" in proc.command:
        return f"resource tracker {proc.pid}"
    if any(p.pid == proc.ppid for p in among):
        return f"worker {proc.pid}"
    return f"forkserver {proc.pid}"


def alive(procs: list[Proc]) -> list[Proc]:
    """Those of ``procs`` still running (the same processes: pid and start time)."""
    now = processes()
    return [p for p in procs if p.pid in now and now[p.pid].started == p.started]


def no_new_orphans(serve: int, stray: set[Proc]) -> bool:
    return not orphans(serve) - stray


def all_gone(procs: list[Proc]) -> bool:
    return not alive(procs)


def new_engine(pgid: int, before: set[int]) -> Proc | None:
    """An engine of serve's group that was not there before."""
    return next((e for e in engines(pgid) if e.pid not in before), None)


def new_worker(pgid: int, known: set[int]) -> Proc | None:
    """A worker of the current engine not among ``known`` (of a pool started since)."""
    engine = newest_engine(pgid)
    workers = pool(engine.pid, processes()) if engine is not None else []
    return next((w for w in workers if w.pid not in known), None)


def next_pool(pgid: int, known: set[int]) -> float | None:
    """When the first worker of a new pool was seen (time.monotonic()); None if none came in ``TRIGGER_LIMIT``.

    A worker the broken pool started in the moment before it saw the death is killed
    with it at once: a new worker counts only if it lives 0.1 s (those that do not
    join ``known``).
    """
    deadline = time.monotonic() + TRIGGER_LIMIT
    while (
        found := wait_for(functools.partial(new_worker, pgid, known), deadline - time.monotonic(), 0.01)
    ) is not None:
        seen = time.monotonic()
        time.sleep(0.1)
        if alive([found]):
            return seen
        known.add(found.pid)
    return None


def age(proc: Proc) -> float:
    """Seconds since ``proc`` started."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - proc.started / TICKS


def cpu_ns(pid: int) -> int | None:
    """Nanoseconds ``pid`` has spent on a CPU (/proc/PID/schedstat), None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_until(predicate: Any, limit: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def wait_for(find: Any, limit: float, step: float = 0.05) -> Any:
    """Poll ``find`` until it returns something (returned) or ``limit`` seconds pass (None)."""
    deadline = time.monotonic() + limit
    while (found := find()) is None and time.monotonic() < deadline:
        time.sleep(step)
    return found


# --- the store, read from outside --------------------------------------------------------------------------------


def read(db: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query against serve's store (a connection of its own, closed at once)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, parameters).fetchall()
    except sqlite3.OperationalError:  # no schema yet
        return []
    finally:
        conn.close()


def open_runs(db: Path) -> set[int]:
    """Runs still marked ``running``."""
    return {row[0] for row in read(db, "SELECT id FROM runs WHERE status = 'running'")}


def failed_with(db: Path, engine: int) -> int:
    """Runs serve recorded as failed because engine ``engine`` died during them (a ``crash`` error naming it)."""
    rows = read(
        db,
        "SELECT COUNT(DISTINCT e.run_id) FROM run_errors e JOIN runs r ON r.id = e.run_id"
        " WHERE e.kind = 'crash' AND r.status = 'failed' AND e.message LIKE ?",
        (f"%crawl engine (pid {engine})%",),
    )
    return int(rows[0][0]) if rows else 0


def stories_of(db: Path, urls: set[str]) -> set[str]:
    """The keys of the stories the stored articles at ``urls`` belong to."""
    rows = read(db, "SELECT a.url, s.key FROM articles a JOIN stories s ON s.id = a.story_id")
    return {key for url, key in rows if url in urls}


def outbox(db: Path) -> dict[str, tuple[str, str]]:
    """Every outbox row (alerts and notices): id -> (kind, status)."""
    return {row[0]: (row[1], row[2]) for row in read(db, "SELECT id, kind, status FROM alerts")}


def claimed(db: Path) -> set[tuple[str, int]]:
    """Alerts left ``sending`` (claimed by a sender), with their attempt count."""
    return {(row[0], row[1]) for row in read(db, "SELECT id, attempts FROM alerts WHERE status = 'sending'")}


# --- serve's log ----------------------------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): (.*)$")
NUMBERS = re.compile(r"\d+(\.\d+)?")


def log_summary(path: Path) -> tuple[Counter[str], Counter[str], int, int]:
    """Lines per level, the warnings and errors (numbers made N) with their counts, tracebacks, engine deaths."""
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    tracebacks = deaths = 0
    for line in path.read_text(errors="replace").splitlines():
        tracebacks += line.startswith("Traceback (most recent call last)")
        match = LOG_LINE.match(line)
        if match is None:
            continue
        level, name, message = match.groups()
        levels[level] += 1
        deaths += name == "monitor.engine" and " died (status " in message
        if level in ("WARNING", "ERROR", "CRITICAL"):
            messages[f"{level} {name}: {NUMBERS.sub('N', message)[:150]}"] += 1
    return levels, messages, tracebacks, deaths


# --- the moments -------------------------------------------------------------------------------------------------


class Watch:
    """What a kill waits for: a run opening in serve's store, an article page fetched from the site, a POST."""

    def __init__(self, db: Path, site: LocalSite, receiver: DedupReceiver):
        self.db, self.site, self.receiver = db, site, receiver
        self.runs_before: set[int] = set()
        self.requests_before = 0

    def mark(self) -> None:
        """From now on: what was open or fetched until now does not count."""
        self.runs_before = open_runs(self.db)
        self.requests_before = len(self.site.requests)
        self.receiver.got_post.clear()

    def run_opened(self) -> bool:
        return bool(open_runs(self.db) - self.runs_before)

    def article_fetched(self) -> bool:
        return any(not p.split("?")[0].endswith((".xml", ".txt")) for p in self.site.requests[self.requests_before :])


MODES = {
    "tree": ("crawl", "delivery", "random"),
    "engine": ("crawl", "article", "random"),
    "worker": ("analysis", "startup", "random"),
}


def trigger(mode: str, rng: random.Random, watch: Watch) -> str:
    """Wait for the moment ``mode`` asks for; the mode as it happened."""
    if mode == "crawl":
        if not wait_until(watch.run_opened, TRIGGER_LIMIT):
            return "crawl (none came)"
        # The engine is warm: a run of a feed with nothing new is over in a fraction of a second.
        time.sleep(rng.uniform(0.0, 0.3))
    elif mode == "delivery":
        if not watch.receiver.got_post.wait(TRIGGER_LIMIT):
            return "delivery (none came)"
        time.sleep(rng.uniform(0.0, watch.receiver.delay + 0.1))  # mostly while the sender waits for the answer
    elif mode in ("article", "analysis"):
        if not wait_until(watch.article_fetched, TRIGGER_LIMIT, step=0.01):
            return f"{mode} (none came)"
        if mode == "article":
            time.sleep(rng.uniform(0.0, 0.3))  # the page is analysed, then stored with its alerts
    elif mode == "random":
        time.sleep(rng.uniform(0.3, 6.0))
    return mode


# --- one kill ----------------------------------------------------------------------------------------------------


@dataclass
class Kill:
    """One SIGKILL, and what it caught in flight."""

    number: int
    mode: str
    at: float  # seconds since the soak began
    life: float  # seconds the killed process had been up (serve, the engine or the worker)
    pid: int = 0  # the process killed (serve for the tree)
    crawls: int = 0  # crawl engines killed with the tree
    runs_open: int = 0  # runs marked running at the kill
    runs_cut: int = 0  # tree: runs left "running"; engine: runs serve recorded failed for the dead engine
    runs_left: int = 0  # engine: runs open at the kill still "running" once the next engine was up
    alerts_cut: int = 0  # alerts left claimed ("sending")
    posts_in_flight: int = 0  # POSTs the receiver had read but not yet answered
    busy: bool = False  # worker: it was on a CPU just before the kill (analysing, or starting)
    backoff: float = 0.0  # engine: the restart delay serve's supervisor should choose
    recovered: float | None = None  # seconds until a new engine (or a new pool) was seen; None: none in time
    left_behind: int = 0  # processes of the killed engine (or broken pool) still alive 10 s after
    resends: int = 0
    moment: float = field(default=0.0, repr=False)  # time.monotonic() of the kill


class ServeDied(SystemExit):
    """serve exited while the soak meant it to be up."""


@dataclass
class Soak:
    """What every kill needs: how to start serve, what to watch, the seeded RNG, the clock's origin."""

    command: list[str]
    env: dict[str, str]
    log: Any
    log_path: Path
    db: Path
    watch: Watch
    rng: random.Random
    max_backoff: float
    began: float = field(default_factory=time.monotonic)
    kills: list[Kill] = field(default_factory=list)
    stable_waits: int = 0  # engine kills put off until the engine had lived long enough to reset the backoff

    def start(self) -> subprocess.Popen[bytes]:
        """``monitor serve`` in a process group of its own, so the whole tree can be killed at once."""
        return subprocess.Popen(
            self.command, stdout=self.log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )

    def check(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            raise ServeDied(f"monitor serve exited by itself with status {process.returncode}; see {self.log_path}")

    def since(self, moment: float) -> float:
        return moment - self.began

    def pause(self) -> None:
        time.sleep(self.rng.uniform(0.0, 1.0))  # down for a moment, as after a real crash


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL serve's whole process group and wait until none of it is left."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if not wait_until(lambda: not group(process.pid), 10):
        raise SystemExit(f"processes of group {process.pid} survived SIGKILL: {group(process.pid)}")


def kill_trees(soak: Soak, modes: list[str]) -> None:
    """Start serve, wait for the moment, SIGKILL its whole group; again for each mode."""
    for number, mode in enumerate(modes, 1):
        claimed_before = claimed(soak.db)
        soak.watch.mark()
        process = soak.start()
        life = time.monotonic()
        happened = trigger(mode, soak.rng, soak.watch)
        soak.check(process)
        in_crawl = crawls(process.pid)
        runs_open = len(open_runs(soak.db) - soak.watch.runs_before)
        moment = time.monotonic()
        kill_tree(process)
        kill = Kill(
            number,
            happened,
            soak.since(moment),
            moment - life,
            pid=process.pid,
            crawls=in_crawl,
            runs_open=runs_open,
            runs_cut=len(open_runs(soak.db) - soak.watch.runs_before),
            alerts_cut=len(claimed(soak.db) - claimed_before),
            posts_in_flight=soak.watch.receiver.in_flight(moment),
            moment=moment,
        )
        soak.kills.append(kill)
        print(
            f"  kill {number:2d} at {kill.at:6.1f} s ({kill.life:4.1f} s up, {kill.mode}): "
            f"{kill.crawls} crawl engine(s), {kill.runs_cut} run(s) cut, "
            f"{kill.alerts_cut} alert(s) left claimed, {kill.posts_in_flight} POST(s) unanswered",
            flush=True,
        )
        soak.pause()


def kill_engines(soak: Soak, modes: list[str]) -> subprocess.Popen[bytes]:
    """Start serve once; SIGKILL its crawl engine at each moment and wait for serve to start a new one."""
    process = soak.start()
    backoff = FIRST_BACKOFF_SECONDS  # what serve's supervisor will wait before the next restart
    for number, mode in enumerate(modes, 1):
        if wait_for(lambda: newest_engine(process.pid), TRIGGER_LIMIT) is None:
            soak.check(process)
            raise SystemExit(f"no crawl engine under serve after {TRIGGER_LIMIT:g} s; see {soak.log_path}")
        if backoff > soak.max_backoff:
            # Another young death would make serve wait `backoff` s: let this engine live long enough to reset it.
            soak.stable_waits += 1
            wait_until(lambda: engine_age(process.pid) > STABLE_SECONDS + 1, 300, step=0.5)
        soak.watch.mark()
        happened = trigger(mode, soak.rng, soak.watch)
        soak.check(process)
        procs = processes()
        engine = newest_engine(process.pid, procs)
        if engine is None:  # a recycle's gap: the old engine drained and exited, the next is not up yet
            engine = wait_for(lambda: newest_engine(process.pid), TRIGGER_LIMIT)
            procs = processes()
        assert engine is not None
        stray = orphans(process.pid)  # left by earlier kills: not this one's
        before = {e.pid for e in engines(process.pid, procs)}
        runs = open_runs(soak.db)
        life = age(engine)
        moment = time.monotonic()
        os.kill(engine.pid, signal.SIGKILL)
        if life >= STABLE_SECONDS:
            expected, backoff = FIRST_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2
        else:
            expected, backoff = backoff, min(MAX_BACKOFF_SECONDS, backoff * 2)
        posts = soak.watch.receiver.in_flight(moment)
        new = wait_for(functools.partial(new_engine, process.pid, before), expected + TRIGGER_LIMIT, step=0.02)
        recovered = None if new is None else time.monotonic() - moment
        # Its forkserver, resource tracker and workers are orphans now, and must exit within moments.
        wait_until(functools.partial(no_new_orphans, process.pid, stray), 10, step=0.1)
        outlived = orphans(process.pid) - stray
        kill = Kill(
            number,
            happened,
            soak.since(moment),
            life,
            pid=engine.pid,
            runs_open=len(runs),
            runs_cut=failed_with(soak.db, engine.pid),
            runs_left=len(runs & open_runs(soak.db)),
            posts_in_flight=posts,
            backoff=expected,
            recovered=recovered,
            left_behind=len(outlived),
            moment=moment,
        )
        soak.kills.append(kill)
        print(
            f"  kill {number:2d} at {kill.at:6.1f} s (engine {kill.pid}, {kill.life:5.1f} s up, {kill.mode}): "
            f"{kill.runs_open} run(s) open, {kill.runs_cut} recorded failed, {kill.runs_left} left running; "
            f"{kill.left_behind} of its process(es) outlived it by 10 s"
            + (f" ({', '.join(role(p, outlived) for p in sorted(outlived, key=lambda p: p.pid))})" if outlived else "")
            + "; new engine after "
            + (f"{recovered:.1f} s (backoff {expected:g} s)" if recovered is not None else "NONE")
            + f"; {kill.posts_in_flight} POST(s) unanswered",
            flush=True,
        )
        soak.check(process)
        soak.pause()
    return process


def choose_worker(
    pgid: int, rng: random.Random, window: float, fresh_from: set[int] | None = None
) -> tuple[Proc, Proc, bool] | None:
    """An extraction worker to kill: the engine, the worker, and whether it was on a CPU.

    For ``window`` seconds, one seen running (its CPU time grew by 1 ms in 5 ms) is
    taken at once; after that any worker. With ``fresh_from``, only a worker not in it
    (of a pool started since). None if no worker came within ``TRIGGER_LIMIT``.
    """
    began = time.monotonic()
    workers: list[Proc] = []
    engine: Proc | None = None
    looked = 0.0
    last: dict[int, int | None] = {}
    while time.monotonic() < began + window + TRIGGER_LIMIT:
        if not workers or time.monotonic() - looked > 0.2:
            procs, looked = processes(), time.monotonic()
            engine = newest_engine(pgid, procs)
            workers = pool(engine.pid, procs) if engine is not None else []
            if fresh_from is not None:
                workers = [w for w in workers if w.pid not in fresh_from]
        now = {w.pid: cpu_ns(w.pid) for w in workers}
        running = [
            w
            for w in workers
            if (a := last.get(w.pid)) is not None and (b := now[w.pid]) is not None and b - a >= 10**6
        ]
        if running and engine is not None:
            return engine, rng.choice(running), True
        if workers and engine is not None and last and time.monotonic() >= began + window:
            return engine, rng.choice(workers), False
        last = now
        time.sleep(0.005)
    return None


def kill_workers(soak: Soak, modes: list[str]) -> subprocess.Popen[bytes]:
    """Start serve once; SIGKILL one extraction worker at each moment and wait for the engine's next pool."""
    process = soak.start()
    known: set[int] = set()  # workers of the pools a kill broke
    for number, mode in enumerate(modes, 1):
        soak.watch.mark()
        happened = trigger(mode, soak.rng, soak.watch)
        if mode == "startup":  # the first worker of a pool started since the last kill, as it starts
            chosen = choose_worker(process.pid, soak.rng, 0.0, fresh_from=known)
        else:  # mid-page: the worker on a CPU within a second of the page's fetch; random: any
            chosen = choose_worker(process.pid, soak.rng, 1.0 if mode == "analysis" else 0.05)
        soak.check(process)
        if chosen is None:
            raise SystemExit(f"no extraction worker came in {TRIGGER_LIMIT:g} s; see {soak.log_path}")
        engine, worker, busy = chosen
        procs = processes()
        broken = [w for w in pool(engine.pid, procs) if w.pid != worker.pid]
        known |= {worker.pid, *(w.pid for w in broken)}
        life = age(worker)
        moment = time.monotonic()
        os.kill(worker.pid, signal.SIGKILL)
        posts = soak.watch.receiver.in_flight(moment)
        seen = next_pool(process.pid, known)
        recovered = None if seen is None else seen - moment
        wait_until(functools.partial(all_gone, broken), 10, step=0.1)
        kill = Kill(
            number,
            happened,
            soak.since(moment),
            life,
            pid=worker.pid,
            posts_in_flight=posts,
            busy=busy,
            recovered=recovered,
            left_behind=len(alive(broken)),
            moment=moment,
        )
        soak.kills.append(kill)
        print(
            f"  kill {number:2d} at {kill.at:6.1f} s (worker {kill.pid} of engine {engine.pid}, {kill.life:5.2f} s up, "
            f"{kill.mode}, {'on a CPU' if busy else 'idle'}): {len(broken)} other worker(s) in its pool, "
            f"{kill.left_behind} outlived it; new pool after "
            + (f"{recovered:.2f} s" if recovered is not None else "NONE")
            + f"; {kill.posts_in_flight} POST(s) unanswered",
            flush=True,
        )
        soak.check(process)
        if number < len(modes) and modes[number] != "startup":
            soak.pause()
    return process


def attribute(receipts: list[Receipt], kills: list[Kill]) -> int:
    """Put each re-send down to the first kill after the id's previous receipt; returns the unexplained ones.

    The re-send itself comes later (once the dead sender's claim has expired), often
    after more kills; the first kill is the one that cut the sender off between
    the POST and recording it.
    """
    unexplained = 0
    last_seen: dict[str, float] = {}
    for receipt in sorted(receipts, key=lambda r: r.at):
        previous = last_seen.get(receipt.alert_id)
        last_seen[receipt.alert_id] = receipt.at
        if previous is None:
            continue
        between = [k for k in kills if previous <= k.moment <= receipt.at]
        if between:
            between[0].resends += 1
        else:
            unexplained += 1
    return unexplained


def soak_config(site: str, dead: str, workers: int) -> str:
    """Three sources on 1-2 s intervals over one growing site, one that always fails, one signed webhook."""
    sources = (
        f"  - name: world\n    type: rss\n    url: {site}/world.xml\n    interval: 1s\n"
        f"  - name: world-sitemap\n    type: sitemap\n    url: {site}/world-sitemap.xml\n    interval: 2s\n"
        f"  - name: business\n    type: rss\n    url: {site}/business.xml\n    interval: 2s\n"
        f"  - name: dead\n    type: rss\n    url: {dead}/feed.xml\n    interval: 2s\n"
    )
    hook = (
        f"    - name: hook\n      type: webhook\n      url: ${{{URL_VARIABLE}}}\n"
        f"      secret: ${{{SECRET_VARIABLE}}}\n      timeout: 2s\n"
    )
    return config_text(sources, destinations=hook, workers=workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs")
    parser.add_argument("--seed", type=int, default=6, help="seed of the kill moments")
    parser.add_argument(
        "--target",
        choices=tuple(MODES),
        default="tree",
        help="what each kill hits: serve's whole process group, its crawl engine, or one extraction worker",
    )
    parser.add_argument("--workers", type=int, help="extraction workers (default: 1 for tree, else 2)")
    parser.add_argument(
        "--max-backoff", type=float, default=8.0, help="engine: the longest restart backoff a kill may cause"
    )
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the receiver takes to answer")
    parser.add_argument("--drain", type=float, default=240, help="seconds allowed to finish after the last kill")
    parser.add_argument("--keep", action="store_true", help="keep the store and serve's log")
    args = parser.parse_args(argv)
    target = args.target
    workers = args.workers or (1 if target == "tree" else 2)
    if target == "worker" and workers < 2:
        parser.error("--target worker needs --workers 2 or more (with 1 the engine analyses pages itself)")
    rng = random.Random(args.seed)
    modes = [MODES[target][i % 3] for i in range(args.kills)]
    rng.shuffle(modes)

    folder = Path(tempfile.mkdtemp(prefix="soak-crash-"))
    db, config_path, log_path = folder / "monitor.db", folder / "rules.yaml", folder / "serve.log"
    secret = "whsec_" + base64.b64encode(rng.randbytes(24)).decode()
    print(f"soak_crash: {machine()}")
    receiver = DedupReceiver(secret, args.delay)
    with (
        LocalSite("soak") as site,
        receiver,
        StoryPublisher(site, "world", every=2.0, tag="w") as world,
        Publisher(site, "business", every=5.0, tag="b") as business,
        log_path.open("ab") as log,
    ):
        config_path.write_text(soak_config(site.base, f"http://127.0.0.1:{dead_port()}", workers))
        env = {**os.environ, URL_VARIABLE: receiver.base + "/hook", SECRET_VARIABLE: secret}
        command = [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(config_path),
            "--db",
            str(db),
            "serve",
            "--send-interval",
            "1s",
        ]
        print("  " + " ".join(["monitor", *command[3:]]))
        print(
            f"  {args.kills} kills of the {target}, seed {args.seed}; {workers} extraction worker(s); receiver answers"
            f" after {args.delay:g} s; articles published every 2 s (world) and 5 s (business), one in three quiet"
        )
        soak = Soak(command, env, log, log_path, db, Watch(db, site, receiver), rng, args.max_backoff)
        survivor: subprocess.Popen[bytes] | None = None  # serve, when the kills left it up
        if target == "tree":
            kill_trees(soak, modes)
        elif target == "engine":
            survivor = kill_engines(soak, modes)
        else:
            survivor = kill_workers(soak, modes)
        kills = soak.kills
        world.stop()
        business.stop()
        stories = world.stories + business.stories
        expected_urls = {site.base + s.path for s in stories}
        alerting_urls = {site.base + p for p in world.alerting_paths() + business.alerting_paths()}
        published_stories = len(world.alerting_paths()) + bool(business.alerting_paths())  # business: copies of one

        print(f"  publishing stopped after {len(stories)} articles; serve runs until all is stored and delivered")
        process = survivor or soak.start()
        drain_began = time.monotonic()
        at_drain: dict[str, tuple[str, str]] = {}  # the outbox when everything owed had arrived

        def done() -> bool:
            # Stored, received, and marked delivered: an alert whose sender died mid-POST is re-sent
            # only once its claim's lease runs out, so waiting for the store shows that re-send too.
            stored = {row[0] for row in read(db, "SELECT url FROM articles")}
            rows = outbox(db)
            finished = (
                expected_urls <= stored
                and stories_of(db, alerting_urls) <= receiver.stories()
                and bool(rows)
                and all(status == "delivered" for _, status in rows.values())
                and set(rows) <= set(receiver.unique())
            )
            if finished:
                at_drain.update(rows)
            return finished

        drained = wait_until(done, args.drain, step=1.0)
        drain_seconds = time.monotonic() - drain_began
        time.sleep(2.0)  # let any late duplicate arrive before counting
        serve_up = process.poll() is None  # engine and worker kills must never take serve down
        stop_began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code: int | None = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            kill_tree(process)
            code = None
        stop_seconds = time.monotonic() - stop_began
        total = time.monotonic() - soak.began
        # What serve left behind once it stopped (killed engines' workers, a forkserver): reported, then killed.
        wait_until(lambda: not group(process.pid), 5, step=0.1)
        leftovers = group(process.pid)
        if leftovers:
            os.killpg(process.pid, signal.SIGKILL)

    unexplained = attribute(receiver.receipts, kills)
    integrity = ", ".join(row[0] for row in read(db, "PRAGMA integrity_check"))
    stored = {row[0] for row in read(db, "SELECT url FROM articles")}
    received = receiver.unique()
    rows = outbox(db)
    # Owed: one alert per story of the alerting articles (the store's grouping), one per notice queued.
    owed_stories = stories_of(db, alerting_urls)
    alerts_received = [r for r in received.values() if r.kind == ALERT_TYPE]
    received_stories = Counter(r.story for r in alerts_received)
    notice_ids = {i for i, (kind, _) in rows.items() if kind == "notice"}
    notices_received = {i for i, r in received.items() if r.kind in NOTICE_TYPES}
    other_received = sorted({r.kind for r in received.values() if r.kind != ALERT_TYPE and r.kind not in NOTICE_TYPES})
    # Rows queued after everything owed had arrived (a source judged quiet in the last 2 s) were not waited for.
    owed_rows = at_drain or rows
    late = {i: row for i, row in rows.items() if i not in owed_rows}
    undelivered = Counter(status for i, (_, status) in rows.items() if i in owed_rows and status != "delivered")
    orphan_stories = read(
        db,
        "SELECT COUNT(DISTINCT a.story_id) FROM articles a JOIN stories s ON s.id = a.story_id WHERE a.score >= 3.0"
        " AND NOT EXISTS (SELECT 1 FROM alerts al WHERE al.story_key = s.key AND al.kind = 'alert')",
    )[0][0]
    left_running = read(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0]
    run_statuses = dict(read(db, "SELECT status, COUNT(*) FROM runs GROUP BY status"))
    # A page on which two workers died is recorded, not stored: stored later only if a run fetched it again.
    worker_pages = read(
        db,
        "SELECT COUNT(*), COUNT(DISTINCT e.url), COUNT(DISTINCT a.url) FROM run_errors e"
        " LEFT JOIN articles a ON a.url = e.url WHERE e.kind = 'extract' AND e.message LIKE '%worker died%'",
    )[0]
    resends = len(receiver.receipts) - len(received)
    per_kill = Counter(k.resends for k in kills)
    modes_seen = Counter(k.mode for k in kills)
    levels, messages, tracebacks, deaths = log_summary(log_path)

    print(f"\nkills: {len(kills)} of the {target} ({', '.join(f'{n} {m}' for m, n in sorted(modes_seen.items()))})")
    if target == "tree":
        print(
            f"  {sum(k.crawls > 0 for k in kills)} with a crawl engine running, "
            f"{sum(k.runs_open > 0 for k in kills)} with a run open, "
            f"{sum(k.runs_cut > 0 for k in kills)} cutting a run short, "
            f"{sum(k.posts_in_flight > 0 for k in kills)} with a POST unanswered, "
            f"{sum(k.alerts_cut > 0 for k in kills)} leaving alerts claimed"
        )
    elif target == "engine":
        delays = [k.recovered for k in kills if k.recovered is not None]
        print(
            f"  {sum(k.runs_open > 0 for k in kills)} with a run open ({sum(k.runs_open for k in kills)} runs), "
            f"{sum(k.runs_cut for k in kills)} run(s) recorded failed for a dead engine, "
            f"{sum(k.runs_left for k in kills)} left running after the restart; "
            f"{sum(k.posts_in_flight > 0 for k in kills)} with a POST unanswered (serve's sender, not killed)"
        )
        print(
            f"  a new engine after {len(delays)}/{len(kills)} kills, "
            + (f"{min(delays):.1f}-{max(delays):.1f} s after the kill" if delays else "never")
            + f" (backoffs {', '.join(f'{k.backoff:g}' for k in kills)} s); {soak.stable_waits} kill(s) waited for "
            f"an engine {STABLE_SECONDS:g} s old (so the backoff reset); processes of killed engines left "
            f"behind: {sum(k.left_behind for k in kills)}; engine deaths in serve's log: {deaths}"
        )
    else:
        delays = [k.recovered for k in kills if k.recovered is not None]
        print(
            f"  {sum(k.busy for k in kills)} with the worker on a CPU; a new pool after {len(delays)}/{len(kills)} "
            + (f"kills, {min(delays):.2f}-{max(delays):.2f} s after the kill" if delays else "kills")
            + f"; workers of broken pools left behind: {sum(k.left_behind for k in kills)}; pages recorded as "
            f"killing a worker: {worker_pages[0]} ({worker_pages[1]} distinct, {worker_pages[2]} of them stored by a"
            f" later run); engine deaths in serve's log: {deaths}"
        )
    print(
        f"drain: {'done' if drained else 'NOT done'} in {drain_seconds:.0f} s after the last kill; "
        f"SIGTERM: exit code {code}, stopped in {stop_seconds:.1f} s; total wall time {total:.0f} s"
    )
    print(f"\nPRAGMA integrity_check: {integrity}")
    print(
        f"articles: expected {len(expected_urls)}, stored {len(stored & expected_urls)}"
        f" (missing {len(expected_urls - stored)}, unexpected {len(stored - expected_urls)})"
    )
    print(
        f"alerts: {len(alerting_urls)} alerting articles, published as {published_stories} stories, stored as"
        f" {len(owed_stories)}, so {len(owed_stories)} alert(s) owed; received {len(alerts_received)} unique ids"
        f" for {len(received_stories)} story(ies) (missing {len(owed_stories - set(received_stories))}, unexpected"
        f" {len(set(received_stories) - owed_stories)}, stories alerted twice"
        f" {sum(n > 1 for n in received_stories.values())}); bad signatures {receiver.bad_signatures}"
    )
    print(
        f"notices: {len(notice_ids & set(owed_rows))} queued, received {len(notices_received)} unique ids"
        f" (missing {len(notice_ids & set(owed_rows) - notices_received)}); other events received: "
        f"{', '.join(other_received) or 'none'}"
    )
    print(
        f"outbox rows not delivered: {dict(undelivered) or 'none'}; queued after the drain (not awaited): "
        f"{len(late)}; alerting stories without an alert row: {orphan_stories}"
    )
    print(
        f"re-sends: {resends} in total over {len(kills)} kills; per kill: "
        + ", ".join(f"{n} kill(s) with {r}" for r, n in sorted(per_kill.items()))
        + f"; unexplained by a kill: {unexplained}"
    )
    cut = [k for k in kills if k.posts_in_flight]
    print(
        f"  by kill: {' '.join(f'#{k.number}:{k.resends}' for k in kills)}; the {len(cut)} kills that caught a POST "
        f"unanswered caused {sum(k.resends for k in cut)} of them"
    )
    print(f"runs: {run_statuses}; left marked 'running': {left_running}")
    print(
        f"processes of serve's group left once it stopped (then killed): {len(leftovers)}"
        + "".join(f"\n  {pid} {command[:110]}" for pid, command in leftovers)
    )
    print(
        f"serve's log: {dict(levels)} lines by level, {tracebacks} traceback(s); warnings and errors"
        f" ({len(messages)} kinds, numbers as N):"
    )
    for message, count in messages.most_common(15):
        print(f"  {count:4d} x {message}")
    checks = {
        "integrity_check ok": integrity == "ok",
        "no article lost": expected_urls <= stored,
        "stories grouped as published": len(owed_stories) == published_stories,
        "no alert lost (one per story)": (
            set(received_stories) == owed_stories
            and all(n == 1 for n in received_stories.values())
            and orphan_stories == 0
        ),
        "no notice lost": drained and notice_ids & set(owed_rows) <= notices_received and not other_received,
        "every outbox row delivered": drained and not undelivered and set(owed_rows) <= set(received),
        "at most one re-send per kill": max((k.resends for k in kills), default=0) <= 1 and unexplained == 0,
        "no run left 'running'": left_running == 0,
        "clean stop (exit 0)": code == 0,
        "nothing left once serve stopped": not leftovers,
    }
    if target != "tree":
        checks["serve stayed up (never restarted)"] = serve_up
        checks["no re-send (serve's sender was never killed)"] = resends == 0
    if target == "engine":
        checks["a new engine after every kill"] = all(k.recovered is not None for k in kills)
        checks["every engine death seen by serve (one per kill)"] = deaths == len(kills)
        checks["runs cut recorded failed before the restart"] = all(k.runs_left == 0 for k in kills)
        checks["nothing of a killed engine left running"] = all(k.left_behind == 0 for k in kills)
    if target == "worker":
        checks["the engine survived every worker kill"] = deaths == 0
        checks["a new pool after every kill"] = all(k.recovered is not None for k in kills)
        checks["nothing of a broken pool left running"] = all(k.left_behind == 0 for k in kills)
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.keep:
        print(f"kept: {folder} (store, rules.yaml, serve.log)")
    else:
        shutil.rmtree(folder)  # the store, its -wal/-shm, rules.yaml, the log and the lock folder
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
