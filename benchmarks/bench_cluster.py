"""Cluster throughput (issue 16): a writer and one or two ``monitor worker``s, each pinned to a core, on Redis.

Serves the generated article pages of ``sitegen.py`` (``--pages``, 2,000 by default) on
127.0.0.1 behind ``--sources`` RSS feeds (20 section feeds of 100 by default) and behind one
feed of them all: a run hands the pages it chooses out to every worker, so one big source
keeps both workers busy, where before one source-run kept one worker busy. It starts its
own redis-server on a free loopback port (append-only file fsynced on every write, as
``deploy/compose.yaml`` runs it) and times, each run with a fresh store and an emptied Redis:

* one ``monitor worker --slots 8`` under ``taskset -c 0``, or two, under ``taskset -c 0``
  and ``taskset -c 1``; ``crawl.workers: 1``, so each worker's engine extracts inline (one
  process of extraction per worker). The workers start first: the configuration is put in
  Redis before the writer starts (the writer publishes the same hash again), so their
  engines have started and gone idle before the clock starts;
* then the writer, unpinned: ``monitor serve --cluster`` (whose scheduler staggers overdue
  sources ``CLUSTER_STAGGER_SECONDS`` apart, where one machine's are 2 s apart), or, for the
  section feeds, a small process that drives the same ``ClusterEngine`` and publishes every
  source-run at once, which shows what the workers do when the schedule does not hold them
  back;
* the clock runs from starting the writer until the store (read-only, every 0.1 s) holds
  every article;
* and the writer at full speed: the same process holds back until two workers have put every
  result in Redis, then applies them (200 to a transaction), timed from its first read. Its
  CPU per article there, and its articles a second, are the ceiling of one writer.

CPU is sampled from /proc every 50 ms for every process this script started
(``bench_pipeline.TreeSampler``) and split by role: the writer, each worker's ``monitor
worker`` process, its crawl engine (fetching, extracting and scoring, inline with
``workers: 1``), its extraction processes (with ``--crawl-workers`` above 1), redis-server,
and this process (the site's threads, the sampler). The rest of the machine's load meanwhile
is reported as other load. Each run waits (up to 60 s) for the machine to go idle first; the
fastest of ``--repeat`` runs is shown. It measures and prints; it asserts nothing. Usage::

    python benchmarks/bench_cluster.py [--pages 2000] [--sources 20] [--repeat 1] [--only TEXT]
    python benchmarks/bench_cluster.py --pages 200 --sources 4 --no-wait   # a quick look, under a minute

``--py-spy PATH`` samples each writer with py-spy and prints where its threads spend their time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_pipeline  # benchmarks/ is on sys.path: the scripts run from there
from bench_pipeline import RULES, TreeSampler, print_header, wait_for_quiet, warn_if_changed

import monitor

ROOT = Path(__file__).resolve().parent.parent
CODE = Path(monitor.__file__).resolve().parent.parent  # where the writer's and workers' code comes from
sys.path.append(str(ROOT))
from tests.rediskit import RedisServer  # noqa: E402 - the tests' redis-server on a free loopback port

KEY = "bench-cluster-key-0123456789abcdef"
POLL_SECONDS = 0.1  # how often the store is counted
RUN_TIMEOUT = 1800.0  # a run that has not stored every article by then failed
WARM_TIMEOUT = 120.0  # for the workers to join and their engines to go idle
CORES = (0, 1)  # worker N runs on core CORES[N]


def config_text(feeds: list[tuple[str, str, int]], crawl_workers: int) -> str:
    """A rules.yaml for the local site: each feed a source run once (interval 1h), no delay, the four default rules."""
    sources = "".join(
        f"  - name: {name}\n    type: rss\n    url: {url}\n    interval: 1h\n    max_pages: {count}\n"
        for name, url, count in feeds
    )
    return (
        "version: 1\n"
        "crawl:\n  user_agent: 'monitor-bench/0.1 (+https://example.org/contact)'\n  obey_robots_txt: true\n"
        "  download_delay: 0\n  retries: 0\n  timeout: 30s\n  concurrent_requests_per_domain: 16\n"
        f"  workers: {crawl_workers}\n"
        "alerts:\n  threshold: 3.0\n"
        f"sources:\n{sources}{RULES}"
    )


# --- CPU by role -------------------------------------------------------------------------------------------------


class RoleSampler(TreeSampler):
    """``TreeSampler`` that also remembers each process's parent and command line, and gives snapshots."""

    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[int, int] = {}
        self.commands: dict[int, str] = {}

    def _descendants(self) -> dict[int, tuple[int, str]]:
        found = super()._descendants()
        for pid, (parent, _) in found.items():
            if pid not in self.parents:
                self.parents[pid] = parent
                self.commands[pid] = command_line(pid)
        return found

    def snapshot(self) -> dict[int, float]:
        """CPU seconds of every process seen so far (at most one sample, 50 ms, old)."""
        return dict(self._cpu)

    def role(self, pid: int, roots: dict[int, str]) -> str:
        """What ``pid`` is: a root's name, or for a worker's descendants its engine or its extraction processes."""
        top = pid
        while top not in roots and top in self.parents:
            top = self.parents[top]
        if top not in roots:
            return "other"
        name = roots[top]
        if not (name.startswith("w") and name[1:].isdigit()):
            return name  # the writer, redis and anything they started
        if pid == top:
            return f"{name} worker"
        return f"{name} engine" if "spiders.engine" in self.commands.get(pid, "") else f"{name} extraction"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def process_times(pid: int) -> tuple[float, float] | None:
    """utime and stime of one process, seconds; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / bench_pipeline.CLOCK_TICKS, int(fields[12]) / bench_pipeline.CLOCK_TICKS


def process_cpu(pid: int) -> float | None:
    """utime + stime of one process, seconds; None once it is gone."""
    times = process_times(pid)
    return sum(times) if times is not None else None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


# --- one run -----------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """One kind of run."""

    name: str
    config: Path
    articles: int  # what the store holds at the end
    workers: int
    writer: str  # "serve"; "at-once": every run published at once; "drain": results applied once all are in Redis
    sources: int


@dataclass
class Result:
    """What one run did and what it cost."""

    plan: Plan
    articles: int
    wall: float
    first: float  # seconds from starting the writer to the first article stored
    writer_cpu: float  # the writer process, from its start (or, draining, its first read) to the last article
    writer_system: float  # the part of it in the kernel (socket I/O, fsync)
    writer_steady: float  # ms per article from the first article to the last
    roles: dict[str, float]  # CPU seconds per role over the run
    self_cpu: float  # this process: the site's threads, the sampler, the polling
    other_cpu: float  # every other process on the machine
    commands: dict[str, int]  # Redis commands by name, to the end of the run (and what workers sent while stopping)
    notes: list[str] = field(default_factory=list)

    def cpu(self, prefix: str = "", suffix: str = "") -> float:
        return sum(cpu for role, cpu in self.roles.items() if role.startswith(prefix) and role.endswith(suffix))

    def per_article(self, seconds: float) -> float:
        return seconds / self.articles * 1000 if self.articles else float("nan")


class Bench:
    """The site, Redis, the configurations, and the processes of the run in progress."""

    def __init__(
        self,
        folder: Path,
        redis_server: RedisServer,
        sampler: RoleSampler,
        py_spy: str | None = None,
    ):
        self.folder = folder
        self.py_spy = py_spy
        self.redis = redis_server
        self.sampler = sampler
        self.env = {**os.environ, "MONITOR_CLUSTER_KEY": KEY, "PYTHONPATH": str(CODE)}
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], core: int | None = None) -> subprocess.Popen[bytes]:
        """A process in a session of its own (stopped with its whole tree), its output to ``name``.log."""
        pinned = ["taskset", "-c", str(core)] if core is not None else []
        with (self.folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [*pinned, *command],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.processes = []

    def run(self, plan: Plan, tag: str, *, wait: bool) -> Result:
        """Workers first, warmed; then the writer, timed until the store holds every article."""
        from monitor.cluster.writer import publish_config
        from monitor.config import load_config

        client = self.redis.client()
        client.flushall()
        client.config_resetstat()  # commands counted per run
        config_hash = publish_config(client, load_config(str(plan.config)), KEY.encode())
        db = self.folder / f"{tag}.db"
        python = sys.executable
        base = [python, "-m", "monitor", "--config", str(plan.config)]
        workers: dict[int, str] = {}
        try:
            for number in range(plan.workers):
                name = f"w{number}"
                cache = str(self.folder / f"{tag}-cache-{name}")
                command = [*base, "worker", "--cluster", self.redis.url, "--name", name, "--slots", "8"]
                process = self.start(f"{tag}-{name}", [*command, "--cache-dir", cache], CORES[number])
                workers[process.pid] = name
            self.warm(tag, workers)
            waited = wait_for_quiet() if wait else 0.0
            if waited > 5:
                print(f"  (waited {waited:.0f} s for other work on the machine to stop)", flush=True)
            time.sleep(3 * bench_pipeline.SAMPLE_SECONDS * bench_pipeline.SCAN_EVERY)  # the sampler has them all
            return self.timed(plan, tag, db, workers, config_hash, client)
        finally:
            self.stop_all()
            client.close()

    def warm(self, tag: str, workers: dict[int, str]) -> None:
        """Wait until every worker has joined and its engine has started and gone idle."""
        deadline = time.monotonic() + WARM_TIMEOUT
        idle_since: dict[int, float] = {}
        last_cpu: dict[int, float] = {}
        while True:
            ready = 0
            for pid, name in workers.items():
                log = (self.folder / f"{tag}-{name}.log").read_text(errors="replace")
                engines = [child for child in children_of(pid) if "spiders.engine" in command_line(child)]
                if "joined the cluster" not in log or not engines:
                    continue
                cpu = sum(process_cpu(engine) or 0.0 for engine in engines)
                if abs(cpu - last_cpu.get(pid, -1.0)) > 0.02:
                    idle_since[pid], last_cpu[pid] = time.monotonic(), cpu
                elif time.monotonic() - idle_since[pid] >= 1.0:
                    ready += 1
            if ready == len(workers):
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a worker exited (status {process.returncode}); see {self.folder}/{tag}-*.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start their engines in {WARM_TIMEOUT:.0f} s")
            time.sleep(0.25)

    def timed(self, plan: Plan, tag: str, db: Path, workers: dict[int, str], config_hash: str, client: Any) -> Result:
        if plan.writer == "serve":
            command = [
                *[sys.executable, "-m", "monitor", "--config", str(plan.config), "--db", str(db)],
                *["serve", "--cluster", self.redis.url, "--grace", "2s"],
            ]
        else:
            command = [sys.executable, __file__, "--publish-at-once", str(plan.config), str(db), self.redis.url]
            command += ["--hold"] if plan.writer == "drain" else []
        base_cpu, before_self, before_machine = self.sampler.snapshot(), _self_cpu(), bench_pipeline._machine_busy()
        start = time.perf_counter()
        writer = self.start(f"{tag}-writer", command)
        base_writer = (0.0, 0.0)
        if plan.writer == "drain":  # the clock starts once every result waits in Redis, when the writer starts reading
            filled = self.wait_for_line(tag, "writer", "draining", writer)
            print(f"    (workers filled the result stream in {filled:.1f} s)", flush=True)
            base_writer = process_times(writer.pid) or (0.0, 0.0)
            base_cpu, before_self, before_machine = self.sampler.snapshot(), _self_cpu(), bench_pipeline._machine_busy()
            start = time.perf_counter()
        spy: subprocess.Popen[bytes] | None = None
        first = first_cpu = None
        count = first_count = 0
        with _store_counter(db) as articles:
            while True:
                time.sleep(POLL_SECONDS / 5 if plan.writer == "drain" else POLL_SECONDS)
                count = articles()
                now = time.perf_counter() - start
                if self.py_spy and spy is None and now > 0.5:  # once the interpreter is up
                    spy = self.profile(writer.pid, self.folder / f"{tag}-writer.pyspy")
                if count and first is None:
                    first, first_cpu, first_count = now, sum(process_times(writer.pid) or (0.0, 0.0)), count
                if count >= plan.articles:
                    break
                dead = [process for process in self.processes if process.poll() is not None]
                if dead or now > RUN_TIMEOUT:
                    raise RuntimeError(
                        f"{plan.name}: {count} of {plan.articles} articles after {now:.0f} s"
                        + (f", a process exited (status {dead[0].returncode})" if dead else "")
                        + f"; see {self.folder}/{tag}-*.log"
                    )
        wall = time.perf_counter() - start
        user, system = process_times(writer.pid) or (0.0, 0.0)
        user, system = user - base_writer[0], system - base_writer[1]
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
            spy.wait(60)
        after_machine = bench_pipeline._machine_busy()
        self_cpu = _self_cpu() - before_self
        end_cpu = self.sampler.snapshot()
        assert self.redis.process is not None
        roots = {writer.pid: "writer", self.redis.process.pid: "redis", **workers}
        roles: dict[str, float] = {}
        for pid, cpu in end_cpu.items():
            role = self.sampler.role(pid, roots)
            if role != "other":
                roles[role] = roles.get(role, 0.0) + cpu - base_cpu.get(pid, 0.0)
        roles["writer"] = user + system  # read at the moment the last article was counted
        other = max(0.0, after_machine - before_machine - sum(roles.values()) - self_cpu)
        assert first is not None and first_cpu is not None
        total = sum(base_writer) + user + system
        steady = (total - first_cpu) / (count - first_count) * 1000 if count > first_count else float("nan")
        notes = self.check(tag, workers, config_hash, client)
        commands = {
            name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in client.info("commandstats").items()
        }
        return Result(plan, count, wall, first, user + system, system, steady, roles, self_cpu, other, commands, notes)

    def wait_for_line(self, tag: str, name: str, text: str, process: subprocess.Popen[bytes]) -> float:
        """Seconds until ``text`` is in the log of ``name``."""
        start = time.perf_counter()
        while text not in (self.folder / f"{tag}-{name}.log").read_text(errors="replace"):
            if process.poll() is not None or time.perf_counter() - start > RUN_TIMEOUT:
                raise RuntimeError(f"{name} never said {text!r}; see {self.folder / f'{tag}-{name}.log'}")
            time.sleep(0.05)
        return time.perf_counter() - start

    def profile(self, pid: int, output: Path) -> subprocess.Popen[bytes]:
        """py-spy sampling ``pid`` (not pausing it) into ``output``, collapsed stacks with thread ids."""
        assert self.py_spy is not None
        command = [self.py_spy, "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--threads"]
        return subprocess.Popen(
            [*command, "--format", "raw", "-o", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def check(self, tag: str, workers: dict[int, str], config_hash: str, client: Any) -> list[str]:
        """What went differently from the plan: an engine restarted for another configuration, errors in logs."""
        notes = []
        published = client.hget("monitor:config", "hash")
        if published is not None and published.decode() != config_hash:
            notes.append(f"the writer published configuration {published.decode()}, not {config_hash}")
        for name in ["writer", *workers.values()]:
            log = (self.folder / f"{tag}-{name}.log").read_text(errors="replace")
            if "replaces" in log:
                notes.append(f"{name} restarted its engine for another configuration")
            if "Traceback" in log or " ERROR " in log:
                notes.append(f"{name} logged an error (see {self.folder / f'{tag}-{name}.log'})")
        return notes


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _store_counter(db: Path) -> Iterator[Any]:
    """A function counting the store's articles (0 until the writer has made it), read-only."""
    conn: sqlite3.Connection | None = None

    def count() -> int:
        nonlocal conn
        if conn is None:
            if not db.exists():
                return 0
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is not there yet
            conn.close()
            conn = None
            return 0

    try:
        yield count
    finally:
        if conn is not None:
            conn.close()


