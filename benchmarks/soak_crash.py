"""Crash safety: ``monitor serve`` killed with SIGKILL again and again loses nothing and re-sends little.

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

serve runs in its own process group; at random moments (a seeded RNG) the whole
tree (serve, its crawl processes and their extraction workers) is killed with
SIGKILL, and serve is started again. The moments are spread on purpose: a third
wait for a crawl process to appear, a third for a POST to reach the receiver
(so the kill lands while the sender waits for the answer or records it), a
third are plain random. Then publishing stops and serve runs until every
article is stored and every alert and notice owed has arrived and is marked
delivered (or ``--drain`` seconds pass), and is stopped with SIGTERM. Each
re-send is put down to the first kill after the previous receipt of its id
(the kill that kept the sender from recording the delivery); one with no kill
in between is "unexplained". Nothing may be lost; at most one re-send per
kill. A soak test, not part of the quick suite. Usage::

    python benchmarks/soak_crash.py [--kills 20] [--seed 6]
"""

from __future__ import annotations

import argparse
import base64
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.sitekit import config_text  # noqa: E402 - the tests' config for local sites, shared on purpose

MODES = ("crawl", "delivery", "random")
TRIGGER_LIMIT = 30.0  # seconds to wait for a crawl or a POST before killing anyway
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


# --- the process tree --------------------------------------------------------------------------------------------


def group(pgid: int) -> list[tuple[int, str]]:
    """Live (not zombie) processes of process group ``pgid``: pid and command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append((int(entry), command))
    return found


def crawls(pgid: int) -> int:
    """Crawl engines (``python -m spiders.engine``) running in serve's group."""
    return sum(1 for _, command in group(pgid) if "spiders.engine" in command)


