"""The cost of polling many feeds (issue 13, "Thousands of sources on one machine"): CPU, alert delay, memory.

It drives the CLI only (``python -m monitor ... run`` / ``serve``, a rules.yaml, the store's
``runs`` table), so the same script measures one crawl process per source-run and a long-lived
engine alike. A loopback site (``feedsite.py``) serves ``--site-feeds`` RSS feeds of 20 items with
ETag/Last-Modified (304 when unchanged) and 5-20 KB article pages; new items appear at a steady
random rate; a local webhook receiver stamps each alert's arrival. ``monitor serve`` runs as a
subprocess in its own session, and its whole process tree is read from /proc:

- CPU: utime+stime+cutime+cstime of every live process of serve's process group, plus the
  rusage of the group's orphans, which this script reaps itself (it is their child subreaper:
  a crawl process never reaps its forkserver, so without this the extraction workers' CPU would
  be lost). A snapshot is taken only when no process of the group ended while it was read.
- Runs: the ``runs`` table, by ``finished_at``, with windows aligned to whole seconds (the
  store's resolution), so the count is exact.

Modes (``python benchmarks/bench_feeds.py MODE --help`` for every option):

- ``idle``: ``monitor run`` ingests the sources once, then ``monitor serve`` polls them with
  nothing new; CPU-ms per idle source-run over a steady window.
- ``poll``: the load of 2,000 feeds polled every 15 min, time-compressed (F feeds on an interval of
  F / 2.22 s); serve's first round is left out (with ``--ingest``, a ``monitor run`` goes first, so
  that round finds nothing new); then, while items appear, the tree's CPU share of one core and
  the delay from an item appearing to its alert arriving.
- ``memory``: peak RSS per process role (serve, crawl/engine, extraction workers) at the start and
  the end of R source-runs, and whether each is flat within 10 %.

Usage, from the repository root (add ``--json FILE`` for the figures as JSON, ``--keep`` to keep the store)::

    python benchmarks/bench_feeds.py idle     # --sources 20 --interval 10 --warm 20 --window 60
    python benchmarks/bench_feeds.py poll     # --feeds 100 --polls-per-second 2.22 --new-items 0.01 [--ingest]
    python benchmarks/bench_feeds.py memory   # --sources 100 --interval 10 --runs 2000

serve and its crawls import ``monitor`` from where this script did: run it with ``PYTHONPATH`` set
to another checkout (a worktree of an older commit) to measure that one.

It measures and prints; PASS/FAIL lines are the issue's targets, not assertions. A guard stops
serve if its tree outgrows ``--max-tree-mib`` or ``--max-procs`` (one crawl process per run piles
up once the machine saturates) and reports what was measured until then.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from feedsite import Appearance, FeedSite, Publisher
from machine import cpu_model  # benchmarks/machine.py: the scripts run from benchmarks/ on sys.path

import monitor

ROOT = Path(__file__).resolve().parent.parent
CODE = Path(monitor.__file__).resolve().parent.parent  # where serve's code comes from: PYTHONPATH for children
sys.path.append(str(ROOT))
from tests.receivers import Receiver  # noqa: E402 - the tests' receiver, which stamps each request

HOOK_ENV = "BENCH_FEEDS_WEBHOOK_URL"
REAL_FEEDS, REAL_INTERVAL = 2000, 900.0  # the load: 2,000 feeds, each every 15 minutes
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROLES = ("serve", "crawl/engine", "workers", "other")
FLAT = 10.0  # % growth allowed per role in memory mode


# --- serve's process tree, from /proc ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """One process, from /proc/<pid>/stat."""

    pid: int
    ppid: int
    pgid: int
    cpu: float  # seconds: utime + stime + cutime + cstime (its own and its reaped children's)
    own_cpu: float  # utime + stime


def read_proc(pid: int) -> Proc | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    ticks = [int(value) for value in fields[11:15]]  # utime stime cutime cstime (fields 14-17)
    return Proc(pid, int(fields[1]), int(fields[2]), sum(ticks) / TICK, sum(ticks[:2]) / TICK)


def processes() -> Iterator[Proc]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (proc := read_proc(int(entry.name))) is not None:
            yield proc


def role_of(pid: int, serve: int) -> str:
    if pid == serve:
        return "serve"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "spiders." in command:
        return "crawl/engine"
    if "forkserver" in command or "multiprocessing" in command:
        return "workers"
    return "other"


def memory_of(pid: int) -> tuple[int, int] | None:
    """VmRSS and VmHWM in bytes."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    values = {
        k: int(v.split()[0]) * 1024 for k, _, v in (line.partition(":") for line in lines) if k in ("VmRSS", "VmHWM")
    }
    return (values["VmRSS"], values["VmHWM"]) if len(values) == 2 else None