# --- the child mode: a writer that publishes every run at once -----------------------------------------------------


def publish_at_once(config_path: str, db: str, url: str, *, hold: bool) -> None:
    """Drive ``ClusterEngine`` as serve does, but submit every source at once; until SIGTERM.

    ``hold``: read no results until the workers have finished every run and page (no task left
    in Redis), then say "draining" and apply them all, 200 to a transaction: the writer at full speed.
    """
    from monitor.cluster import ClusterEngine
    from monitor.cluster.bus import PAGES, RESULTS, TASKS, WORKER_GROUP, WRITER_GROUP, ensure_group
    from monitor.cluster.writer import publish_config
    from monitor.config import load_config
    from monitor.store import Store, sync_sources

    config = load_config(config_path)
    with Store.open(db) as store:
        sync_sources(store, config.sources)
    engine = ClusterEngine(config, db, url, on_finished=lambda summary: None, on_alerts=lambda: None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if hold:
        engine.hash = publish_config(engine.client, config, engine.key)
        ensure_group(engine.client, TASKS, WORKER_GROUP)
        ensure_group(engine.client, RESULTS, WRITER_GROUP)
    else:
        engine.start()
    for source in config.sources:
        engine.submit(source.name, config.run_deadline([source.name]))
    if hold:
        # A worker deletes a run's task with its last result, once it has handed out every page, and a page's
        # task with its result: no task of either kind left, every result is in Redis.
        while (engine.client.xlen(TASKS) or engine.client.xlen(PAGES)) and not stop.wait(0.1):
            pass
        print("draining", flush=True)
        engine.start()
    stop.wait()
    engine.stop(2.0)


# --- the report --------------------------------------------------------------------------------------------------


def throughput_table(rows: list[Result], runs: dict[str, list[Result]]) -> str:
    columns = (
        "run",
        "articles",
        "wall s",
        "articles/s",
        "first article s",
        "writer CPU per article: all (kernel part); first to last article",
        "worker trees CPU per article",
        "redis CPU per article",
        "site CPU s",
        "other load",
    )
    lines = ["| " + " | ".join(columns) + " |", "|---" + "|---:" * (len(columns) - 1) + "|"]
    for row in rows:
        walls = [run.wall for run in runs[row.plan.name]]
        trees = " + ".join(f"{row.per_article(row.cpu(f'w{n} ')):.1f}" for n in range(row.plan.workers))
        cells = (
            row.plan.name,
            str(row.articles),
            f"{row.wall:.2f}" + (f" ({min(walls):.2f}-{max(walls):.2f})" if len(walls) > 1 else ""),
            f"{row.articles / row.wall:.1f}",
            f"{row.first:.2f}",
            f"{row.per_article(row.writer_cpu):.2f} ({row.per_article(row.writer_system):.2f}); "
            f"{row.writer_steady:.2f} ms",
            f"{trees} ms",
            f"{row.per_article(row.cpu('redis')):.2f} ms",
            f"{row.self_cpu:.2f}",
            f"{row.other_cpu / row.wall:.2f} cores",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def time_table(rows: list[Result]) -> str:
    """CPU ms per article by role, and the cores each used on average."""
    roles = ("writer", "worker", "engine", "extraction", "redis")
    columns = ("run", *[f"{role}" for role in roles], "site (this process)", "total", "other load", "cores busy")
    lines = ["| " + " | ".join(columns) + " |", "|---" + "|---:" * (len(columns) - 1) + "|"]
    for row in rows:
        cells = [row.plan.name]
        for role in roles:
            if role in ("writer", "redis"):
                seconds = row.cpu(role)
                cells.append(f"{row.per_article(seconds):.2f} ({seconds / row.wall:.2f} cores)")
            else:
                split = [row.cpu(f"w{n} ", f" {role}") for n in range(row.plan.workers)]
                cells.append(" + ".join(f"{row.per_article(s):.1f}" for s in split))
        total = sum(row.roles.values()) + row.self_cpu
        cells += [
            f"{row.per_article(row.self_cpu):.2f}",
            f"{row.per_article(total):.1f}",
            f"{row.other_cpu / row.wall:.2f} cores",
            f"{(total + row.other_cpu) / row.wall:.2f} of {len(os.sched_getaffinity(0))}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(rows: dict[str, Result], pages: int, sources: int) -> list[str]:
    lines = []

    def speed(name: str) -> float | None:
        row = rows.get(name)
        return row.articles / row.wall if row else None

    for label, one, two in (
        (f"{sources} feeds, serve", f"{sources} feeds, serve, 1 worker", f"{sources} feeds, serve, 2 workers"),
        (
            f"{sources} feeds, published at once",
            f"{sources} feeds, at once, 1 worker",
            f"{sources} feeds, at once, 2 workers",
        ),
        (f"one feed of {pages}", "1 feed, serve, 1 worker", "1 feed, serve, 2 workers"),
    ):
        first, second = speed(one), speed(two)
        if first and second:
            lines.append(
                f"{label}: 2 workers {second:.1f} articles/s vs 1 worker {first:.1f}: **{second / first:.2f}x** "
                "(target >= 1.8x)"
            )
    from monitor.ops.scheduler import CLUSTER_STAGGER_SECONDS

    stagger = CLUSTER_STAGGER_SECONDS * (sources - 1)
    lines.append(
        f"serve --cluster staggers sources that are due at its start {CLUSTER_STAGGER_SECONDS:g} s apart: the last"
        f" of {sources} is published {stagger:.1f} s after the start"
    )
    writers = [row for row in rows.values() if row.plan.writer != "drain"]
    steady = [row.writer_steady for row in writers if row.writer_steady == row.writer_steady]
    whole = [row.per_article(row.writer_cpu) for row in writers if row.plan.writer == "serve"]
    if steady and whole:
        ceiling = 1000 / statistics.median(steady)
        lines.append(
            f"writer CPU per article while workers crawl: {min(whole):.2f}-{max(whole):.2f} ms for serve from its "
            f"start (imports, store creation, scheduler included); {min(steady):.2f}-{max(steady):.2f} ms from the "
            f"first article to the last (median {statistics.median(steady):.2f}; target <= 2 ms), which at 100 % of "
            f"one core would be {ceiling:.0f} articles/s"
        )
    for row in rows.values():
        if row.plan.writer == "drain":
            cpu = row.per_article(row.writer_cpu)
            lines.append(
                f"the writer at full speed (every result waiting in Redis, read 200 at a time): {row.articles} "
                f"articles in {row.wall:.2f} s = **{row.articles / row.wall:.0f} articles/s**, "
                f"{row.writer_cpu / row.wall:.2f} cores, {cpu:.2f} ms CPU per article "
                f"({row.per_article(row.writer_system):.2f} in the kernel): the ceiling of one writer is about "
                f"1000 / {cpu:.2f} = **{1000 / cpu:.0f} articles/s** at 100 % of one core"
            )
    for row in rows.values():
        # the writer's, less the workers' own: one a run and one a page
        batches = row.commands.get("xack", 0) - row.plan.sources - row.articles
        if batches > 0:
            lines.append(
                f"{row.plan.name}: the writer applied {row.articles} articles in about {batches} batches "
                f"({row.articles / batches:.1f} articles each); Redis served "
                f"{sum(row.commands.values()) / row.articles:.1f} commands per article "
                f"({row.commands.get('xadd', 0)} XADD, {row.commands.get('xreadgroup', 0)} XREADGROUP, "
                f"{row.commands.get('exec', 0)} MULTI/EXEC, {row.commands.get('exists', 0)} EXISTS, "
                f"{row.commands.get('hmget', 0)} HMGET)"
            )
    for row in writers:
        if row.plan.workers == 2:
            lines.append(
                f"{row.plan.name}: besides the two pinned workers, the writer took {row.cpu('writer') / row.wall:.2f} "
                f"cores, redis {row.cpu('redis') / row.wall:.2f}, the site {row.self_cpu / row.wall:.2f} and other "
                f"processes {row.other_cpu / row.wall:.2f}: all of it on the same two cores"
            )
    return lines


def profile_summary(text: str, top: int = 25) -> str:
    """py-spy's collapsed stacks of the writer: samples per thread, and the writer thread's costliest functions."""
    threads: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for line in text.splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0].partition(": ")[2]  # "thread (PID): NAME"
        threads[thread] = threads.get(thread, 0) + int(number)
        if thread == "writer":
            for name in {
                frame.partition(" (")[0] + " (" + frame.partition(" (")[2].split(":")[0] + ")" for frame in frames[1:]
            }:
                inclusive[name] = inclusive.get(name, 0) + int(number)
    total, writer = sum(threads.values()) or 1, threads.get("writer", 0) or 1
    lines = [f"  {count:6d} samples {count / total:6.1%}  thread {name}" for name, count in sorted(threads.items())]
    lines.append(f"  the writer thread (applies results), inclusive share of its {writer} samples:")
    for name, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {count / writer:6.1%}  {name}")
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="article pages on the site (default 2000)")
    parser.add_argument("--sources", type=int, default=20, help="section feeds they are split into (default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind; the fastest is shown")
    parser.add_argument("--crawl-workers", type=int, default=1, help="crawl.workers of each worker (default 1)")
    parser.add_argument("--only", action="append", default=[], help="only the runs whose name contains this")
    parser.add_argument(
        "--no-wait",
        dest="wait_for_quiet",
        action="store_false",
        help="start each run at once instead of waiting (up to 60 s) for the machine to be idle",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="sample each writer with this py-spy (its py-spy CPU is other load) and print where its time goes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder (stores, logs) and print where")
    parser.add_argument("--publish-at-once", nargs=3, metavar=("CONFIG", "DB", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publish_at_once:
        publish_at_once(*args.publish_at_once, hold=args.hold)
        return 0
    if len(os.sched_getaffinity(0)) < 2:
        print("bench_cluster: needs two cores to pin two workers", file=sys.stderr)
        return 1
    try:
        return measure_all(args)
    except RuntimeError as error:
        print(f"bench_cluster: a run failed: {error}", file=sys.stderr)
        return 1


def measure_all(args: argparse.Namespace) -> int:
    from sitegen import SITE_NAME, generate_stories

    from monitor.demo.sites import LocalSite, Route, rss_feed

    stories = generate_stories(args.pages)
    sampler = RoleSampler()
    folder = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        with LocalSite("bench") as site, sampler:
            site.add_news(SITE_NAME, stories)  # the pages, /feed.xml of them all, a sitemap, robots.txt
            sections = [stories[number :: args.sources] for number in range(args.sources)]
            feeds = []
            for number, section in enumerate(sections):
                path = f"/sections/{number:02d}.xml"
                body = rss_feed(f"{SITE_NAME}: section {number}", site.base, section)
                site.routes[path] = Route(body.encode(), "application/rss+xml; charset=utf-8")
                feeds.append((f"section-{number:02d}", site.base + path, len(section)))
            sections_config, single_config = folder / "rules-sections.yaml", folder / "rules-single.yaml"
            sections_config.write_text(config_text(feeds, args.crawl_workers), encoding="utf-8")
            single = [("all", f"{site.base}/feed.xml", len(stories))]
            single_config.write_text(config_text(single, args.crawl_workers), encoding="utf-8")

            redis_server = RedisServer(folder / "redis").start()
            try:
                version = subprocess.run(
                    [redis_server.binary, "--version"], capture_output=True, text=True, check=False
                ).stdout.split()
                sizes = [len(site.routes[story.path].body) for story in stories]
                layout = (
                    f"in {args.sources} section feeds of {min(map(len, sections))}-{max(map(len, sections))}"
                    " and one feed of all"
                )
                fingerprint = print_header(site.base, sizes, layout)
                print(
                    f"redis: {' '.join(version[:3])} on {redis_server.url}, appendonly yes, appendfsync always; "
                    f"workers: --slots 8, crawl.workers {args.crawl_workers}, taskset -c 0 / -c 1; writer unpinned"
                )
                plans = [
                    Plan(
                        f"{args.sources} feeds, serve, 1 worker",
                        sections_config,
                        len(stories),
                        1,
                        "serve",
                        args.sources,
                    ),
                    Plan(
                        f"{args.sources} feeds, serve, 2 workers",
                        sections_config,
                        len(stories),
                        2,
                        "serve",
                        args.sources,
                    ),
                    Plan(
                        f"{args.sources} feeds, at once, 1 worker",
                        sections_config,
                        len(stories),
                        1,
                        "at-once",
                        args.sources,
                    ),
                    Plan(
                        f"{args.sources} feeds, at once, 2 workers",
                        sections_config,
                        len(stories),
                        2,
                        "at-once",
                        args.sources,
                    ),
                    Plan(
                        f"{args.sources} feeds, writer drains the results",
                        sections_config,
                        len(stories),
                        2,
                        "drain",
                        args.sources,
                    ),
                    Plan("1 feed, serve, 1 worker", single_config, len(stories), 1, "serve", 1),
                    Plan("1 feed, serve, 2 workers", single_config, len(stories), 2, "serve", 1),
                ]
                plans = [p for p in plans if not args.only or any(text in p.name for text in args.only)]
                bench = Bench(folder, redis_server, sampler, args.py_spy)
                runs: dict[str, list[Result]] = {}
                profiles: list[tuple[str, str]] = []
                for attempt in range(args.repeat):
                    for number, plan in enumerate(plans):
                        result = bench.run(plan, f"r{attempt}-{number}", wait=args.wait_for_quiet)
                        runs.setdefault(plan.name, []).append(result)
                        profile = folder / f"r{attempt}-{number}-writer.pyspy"
                        if profile.exists():
                            profiles.append((plan.name, profile.read_text(errors="replace")))
                        print(
                            f"  run {attempt + 1}/{args.repeat} {plan.name}: {result.wall:.2f} s, "
                            f"{result.articles} articles, writer {result.per_article(result.writer_cpu):.2f} ms "
                            f"CPU per article, other load {result.other_cpu / result.wall:.2f} cores"
                            + "".join(f"; {note}" for note in result.notes),
                            flush=True,
                        )
            finally:
                redis_server.stop()
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    warn_if_changed(fingerprint)
    rows = {name: min(results, key=lambda r: r.wall) for name, results in runs.items()}
    print()
    print(throughput_table(list(rows.values()), runs))
    print()
    print("CPU ms per article by role (worker columns: w0 + w1; the engine fetches, extracts and scores):")
    print()
    print(time_table(list(rows.values())))
    print()
    for line in ratios(rows, args.pages, args.sources):
        print(f"- {line}")
    for name, text in profiles:
        print(f"\nwriter of {name}, py-spy samples while it was not idle:\n{profile_summary(text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
