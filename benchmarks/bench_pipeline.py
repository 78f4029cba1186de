"""Pipeline throughput: ``monitor run`` against a local news site, next to a bare crawl and extraction alone.

Serves N generated article pages (60-120 KB each, see ``sitegen.py``) behind an
RSS feed, a sitemap and robots.txt on 127.0.0.1, then times, each in a fresh
temporary store:

* the full pipeline (``monitor.runs.child.run_crawl``: the crawl engine that
  ``monitor run`` starts) with ``workers: 1`` and ``workers: 0`` (one per core);
* a bare Scrapy crawl of the same feed and pages, same settings, doing nothing with them;
* ``extract_article`` over the same N pages, serially, in one process;
* the crawl engine and the bare crawl with an empty feed: the fixed cost of starting them.

Every run is a child process. Its CPU time and memory are sampled from /proc for
the whole process tree every 50 ms, because the extraction workers are
grandchildren (under the forkserver) that ``RUSAGE_CHILDREN`` never sees.
Each run waits (up to 60 s) for the rest of the machine to go idle, reports the
load other processes put on it meanwhile, and the fastest of ``--repeat`` runs is
shown. It measures and prints; it asserts nothing about speed. Usage::

    python benchmarks/bench_pipeline.py [--pages 400] [--repeat 1]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from machine import cpu_model  # benchmarks/machine.py: the scripts run from benchmarks/ on sys.path

from monitor.errors import MonitorError

# The site, the store and run_crawl are imported where they are used: this file is also the
# child process of the bare crawl and of extraction alone, which must not pay for them
# (monitor.store alone brings numpy and scipy, through datasketch).

RULES = """rules:
  - name: nato
    terms: [NATO, North Atlantic Treaty Organization, Stoltenberg]
  - name: ukraine
    terms: [Ukraine, Kyiv]
  - name: sanctions
    terms: [sanctions]
  - name: armed-conflict
    terms: [armed conflict]
    weight: 0.5