def become_subreaper() -> bool:
    """Orphans of serve's tree (a forkserver whose crawl process ended) become this process's children."""
    try:
        return bool(ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


class Tree:
    """The CPU of every process of one process group, the dead ones included, and its processes now."""

    def __init__(self, pgid: int):
        self.pgid = pgid
        self.reaped_cpu = 0.0  # orphans of the group this script reaped: their rusage (self and children)
        self.lock = threading.Lock()

    def reap(self) -> None:
        """Reap the group's orphans (our children by subreaping, never the process we started)."""
        with self.lock:
            for proc in processes():
                if proc.ppid == os.getpid() and proc.pgid == self.pgid and proc.pid != self.pgid:
                    try:
                        pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
                    except ChildProcessError:
                        continue
                    if pid:
                        self.reaped_cpu += usage.ru_utime + usage.ru_stime

    def members(self) -> dict[int, Proc]:
        return {p.pid: p for p in processes() if p.pgid == self.pgid}

    def cpu(self) -> tuple[float, dict[int, Proc]]:
        """CPU seconds so far; read until a listing is bracketed by two with none of its processes gone."""
        self.reap()
        with self.lock:
            before, now = self.members(), self.members()
            for _ in range(20):
                after = self.members()
                if before.keys() <= now.keys() <= after.keys():
                    break
                before, now = now, after
            return sum(p.cpu for p in now.values()) + self.reaped_cpu, now


@dataclass
class MemorySample:
    seconds: float
    runs: int  # finished runs (ok or failed) at that moment
    rss: dict[str, int]  # role -> the highest VmRSS of its live processes
    hwm: dict[str, int]  # role -> the highest VmHWM
    count: dict[str, int]  # role -> live processes


class Watch:
    """A thread that reaps orphans every second, samples memory per role and stops serve if its tree runs away."""

    def __init__(self, tree: Tree, db: Path, *, max_bytes: int, max_procs: int, on_overload: Callable[[str], None]):
        self.tree, self.db, self.max_bytes, self.max_procs = tree, db, max_bytes, max_procs
        self.on_overload = on_overload
        self.samples: list[MemorySample] = []
        self.peak_procs = 0
        self.peak_bytes = 0
        self.overload: str | None = None
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.tree.reap()
            members = self.tree.members()
            rss: Counter[str] = Counter()
            hwm: Counter[str] = Counter()
            count: Counter[str] = Counter()
            total = 0
            for pid in members:
                memory = memory_of(pid)
                if memory is None:
                    continue
                role = role_of(pid, self.tree.pgid)
                rss[role], hwm[role] = max(rss[role], memory[0]), max(hwm[role], memory[1])
                count[role] += 1
                total += memory[0]
            self.peak_procs, self.peak_bytes = max(self.peak_procs, len(members)), max(self.peak_bytes, total)
            runs = finished(run_counts(self.db))
            self.samples.append(MemorySample(time.monotonic() - self.started, runs, dict(rss), dict(hwm), dict(count)))
            if self.overload is None and (total > self.max_bytes or len(members) > self.max_procs):
                self.overload = (
                    f"serve's tree reached {len(members)} processes, {total / 2**20:,.0f} MiB RSS "
                    f"(limits {self.max_procs}, {self.max_bytes / 2**20:,.0f} MiB) "
                    f"after {self.samples[-1].seconds:.0f} s"
                )
                self.on_overload(self.overload)


# --- the store's runs table (read-only) ----------------------------------------------------------------------------


def query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def run_counts(db: Path, since: str = "", until: str = "9999") -> dict[str, int]:
    """Runs by status that finished in [since, until) (ISO UTC to the second, as the store keeps them)."""
    rows = query(
        db,
        "SELECT status, COUNT(*) FROM runs WHERE finished_at >= ? AND finished_at < ? GROUP BY status",
        since,
        until,
    )
    return {status: int(n) for status, n in rows}


def run_work(db: Path, since: str, until: str) -> tuple[int, int]:
    """Pages fetched and new articles of the runs that finished in [since, until)."""
    rows = query(
        db, "SELECT SUM(pages), SUM(new_articles) FROM runs WHERE finished_at >= ? AND finished_at < ?", since, until
    )
    return (int(rows[0][0] or 0), int(rows[0][1] or 0)) if rows else (0, 0)


def sources_run(db: Path, since: str) -> int:
    """Sources with a run that started at ``since`` or later and has finished."""
    rows = query(
        db, "SELECT COUNT(DISTINCT source) FROM runs WHERE status IN ('ok', 'failed') AND started_at >= ?", since
    )
    return int(rows[0][0]) if rows else 0


def finished(counts: dict[str, int]) -> int:
    return counts.get("ok", 0) + counts.get("failed", 0)


# --- the set-up: site, receiver, rules.yaml, serve -----------------------------------------------------------------


def rules_section() -> str:
    """The shipped rules.yaml's rules (the NATO rule is what the site's watched items match)."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    return text[text.index("\nrules:") + 1 :]


def config_text(site: FeedSite, sources: int, interval: int, args: argparse.Namespace) -> str:
    entries = "".join(
        f"  - name: feed-{i:04d}\n    type: rss\n    url: {site.feed_url(i)}\n    interval: {interval}s\n"
        for i in range(sources)
    )
    return (
        "version: 1\ncrawl:\n  user_agent: 'monitor-bench/0.1 (+https://example.org/contact)'\n"
        f"  download_delay: {args.download_delay}\n  retries: 0\n  timeout: 10s\n  workers: {args.workers}\n"
        + (f"  engine_max_runs: {args.engine_max_runs}\n" if args.engine_max_runs else "")
        + "alerts:\n  threshold: 3.0\n  destinations:\n"
        f"    - name: hook\n      type: webhook\n      url: ${{{HOOK_ENV}}}\n      timeout: 5s\n"
        f"sources:\n{entries}{rules_section()}"
    )


@dataclass
class Bench:
    """One benchmark's folder, site, receiver and the environment serve runs in."""

    args: argparse.Namespace
    folder: Path
    site: FeedSite
    receiver: Receiver
    env: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.folder / "monitor.db"

    @property
    def config(self) -> Path:
        return self.folder / "rules.yaml"

    def monitor(self, *command: str) -> list[str]:
        return [self.args.python, "-m", "monitor", "--config", str(self.config), "--db", str(self.db), *command]

    def ingest(self) -> dict[str, float]:
        """``monitor run`` over every source, once: wall time and CPU (RUSAGE_CHILDREN, its orphans reaped here too)."""
        before, began = os.times(), time.monotonic()
        with (self.folder / "run.log").open("wb") as log:
            process = subprocess.Popen(
                self.monitor("run"),
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            tree = Tree(process.pid)
            while process.poll() is None:
                tree.reap()
                time.sleep(0.2)
            time.sleep(0.5)  # its forkserver ends once the crawl process has gone
            tree.reap()
        after = os.times()
        if process.returncode not in (0, 1):
            raise SystemExit(f"monitor run exited with status {process.returncode}; see {self.folder / 'run.log'}")
        cpu = after.children_user + after.children_system - before.children_user - before.children_system
        return {"seconds": time.monotonic() - began, "cpu_seconds": cpu}  # what wait4 reaped: orphans included


class Serve:
    """``monitor serve`` as a subprocess in its own session; stopped with SIGTERM, then SIGKILL for its group."""

    def __init__(self, bench: Bench, send_interval: str | None):
        options = ["--grace", "10s"] + (["--send-interval", send_interval] if send_interval else [])
        self.command = bench.monitor("serve", *options)
        self.log = (bench.folder / "serve.log").open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=bench.folder,
            env=bench.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.tree = Tree(self.process.pid)
        self.stopped = threading.Event()
        self.overload: str | None = None  # set by the watch: the benchmark measures what it has, then stops serve

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()  # whatever happened: never leave a serve (and its crawls) behind

    def alive(self) -> bool:
        return self.process.poll() is None and not self.stopped.is_set() and self.overload is None

    def overloaded(self, reason: str) -> None:
        print(f"  overload: {reason}", flush=True)
        self.overload = reason

    def stop(self) -> None:
        """SIGTERM; the group is killed if serve is not gone within 40 s (5 s after an overload)."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5 if self.overload else 40)
        self._kill_group()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while self.tree.members() and time.monotonic() < deadline:
            self.tree.reap()
            time.sleep(0.2)
        self.log.close()


def watch_over(serve: Serve, bench: Bench) -> Watch:
    """The watch over serve's tree, with the limits of the command line."""
    limit = bench.args.max_tree_mib * 2**20
    return Watch(serve.tree, bench.db, max_bytes=limit, max_procs=bench.args.max_procs, on_overload=serve.overloaded)


def aligned_now() -> tuple[float, datetime]:
    """Wait for the next whole UTC second; then (monotonic, UTC): window edges the runs table counts exactly."""
    now = datetime.now(UTC)
    time.sleep(1 - now.microsecond / 1e6)
    return time.monotonic(), datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def wait(serve: Serve, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and serve.alive() and not until():
        time.sleep(0.5)


@dataclass
class Window:
    """CPU and runs between two aligned moments."""

    seconds: float
    cpu: float
    serve_cpu: float  # serve's own process, its children not included
    runs: dict[str, int]
    pages: int
    new_articles: int
    hits: dict[str, int]
    harness_cpu: float  # this script: the site, the receiver, the sampling

    @property
    def done(self) -> int:
        return finished(self.runs)


@dataclass
class Edge:
    mono: float
    utc: datetime
    cpu: float
    serve_cpu: float
    hits: dict[str, int]
    harness: float


def edge(serve: Serve, site: FeedSite) -> Edge:
    mono, utc = aligned_now()
    cpu, members = serve.tree.cpu()
    own = members[serve.process.pid].own_cpu if serve.process.pid in members else 0.0
    times = os.times()
    return Edge(mono, utc, cpu, own, site.counts(), times.user + times.system)


def window(db: Path, start: Edge, end: Edge) -> Window:
    since, until = iso(start.utc), iso(end.utc)
    pages, new = run_work(db, since, until)
    hits = {k: end.hits.get(k, 0) - start.hits.get(k, 0) for k in end.hits}
    return Window(
        end.mono - start.mono,
        end.cpu - start.cpu,
        end.serve_cpu - start.serve_cpu,
        run_counts(db, since, until),
        pages,
        new,
        hits,
        end.harness - start.harness,
    )


# --- the modes -----------------------------------------------------------------------------------------------------


def run_idle(bench: Bench, report: dict[str, Any]) -> None:
    args = bench.args
    bench.config.write_text(config_text(bench.site, args.sources, args.interval, args))
    print(f"  ingest: monitor run over {args.sources} sources ({args.sources * args.items} articles)...", flush=True)
    report["ingest"] = ingest = bench.ingest()
    print(f"  ingest: {ingest['seconds']:.1f} s wall, {ingest['cpu_seconds']:.1f} CPU-s", flush=True)
    with Serve(bench, args.send_interval) as serve, watch_over(serve, bench) as watch:
        print("  " + shown(serve.command), flush=True)
        wait(serve, args.warm)
        start = edge(serve, bench.site)
        wait(serve, args.window)
        end = edge(serve, bench.site)
    w = window(bench.db, start, end)
    scheduled = args.sources / args.interval
    report.update(window_json(w), scheduled_runs_per_second=scheduled, overload=watch.overload)
    per_run = w.cpu * 1000 / w.done if w.done else float("nan")
    report["cpu_ms_per_idle_run"] = per_run
    print(
        f"\nidle: {args.sources} sources every {args.interval} s ({scheduled:.2f} runs/s scheduled), "
        f"window {w.seconds:.0f} s after {args.warm:g} s of warm-up"
    )
    print_window(w)
    print(f"  CPU per idle source-run: {per_run:,.0f} ms  (tree CPU {w.cpu:.1f} s / {w.done} runs)")
    if watch.overload:
        print(f"  ABORTED: {watch.overload}")


def run_poll(bench: Bench, report: dict[str, Any]) -> None:
    args = bench.args
    interval = args.interval or max(1, round(args.feeds / args.polls_per_second))
    compression = REAL_INTERVAL / interval
    per_second = args.new_items * args.feeds * compression / 60
    bench.config.write_text(config_text(bench.site, args.feeds, interval, args))
    report.update(interval=interval, compression=compression, items_per_second=per_second)
    print(
        f"  {args.feeds} feeds every {interval} s = {args.feeds / interval:.2f} polls/s "
        f"({REAL_FEEDS:,} feeds every {REAL_INTERVAL / 60:.0f} min = {REAL_FEEDS / REAL_INTERVAL:.2f}/s), "
        f"time compressed {compression:.1f}x; new items: {args.new_items:.1%} of feeds per simulated minute "
        f"= {per_second:.2f}/s",
        flush=True,
    )
    if args.ingest:
        print(f"  ingest: monitor run over {args.feeds} sources ({args.feeds * args.items} articles)...", flush=True)
        report["ingest"] = ingest = bench.ingest()
        print(f"  ingest: {ingest['seconds']:.1f} s wall, {ingest['cpu_seconds']:.1f} CPU-s", flush=True)
        # A source is due one interval after its last start; once all are overdue, serve staggers their first runs.
        pause = interval + 1 - ingest["seconds"]
        if pause > 0:
            print(f"  waiting {pause:.0f} s until every source is due, so that serve staggers them", flush=True)
            time.sleep(pause)
    first_round = args.first_round or 3 * interval
    span = args.window or 2 * interval
    publisher = Publisher(bench.site, feeds=args.feeds, per_second=per_second, seed=args.seed)
    with Serve(bench, args.send_interval) as serve, watch_over(serve, bench) as watch, publisher:
        print("  " + shown(serve.command), flush=True)
        began, since = time.monotonic(), iso(datetime.now(UTC))
        wait(serve, first_round, lambda: sources_run(bench.db, since) >= args.feeds)
        first = {"seconds": time.monotonic() - began, "sources_done": sources_run(bench.db, since)}
        print(
            f"  first round: {first['sources_done']}/{args.feeds} sources had run after {first['seconds']:.0f} s",
            flush=True,
        )
        start = edge(serve, bench.site)
        publisher.start()
        wait(serve, span)
        end = edge(serve, bench.site)
        publisher.stop()
        appeared = list(publisher.appeared)
        wait(serve, args.drain or interval + 30, lambda: not missing(appeared, bench.receiver))
    w = window(bench.db, start, end)
    delays, lost = alert_delays(appeared, bench.receiver)
    share = w.cpu / w.seconds * 100
    target_delay = interval + 5
    report.update(window_json(w), first_round=first, overload=watch.overload, cpu_share_percent=share)
    report["delays"] = {"items": len(appeared), "alerted": len(delays), "never": lost, **summary(delays)}
    print(f"\npoll: window {w.seconds:.0f} s, after the first round")
    print_window(w, scheduled=args.feeds / interval)
    s = summary(delays)
    print(
        f"  delay item -> alert: {len(appeared)} items appeared, {len(delays)} alerted, {lost} never; "
        f"p50 {s['p50']:.1f} s, p95 {s['p95']:.1f} s, max {s['max']:.1f} s"
    )
    print(f"  target CPU < 25 % of one core: {share:.1f} %  {'PASS' if share < 25 else 'FAIL'}")
    ok = bool(delays) and not lost and s["p95"] <= target_delay
    print(f"  target p95 delay <= interval + 5 s = {target_delay} s: {s['p95']:.1f} s  {'PASS' if ok else 'FAIL'}")
    if watch.overload:
        print(f"  ABORTED: {watch.overload}")


def run_memory(bench: Bench, report: dict[str, Any]) -> None:
    args = bench.args
    compression = REAL_INTERVAL / args.interval
    per_second = args.new_items * args.sources * compression / 60
    bench.config.write_text(config_text(bench.site, args.sources, args.interval, args))
    print(
        f"  {args.sources} sources every {args.interval} s ({args.sources / args.interval:.1f} runs/s scheduled), "
        f"new items {per_second:.2f}/s, until {args.runs} runs have finished (at most {args.timeout:g} s)",
        flush=True,
    )
    with (
        Serve(bench, args.send_interval) as serve,
        watch_over(serve, bench) as watch,
        Publisher(bench.site, feeds=args.sources, per_second=per_second, seed=args.seed).start(),
    ):
        print("  " + shown(serve.command), flush=True)
        last = 0.0
        while serve.alive() and time.monotonic() - watch.started < args.timeout:
            done = finished(run_counts(bench.db))
            if done >= args.runs:
                break
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                print(f"  {last - watch.started:5.0f} s  {done} runs", flush=True)
            time.sleep(1)
    samples = [s for s in watch.samples if s.runs > 0]
    runs = samples[-1].runs if samples else 0
    width = max(10, runs // 10)
    warm = min(args.sources, max(0, runs - 2 * width))  # the first round ingests the start-up items: left out
    first = [s for s in samples if warm <= s.runs <= warm + width]
    last_ = [s for s in samples if runs - width <= s.runs <= runs]
    print(
        f"\nmemory: {runs} runs finished in {samples[-1].seconds if samples else 0:.0f} s; start = runs {warm}-"
        f"{warm + width} ({len(first)} samples), end = runs {runs - width}-{runs} ({len(last_)} samples)"
    )
    print(
        f"  {'role':<14}{'start RSS':>11}{'end RSS':>11}{'growth':>9}{'start HWM':>11}{'end HWM':>11}  processes  flat"
    )
    roles: dict[str, Any] = {}
    for role in ROLES:
        a = max((s.rss.get(role, 0) for s in first), default=0)
        b = max((s.rss.get(role, 0) for s in last_), default=0)
        ha = max((s.hwm.get(role, 0) for s in first), default=0)
        hb = max((s.hwm.get(role, 0) for s in last_), default=0)
        most = max((s.count.get(role, 0) for s in samples), default=0)
        if not (a or b):
            continue
        # A role seen in one window only (workers of short-lived crawls, say) cannot be compared.
        growth = (b - a) / a * 100 if a and b else None
        flat = None if growth is None else growth <= FLAT
        roles[role] = {"start_rss": a, "end_rss": b, "growth_percent": growth, "start_hwm": ha, "end_hwm": hb,
                       "max_processes": most, "flat": flat}  # fmt: skip
        shown_growth = "n/a" if growth is None else f"{growth:+.1f}%"
        verdict = "not in both windows" if flat is None else "yes" if flat else "NO"
        print(f"  {role:<14}{mib(a):>11}{mib(b):>11}{shown_growth:>9}{mib(ha):>11}{mib(hb):>11}  {most:>9}  {verdict}")
    counts = run_counts(bench.db)
    print(
        f"  runs: {counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped; "
        f"whole tree: at most {watch.peak_procs} processes, {mib(watch.peak_bytes)} RSS summed"
    )
    report.update(runs_finished=runs, roles=roles, peak_processes=watch.peak_procs, peak_tree_rss=watch.peak_bytes,
                  overload=watch.overload, counts=counts)  # fmt: skip
    if watch.overload:
        print(f"  ABORTED: {watch.overload}")


# --- results -------------------------------------------------------------------------------------------------------


def missing(appeared: list[Appearance], receiver: Receiver) -> list[Appearance]:
    alerted = first_alerts(receiver)
    return [a for a in appeared if a.url not in alerted]


def first_alerts(receiver: Receiver) -> dict[str, float]:
    """Article URL -> when its first alert arrived (monotonic)."""
    arrived: dict[str, float] = {}
    for request in receiver.requests:
        try:
            event = json.loads(request.body)
        except ValueError:
            continue
        if event.get("type") != "article.matched":
            continue
        article = event.get("article") or {}
        outlets = [outlet.get("url") for outlet in (event.get("story") or {}).get("outlets") or []]
        for url in (article.get("url"), article.get("fetched_url"), *outlets):
            if url and url not in arrived:
                arrived[url] = request.at
    return arrived


def alert_delays(appeared: list[Appearance], receiver: Receiver) -> tuple[list[float], int]:
    alerted = first_alerts(receiver)
    delays = [alerted[a.url] - a.monotonic for a in appeared if a.url in alerted]
    return sorted(delays), len(appeared) - len(delays)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    return {"p50": statistics.median(values), "p95": p95, "max": max(values)}


def window_json(w: Window) -> dict[str, Any]:
    return {
        "window_seconds": w.seconds,
        "tree_cpu_seconds": w.cpu,
        "serve_own_cpu_seconds": w.serve_cpu,
        "runs": w.runs,
        "pages": w.pages,
        "new_articles": w.new_articles,
        "site_requests": w.hits,
        "harness_cpu_seconds": w.harness_cpu,
    }


def print_window(w: Window, scheduled: float | None = None) -> None:
    rate = f", {w.done / w.seconds:.2f}/s" + (f" of {scheduled:.2f}/s scheduled" if scheduled else "")
    print(
        f"  runs finished: {w.done} ({w.runs.get('ok', 0)} ok, {w.runs.get('failed', 0)} failed){rate}; "
        f"skipped: {w.runs.get('skipped', 0)}; their pages {w.pages}, new articles {w.new_articles}"
    )
    hits = ", ".join(f"{k} {v}" for k, v in sorted(w.hits.items()) if v)
    print(f"  site requests: {hits or 'none'}")
    per_run = f" = {w.cpu * 1000 / w.done:,.0f} CPU-ms per finished run" if w.done else ""
    print(
        f"  serve's tree: {w.cpu:.1f} CPU-s in {w.seconds:.0f} s = {w.cpu / w.seconds * 100:.1f} % of one core"
        f"{per_run} (serve itself {w.serve_cpu:.1f} s); this script (site, receiver, sampling) {w.harness_cpu:.1f} s"
    )


def jsonable(value: Any) -> Any:
    """``value`` for json.dumps: NaN and infinities as null, anything unknown as its str()."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value if isinstance(value, str | int | bool) or value is None else str(value)


def mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB" if value else "-"


def shown(command: list[str]) -> str:
    return " ".join(["monitor", *command[3:]])


def machine() -> str:
    return (
        f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores, {os.sysconf('SC_PHYS_PAGES') * PAGE / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, Scrapy {metadata.version('scrapy')}, "
        f"APScheduler {metadata.version('apscheduler')}, {platform.system()} {platform.release()}"
    )


def commit(path: Path) -> str:
    result = subprocess.run(["git", "-C", str(path), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


# --- the command line ----------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--site-feeds", type=int, default=2000, help="feeds the site serves")
    common.add_argument("--items", type=int, default=20, help="items per feed at the start")
    common.add_argument("--workers", type=int, default=0, help="crawl.workers (0: one per core)")
    common.add_argument(
        "--engine-max-runs",
        type=int,
        default=0,
        help="crawl.engine_max_runs (0: left out; code before the engine refuses the key)",
    )
    common.add_argument("--download-delay", type=float, default=0.0, help="crawl.download_delay")
    common.add_argument("--seed", type=int, default=2026)
    common.add_argument("--python", default=sys.executable, help="the Python that runs monitor")
    common.add_argument(
        "--max-tree-mib", type=int, help="stop serve when its tree's RSS passes this (default: half of RAM)"
    )
    common.add_argument("--max-procs", type=int, default=300, help="stop serve when its tree has more processes")
    common.add_argument("--json", type=Path, help="also write the figures to this file")
    common.add_argument("--keep", action="store_true", help="keep the folder (store, rules.yaml, logs)")
    top = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    modes = top.add_subparsers(dest="mode", required=True)
    idle = modes.add_parser("idle", parents=[common], help="CPU per idle source-run")
    idle.add_argument("--sources", type=int, default=20)
    idle.add_argument("--interval", type=int, default=10, help="seconds between two runs of a source")
    idle.add_argument("--warm", type=float, default=20, help="seconds of serve before the window")
    idle.add_argument("--window", type=float, default=60, help="seconds measured")
    idle.add_argument("--send-interval", default=None, help="serve's --send-interval (default: serve's own)")
    poll = modes.add_parser("poll", parents=[common], help="2,000 feeds every 15 min, compressed: CPU share, delays")
    poll.add_argument("--feeds", type=int, default=100)
    poll.add_argument("--polls-per-second", type=float, default=REAL_FEEDS / REAL_INTERVAL)
    poll.add_argument("--interval", type=int, help="seconds (default: feeds / polls-per-second)")
    poll.add_argument(
        "--new-items", type=float, default=0.01, help="share of feeds gaining an item per simulated minute"
    )
    poll.add_argument("--ingest", action="store_true", help="monitor run first: serve's first round finds nothing new")
    poll.add_argument("--first-round", type=float, help="longest wait for every feed's first run (default 3 intervals)")
    poll.add_argument("--window", type=float, help="seconds measured (default 2 intervals)")
    poll.add_argument("--drain", type=float, help="longest wait for the last alerts (default interval + 30 s)")
    poll.add_argument("--send-interval", default="1s", help="serve's --send-interval")
    memory = modes.add_parser("memory", parents=[common], help="peak RSS per process role over R source-runs")
    memory.add_argument("--sources", type=int, default=100)
    memory.add_argument("--interval", type=int, default=10)
    memory.add_argument("--runs", type=int, default=2000, help="finished runs to wait for")
    memory.add_argument("--timeout", type=float, default=1200, help="stop after this many seconds")
    memory.add_argument(
        "--new-items", type=float, default=0.002, help="share of sources gaining an item per simulated minute"
    )
    memory.add_argument("--send-interval", default="1s", help="serve's --send-interval")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sources = getattr(args, "sources", None) or args.feeds
    if sources > args.site_feeds:
        raise SystemExit(f"the site serves {args.site_feeds} feeds; --site-feeds must be at least {sources}")
    if args.max_tree_mib is None:
        args.max_tree_mib = os.sysconf("SC_PHYS_PAGES") * PAGE // 2**21
    started = datetime.now(UTC)
    print(f"bench_feeds {args.mode}: {started:%Y-%m-%d %H:%M} UTC; {machine()}")
    print(f"  code: {CODE} ({commit(CODE)}), load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not become_subreaper():
        print("  warning: not a child subreaper: CPU of processes orphaned in serve's tree is not counted")
    folder = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    (folder / "tmp").mkdir()
    report: dict[str, Any] = {
        "mode": args.mode,
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "code": str(CODE),
        "commit": commit(CODE),
        "options": {k: str(v) for k, v in vars(args).items()},
    }
    with FeedSite(args.site_feeds, args.items, seed=args.seed) as site, Receiver() as receiver:
        env = {**os.environ, "PYTHONPATH": str(CODE), HOOK_ENV: receiver.url("/hook"), "TMPDIR": str(folder / "tmp")}
        bench = Bench(args, folder, site, receiver, env)
        check = subprocess.run(
            [args.python, "-c", "import monitor, spiders; print(monitor.__file__, spiders.__file__)"],
            cwd=folder, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        print(f"  serve imports: {check.stdout.strip()}")
        {"idle": run_idle, "poll": run_poll, "memory": run_memory}[args.mode](bench, report)
    report["load_average_end"] = os.getloadavg()
    print(
        f"  load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; wall {datetime.now(UTC) - started}"
    )
    if args.json:
        args.json.write_text(json.dumps(jsonable(report), indent=2) + "\n")
    if args.keep:
        print(f"  kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