def wait_until(predicate: Any, limit: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


# --- the store, read from outside --------------------------------------------------------------------------------


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one query against serve's store (a connection of its own, closed at once)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # no schema yet
        return []
    finally:
        conn.close()


def open_runs(db: Path) -> set[int]:
    """Runs still marked ``running``."""
    return {row[0] for row in read(db, "SELECT id FROM runs WHERE status = 'running'")}


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


# --- one kill ----------------------------------------------------------------------------------------------------


@dataclass
class Kill:
    """One SIGKILL of the whole tree, and what it caught in flight."""

    number: int
    mode: str
    at: float  # seconds since the soak began
    life: float  # seconds serve had been up
    crawls: int = 0  # crawl processes killed
    runs_cut: int = 0  # runs left "running"
    alerts_cut: int = 0  # alerts left claimed ("sending")
    posts_in_flight: int = 0  # POSTs the receiver had read but not yet answered
    resends: int = 0
    moment: float = field(default=0.0, repr=False)  # time.monotonic() of the kill


def start_serve(command: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    """``monitor serve`` in a process group of its own, so the whole tree can be killed at once."""
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def trigger(mode: str, rng: random.Random, process: subprocess.Popen[bytes], receiver: DedupReceiver) -> str:
    """Wait for the moment ``mode`` asks for; the mode as it happened."""
    if mode == "crawl":
        if not wait_until(lambda: crawls(process.pid) > 0, TRIGGER_LIMIT):
            return "crawl (none came)"
        time.sleep(rng.uniform(0.0, 2.5))  # a crawl lives 2-3 s here: starting, fetching, extracting, storing
    elif mode == "delivery":
        if not receiver.got_post.wait(TRIGGER_LIMIT):
            return "delivery (none came)"
        time.sleep(rng.uniform(0.0, receiver.delay + 0.1))  # mostly while the sender waits for the answer
    else:
        time.sleep(rng.uniform(0.3, 6.0))
    return mode


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL serve's whole process group and wait until none of it is left."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if not wait_until(lambda: not group(process.pid), 10):
        raise SystemExit(f"processes of group {process.pid} survived SIGKILL: {group(process.pid)}")


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


def soak_config(site: str, dead: str) -> str:
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
    return config_text(sources, destinations=hook, workers=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the whole tree")
    parser.add_argument("--seed", type=int, default=6, help="seed of the kill moments")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the receiver takes to answer")
    parser.add_argument("--drain", type=float, default=240, help="seconds allowed to finish after the last kill")
    parser.add_argument("--keep", action="store_true", help="keep the store and serve's log")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    modes = [MODES[i % len(MODES)] for i in range(args.kills)]
    rng.shuffle(modes)

    folder = Path(tempfile.mkdtemp(prefix="soak-crash-"))
    db, config_path, log_path = folder / "monitor.db", folder / "rules.yaml", folder / "serve.log"
    secret = "whsec_" + base64.b64encode(rng.randbytes(24)).decode()
    print(f"soak_crash: {machine()}")
    kills: list[Kill] = []
    receiver = DedupReceiver(secret, args.delay)
    with (
        LocalSite("soak") as site,
        receiver,
        StoryPublisher(site, "world", every=2.0, tag="w") as world,
        Publisher(site, "business", every=5.0, tag="b") as business,
        log_path.open("ab") as log,
    ):
        config_path.write_text(soak_config(site.base, f"http://127.0.0.1:{dead_port()}"))
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
            f"  {args.kills} kills, seed {args.seed}; receiver answers after {args.delay:g} s; "
            f"articles published every 2 s (world) and 5 s (business), one in three quiet"
        )
        began = time.monotonic()
        for number, mode in enumerate(modes, 1):
            runs_before, claimed_before = open_runs(db), claimed(db)
            receiver.got_post.clear()
            process = start_serve(command, env, log)
            life = time.monotonic()
            happened = trigger(mode, rng, process, receiver)
            if process.poll() is not None:
                print(f"monitor serve exited by itself with status {process.returncode}; see {log_path}")
                return 1
            in_crawl = crawls(process.pid)
            moment = time.monotonic()
            kill_tree(process)
            kill = Kill(
                number,
                happened,
                moment - began,
                moment - life,
                in_crawl,
                len(open_runs(db) - runs_before),
                len(claimed(db) - claimed_before),
                receiver.in_flight(moment),
                moment=moment,
            )
            kills.append(kill)
            print(
                f"  kill {number:2d} at {kill.at:6.1f} s ({kill.life:4.1f} s up, {kill.mode}): "
                f"{kill.crawls} crawl process(es), {kill.runs_cut} run(s) cut, "
                f"{kill.alerts_cut} alert(s) left claimed, {kill.posts_in_flight} POST(s) unanswered",
                flush=True,
            )
            time.sleep(rng.uniform(0.0, 1.0))  # down for a moment, as after a real crash
        world.stop()
        business.stop()
        stories = world.stories + business.stories
        expected_urls = {site.base + s.path for s in stories}
        alerting_urls = {site.base + p for p in world.alerting_paths() + business.alerting_paths()}
        published_stories = len(world.alerting_paths()) + bool(business.alerting_paths())  # business: copies of one

        print(f"  publishing stopped after {len(stories)} articles; serve runs until all is stored and delivered")
        process = start_serve(command, env, log)
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
        stop_began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code: int | None = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            kill_tree(process)
            code = None
        stop_seconds = time.monotonic() - stop_began
        total = time.monotonic() - began

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
    resends = len(receiver.receipts) - len(received)
    per_kill = Counter(k.resends for k in kills)
    modes_seen = Counter(k.mode for k in kills)

    print(
        f"\nkills: {len(kills)} ({', '.join(f'{n} {m}' for m, n in sorted(modes_seen.items()))}); "
        f"{sum(k.crawls > 0 for k in kills)} with a crawl process running, "
        f"{sum(k.runs_cut > 0 for k in kills)} cutting a run short, "
        f"{sum(k.posts_in_flight > 0 for k in kills)} with a POST unanswered, "
        f"{sum(k.alerts_cut > 0 for k in kills)} leaving alerts claimed"
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
    print(f"runs the kills left marked 'running': {left_running}")
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
        "clean stop (exit 0)": code == 0,
    }
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