"""
SAMPLE_SECONDS = 0.05  # CPU and RSS of the known processes
SCAN_EVERY, PSS_EVERY = 5, 10  # samples between looks for new processes (1.8 ms) and PSS reads (1 ms a process)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def config_text(feed_url: str, workers: int, max_pages: int) -> str:
    """A rules.yaml for the local site: no delay, no retries, robots.txt obeyed, the four default rules."""
    return (
        "version: 1\n"
        "crawl:\n  user_agent: 'monitor-bench/0.1 (+https://example.org/contact)'\n  obey_robots_txt: true\n"
        f"  download_delay: 0\n  retries: 0\n  timeout: 30s\n  concurrent_requests_per_domain: 16\n"
        f"  workers: {workers}\n"
        "alerts:\n  threshold: 3.0\n"
        f"sources:\n  - name: bench\n    type: rss\n    url: {feed_url}\n    max_pages: {max_pages}\n{RULES}"
    )


# --- sampling a process tree -------------------------------------------------------------------------------------


@dataclass
class TreeUsage:
    """CPU and memory of every descendant process seen during one measurement."""

    cpu_seconds: float = 0.0  # user + system, summed over the tree
    direct_cpu: float = 0.0  # the part spent in this process's own children (the crawl process)
    peak_rss_sum: int = 0  # bytes: the largest sum of VmRSS over the live tree at one sample
    peak_pss_sum: int = 0  # the same for PSS, which shares copy-on-write pages out instead of counting them twice
    peak_rss_single: int = 0  # bytes: the largest VmHWM of one process
    processes: int = 0


class TreeSampler:
    """Samples /proc every 50 ms for the descendants of this process; a context manager."""

    def __init__(self, interval: float = SAMPLE_SECONDS):
        self.interval = interval
        self.root = os.getpid()
        self._cpu: dict[int, float] = {}  # pid -> last utime + stime seen, seconds
        self._direct: set[int] = set()  # pids whose parent was this process when first seen
        self._started: dict[int, str] = {}  # pid -> start time, so a recycled pid is not mistaken for ours
        self._hwm: dict[int, int] = {}
        self._peak_sum = 0
        self._peak_pss = 0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self) -> TreeUsage:
        """What was seen, once the sampler has stopped."""
        direct = sum(cpu for pid, cpu in self._cpu.items() if pid in self._direct)
        return TreeUsage(
            sum(self._cpu.values()),
            direct,
            self._peak_sum,
            self._peak_pss,
            max(self._hwm.values(), default=0),
            len(self._cpu),
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)
        self._sample()

    def _sample(self) -> None:
        # A pid once seen stays tracked: the forkserver and its workers outlive (and are
        # re-parented away from) the crawl process that started them.
        if self._samples % SCAN_EVERY == 0 or self._stop.is_set():
            descendants = self._descendants()
            for pid, (parent, started) in descendants.items():
                if self._started.setdefault(pid, started) == started:
                    self._cpu.setdefault(pid, 0.0)
                    if parent == self.root:
                        self._direct.add(pid)
        with_pss = self._samples % PSS_EVERY == 0
        self._samples += 1
        rss_sum = pss_sum = 0
        for pid in list(self._cpu):
            stat, status = _read(f"/proc/{pid}/stat"), _read(f"/proc/{pid}/status")
            if stat is None or status is None:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" or fields[19] != self._started.get(pid):
                continue  # a zombie, or the pid now names another process: the last sample stands
            self._cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            memory = _status_kib(status)
            rss_sum += memory.get("VmRSS", 0) * 1024
            self._hwm[pid] = max(self._hwm.get(pid, 0), memory.get("VmHWM", 0) * 1024)
            if with_pss:
                rollup = _read(f"/proc/{pid}/smaps_rollup") or ""
                pss_sum += next(
                    (int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0
                )
        self._peak_sum = max(self._peak_sum, rss_sum)
        self._peak_pss = max(self._peak_pss, pss_sum)

    def _descendants(self) -> dict[int, tuple[int, str]]:
        """Every process below this one: pid -> (parent pid, start time)."""
        children: dict[int, list[tuple[int, str]]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _read(f"/proc/{entry.name}/stat")
                if stat is not None:
                    fields = stat.rsplit(")", 1)[1].split()
                    children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
        found: dict[int, tuple[int, str]] = {}
        frontier = [self.root]
        while frontier:
            parent = frontier.pop()
            for child, started in children.get(parent, []):
                if child not in found:
                    found[child] = (parent, started)
                    frontier.append(child)
        return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:  # the process is gone
        return None


def _status_kib(status: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}


# --- one measurement ---------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One timed child process and what it did."""

    name: str
    wall: float
    tree: TreeUsage
    rusage_cpu: float  # RUSAGE_CHILDREN user + system delta: only the reaped part of the tree
    server_cpu: float  # this process (the LocalSite's threads and the sampler) meanwhile
    other_cpu: float  # every other process on the machine meanwhile: noise from other work
    articles: int
    extra: dict[str, Any] = field(default_factory=dict)


def measure(name: str, run: Callable[[], tuple[int, dict[str, Any]]]) -> Measurement:
    """Time ``run`` (which starts a child process and returns an article count and extras)."""
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_self = resource.getrusage(resource.RUSAGE_SELF)
    before_machine = _machine_busy()
    start = time.perf_counter()
    with TreeSampler() as sampler:
        articles, extra = run()
    wall = time.perf_counter() - start
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    tree, server = sampler.usage(), _cpu(after_self) - _cpu(before_self)
    other = max(0.0, _machine_busy() - before_machine - tree.cpu_seconds - server)
    return Measurement(name, wall, tree, _cpu(after_children) - _cpu(before_children), server, other, articles, extra)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(limit: float = 60.0, idle_cores: float = 0.25) -> float:
    """Wait (up to ``limit`` s) until other work on the machine uses under ``idle_cores``; return the wait."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        before = _machine_busy()
        time.sleep(0.5)
        if (_machine_busy() - before) / 0.5 < idle_cores:
            break
    return time.perf_counter() - start


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (user, system, interrupts, steal) since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def pipeline(config: Path, db: Path) -> tuple[int, dict[str, Any]]:
    """The crawl process ``monitor run`` starts; the article count is read back from the store."""
    from monitor.runs import run_crawl

    report = run_crawl(str(config), str(db), ["bench"], timeout=1800)
    # Plain SQL, read-only: the crawl process owns the schema (and may know a newer one than this process).
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        stored, alerting = conn.execute("SELECT count(*), sum(score >= 3.0) FROM articles").fetchone()
    summary = report.sources[0]
    return int(stored), {
        "alerting": int(alerting or 0),
        "errors": summary.errors,
        "pages": summary.pages,
        "status": summary.status,
    }


def child(*args: str) -> tuple[int, dict[str, Any]]:
    """This script in a child process, in one of its internal modes; it prints one JSON line."""
    completed = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return int(result.pop("articles")), result


# --- the child modes ---------------------------------------------------------------------------------------------


def bare_crawl(settings_path: str, feed_url: str) -> None:
    """Crawl the feed and its pages with the project's Scrapy settings and no item pipeline; print counts.

    ``settings_path`` holds what ``spiders.settings.from_config`` makes of the benchmark's rules.yaml,
    worked out by the parent so this process loads no more of the monitor than Scrapy's settings.
    """
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.http import Response
    from scrapy.settings import Settings

    from spiders import settings as project_settings

    class BareSpider(scrapy.Spider):
        name = "bare"
        pages = 0
        body_bytes = 0

        async def start(self) -> Any:
            yield scrapy.Request(feed_url, callback=self.parse_feed)

        def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
            for url in response.xpath("//item/link/text()").getall():
                yield scrapy.Request(url, callback=self.parse_page)

        def parse_page(self, response: Response) -> None:
            BareSpider.pages += 1
            BareSpider.body_bytes += len(response.body)

    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    settings.setdict(json.loads(Path(settings_path).read_text(encoding="utf-8")), priority="cmdline")
    # No spider modules: Scrapy would import spiders.news, and the monitor with it.
    # Scrapy's own duplicate filter: the project's is per source-run, and lives in spiders.news.
    # The site is on loopback, which the monitor's crawl trusts as each source's own host.
    bare = {
        "SPIDER_MODULES": [],
        "LOG_LEVEL": "WARNING",
        "DUPEFILTER_CLASS": "scrapy.dupefilters.RFPDupeFilter",
        "MONITOR_ALLOW_PRIVATE_NETWORKS": ["127.0.0.0/8"],
    }
    settings.setdict(bare, priority="cmdline")
    process = CrawlerProcess(settings)
    process.crawl(BareSpider)
    process.start()
    print(json.dumps({"articles": BareSpider.pages, "bytes": BareSpider.body_bytes}))


def extract_only(pages_path: str) -> None:
    """``extract_article`` over the pages in a JSON file, serially; print the loop's own wall and CPU time."""
    from monitor.extract import extract_article

    pages = json.loads(Path(pages_path).read_text(encoding="utf-8"))
    wall, cpu = time.perf_counter(), time.process_time()
    articles = sum(1 for url, html in pages if extract_article(html, url).text)
    print(
        json.dumps(
            {"articles": articles, "loop_wall": time.perf_counter() - wall, "loop_cpu": time.process_time() - cpu}
        )
    )


# --- the report --------------------------------------------------------------------------------------------------


def code_fingerprint() -> str:
    """A short hash of the monitor's and the spiders' sources: which working tree was measured."""
    digest = hashlib.sha256()
    for package in ("monitor", "spiders"):  # where they are imported from, which may not be this checkout
        spec = importlib.util.find_spec(package)
        folder = Path(spec.origin if spec and spec.origin else package).parent
        for path in sorted(folder.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(folder).as_posix()}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def print_header(base: str, sizes: list[int], layout: str) -> str:
    """Print the machine, the code's fingerprint and the site (its pages' sizes, ``layout``); the fingerprint."""
    print(f"machine: {machine()}")
    fingerprint = code_fingerprint()
    print(f"code: monitor/ and spiders/ sources sha256 {fingerprint}")
    print(
        f"site: {base}, {len(sizes)} pages, {min(sizes) / 1000:.0f}-{max(sizes) / 1000:.0f} KB "
        f"(mean {statistics.mean(sizes) / 1000:.0f} KB), {layout}"
    )
    return fingerprint


def warn_if_changed(fingerprint: str) -> None:
    """Say so when monitor/ or spiders/ changed while the benchmark ran."""
    if code_fingerprint() != fingerprint:
        print("warning: monitor/ or spiders/ changed during the runs; the figures mix two versions of the code")


def machine() -> str:
    """CPU model, cores, Python and library versions, and the date."""
    model = cpu_model()
    cores = len(os.sched_getaffinity(0))
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("scrapy", "trafilatura", "lxml"))
    return (
        f"{model}, {cores} cores, Python {platform.python_version()}, {versions}, "
        f"{platform.system()} {platform.release()}; {datetime.now():%Y-%m-%d %H:%M}"
    )


COLUMNS = (
    "run",
    "articles",
    "wall s",
    "articles/s",
    "CPU per article",
    "CPU s: child + below",
    "CPU s in RUSAGE_CHILDREN",
    "site CPU s",
    "other load",
    "peak RSS (PSS), tree",
    "peak RSS, one process",
    "processes",
)


def table(rows: list[Measurement], runs: dict[str, list[Measurement]]) -> str:
    """The figures as a Markdown table: the fastest run of each kind, and the range of its wall times."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" + "|---:" * (len(COLUMNS) - 1) + "|"]
    for row in rows:
        tree, walls = row.tree, [run.wall for run in runs[row.name]]
        cells = (
            row.name,
            str(row.articles),
            f"{row.wall:.2f}" + (f" ({min(walls):.2f}-{max(walls):.2f})" if len(walls) > 1 else ""),
            f"{row.articles / row.wall:.1f}" if row.articles else "-",
            f"{tree.cpu_seconds / row.articles * 1000:.1f} ms" if row.articles else "-",
            f"{tree.direct_cpu:.2f} + {tree.cpu_seconds - tree.direct_cpu:.2f}",
            f"{row.rusage_cpu:.2f}",
            f"{row.server_cpu:.2f}",
            f"{row.other_cpu / row.wall:.2f} cores",
            f"{tree.peak_rss_sum / 2**20:.0f} ({tree.peak_pss_sum / 2**20:.0f}) MiB",
            f"{tree.peak_rss_single / 2**20:.0f} MiB",
            str(tree.processes),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(rows: dict[str, Measurement]) -> list[str]:
    """The comparisons the issue asks for, in words."""
    fixed = rows["crawl process, empty feed"].wall
    one, every = rows["pipeline, workers: 1"], rows["pipeline, workers: 0"]
    bare, alone = rows["bare crawl"], rows["extraction alone"]
    cpu = {name: row.tree.cpu_seconds for name, row in rows.items()}
    extract_ms = alone.extra["loop_cpu"] / alone.articles * 1000
    fetch_ms = (cpu[bare.name] - cpu["bare crawl, empty feed"]) / bare.articles * 1000
    bare_fixed = rows["bare crawl, empty feed"].wall

    def steady(row: Measurement, start: float) -> float:
        return (row.wall - start) / row.articles * 1000

    return [
        f"speed-up, all cores vs one: {one.wall / every.wall:.2f}x "
        f"({(one.wall - fixed) / (every.wall - fixed):.2f}x without the {fixed:.1f} s it takes to start a crawl)",
        f"full pipeline vs bare crawl: {one.wall / bare.wall:.1f}x slower on one core, {every.wall / bare.wall:.1f}x "
        f"on all cores; {cpu[one.name] / cpu[bare.name]:.1f}x / {cpu[every.name] / cpu[bare.name]:.1f}x the CPU",
        f"full pipeline vs extraction alone: {one.wall / alone.wall:.2f}x the wall time on one core, "
        f"{every.wall / alone.wall:.2f}x on all cores",
        f"wall ms per article once started (minus the empty-feed runs): pipeline {steady(one, fixed):.1f} on one "
        f"core, {steady(every, fixed):.1f} on all cores; bare crawl {steady(bare, bare_fixed):.1f}",
        f"extraction alone: {alone.extra['loop_wall'] / alone.articles * 1000:.1f} ms per article "
        f"({extract_ms:.1f} ms CPU, loop only); fetching in the bare crawl: {fetch_ms:.1f} ms CPU per article "
        f"once started, so extracting costs {extract_ms / fetch_ms:.1f}x fetching",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=400, help="article pages on the site (default 400)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the fastest is shown")
    parser.add_argument(
        "--no-wait",
        dest="wait_for_quiet",
        action="store_false",
        help="start each run at once instead of waiting (up to 60 s) for the machine to be idle",
    )
    parser.add_argument("--bare-crawl", nargs=2, metavar=("SETTINGS_JSON", "FEED"), help=argparse.SUPPRESS)
    parser.add_argument("--extract-only", metavar="PAGES_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_crawl:
        bare_crawl(*args.bare_crawl)
        return 0
    if args.extract_only:
        extract_only(args.extract_only)
        return 0

    try:
        return measure_all(args.pages, args.repeat, wait=args.wait_for_quiet)
    except (MonitorError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", None) or ""
        print(f"bench_pipeline: a run failed: {error}\n{detail[-2000:]}".rstrip(), file=sys.stderr)
        return 1


def measure_all(pages: int, repeat: int, *, wait: bool) -> int:
    """Serve the site, run every measurement ``repeat`` times and print the report."""
    from sitegen import SITE_NAME, generate_stories

    from monitor.config import load_config
    from monitor.demo.sites import LocalSite, Route
    from spiders.settings import from_config

    stories = generate_stories(pages)
    with LocalSite("bench") as site, tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
        work = Path(folder)
        site.add_news(SITE_NAME, stories)
        site.routes["/empty.xml"] = Route(
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>empty</title></channel></rss>',
            "application/rss+xml",
        )
        feed = site.routes["/feed.xml"].body
        sizes = [len(site.routes[story.path].body) for story in stories]
        fingerprint = print_header(site.base, sizes, f"feed lists {feed.count(b'<item>')} of them")
        pages_json = work / "pages.json"
        served = [(site.base + story.path, site.routes[story.path].body.decode()) for story in stories]
        pages_json.write_text(json.dumps(served), encoding="utf-8")
        configs = {}
        for workers in (0, 1):
            configs[workers] = work / f"rules-{workers}.yaml"
            configs[workers].write_text(config_text(f"{site.base}/feed.xml", workers, pages), encoding="utf-8")
        scrapy_settings = work / "scrapy-settings.json"
        scrapy_settings.write_text(json.dumps(from_config(load_config(str(configs[1])))), encoding="utf-8")
        empty = work / "rules-empty.yaml"
        empty.write_text(config_text(f"{site.base}/empty.xml", 1, pages), encoding="utf-8")

        runs: dict[str, list[Measurement]] = {}
        for attempt in range(repeat):
            plan: list[tuple[str, Callable[[], tuple[int, dict[str, Any]]]]] = [
                ("crawl process, empty feed", partial(pipeline, empty, work / f"empty-{attempt}.db")),
                (
                    "bare crawl, empty feed",
                    partial(child, "--bare-crawl", str(scrapy_settings), f"{site.base}/empty.xml"),
                ),
                ("bare crawl", partial(child, "--bare-crawl", str(scrapy_settings), f"{site.base}/feed.xml")),
                ("extraction alone", partial(child, "--extract-only", str(pages_json))),
                ("pipeline, workers: 1", partial(pipeline, configs[1], work / f"one-{attempt}.db")),
                ("pipeline, workers: 0", partial(pipeline, configs[0], work / f"all-{attempt}.db")),
            ]
            for name, run in plan:
                waited = wait_for_quiet() if wait else 0.0
                if waited > 5:
                    print(f"  (waited {waited:.0f} s for other work on the machine to stop)", flush=True)
                result = measure(name, run)
                runs.setdefault(name, []).append(result)
                print(
                    f"  run {attempt + 1}/{repeat} {name}: {result.wall:.2f} s, {result.articles} articles, "
                    f"other load {result.other_cpu / result.wall:.2f} cores"
                    f"{', ' + json.dumps(result.extra) if result.extra else ''}",
                    flush=True,
                )

    warn_if_changed(fingerprint)
    # The fastest run of each kind: on a shared machine the slower ones measure the neighbours.
    rows = {name: min(results, key=lambda m: m.wall) for name, results in runs.items()}
    print()
    print(table(list(rows.values()), runs))
    print()
    for line in ratios(rows):
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
