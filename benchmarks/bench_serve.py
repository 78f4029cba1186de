"""Steady resources: ``monitor serve`` for hundreds of runs must not grow.

Starts ``monitor serve`` as a real subprocess against a local news site and a
local webhook receiver (all on 127.0.0.1), with four sources on 1-2 s
intervals: two RSS feeds that gain articles while it runs (alerting and quiet
variants of the demo pages, so crawls extract, score, store and queue alerts),
a sitemap of the same articles, and a feed on a dead port (every run fails).
Alerts go to a local receiver every second. Every second it samples the serve
process itself (the parent, which lives for months; each crawl is a child that
exits): VmRSS, VmHWM, open file descriptors and threads, from /proc.

Start values are the highest sample while runs ``--warm`` to ``--warm + W`` were
recorded, end values the highest while the last W runs were (W = max(10, runs / 10));
the peak of a window, so a sample that happens to fall between two crawls does
not flatter either end. Each may grow by at most 10 %. It measures and prints
PASS/FAIL per metric; it is not a test. At the end serve is stopped with SIGTERM.
Usage::

    python benchmarks/bench_serve.py [--runs 200] [--warm 10] [--samples samples.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py: the scripts run from benchmarks/ on sys.path

from monitor.demo import QUIET_PATH, SEED_PATH, load_stories
from monitor.demo.receiver import Receiver
from monitor.demo.sites import LocalSite, Story

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.sitekit import config_text  # noqa: E402 - the tests' config for local sites, shared on purpose

LIMIT = 10.0  # % growth allowed per metric
METRICS = ("rss_kib", "hwm_kib", "fds", "threads")
LABELS = {"rss_kib": "RSS (VmRSS)", "hwm_kib": "peak RSS (VmHWM)", "fds": "open file descriptors", "threads": "threads"}


# --- the site: demo stories, copied into distinct articles ---------------------------------------------------------


def variant(story: Story, number: int, published: datetime, tag: str = "") -> Story:
    """``story`` as a new, distinct article: its own path, canonical URL and title; the same body."""
    stem, _, extension = story.path.rpartition(".")
    path = f"{stem}-{tag}{number}.{extension}"
    title = f"{story.title} (No. {tag}{number})"
    html = story.html.replace(story.path, path).replace(story.title, title)
    return replace(story, path=path, title=title, published=published, html=html)


def demo_pair() -> tuple[Story, Story]:
    """The demo's NATO story (alerts with the default rules) and its rose-village story (stays quiet)."""
    ledger = {story.path: story for story in load_stories()["ledger"]}
    return ledger[SEED_PATH], ledger[QUIET_PATH]


class Publisher:
    """Adds articles to one feed of a running LocalSite, one every ``every`` seconds, in its own thread."""

    def __init__(self, site: LocalSite, feed: str, *, every: float, tag: str, quiet_every: int = 3):
        self.site, self.feed, self.every, self.tag = site, feed, every, tag
        self.quiet_every = quiet_every  # every n-th article stays quiet, the others alert
        self.alerting, self.quiet = demo_pair()
        self.stories: list[Story] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"publish-{feed}", daemon=True)

    def publish(self) -> Story:
        """Put one more article in the feed and its sitemap."""
        number = len(self.stories) + 1
        seed = self.quiet if number % self.quiet_every == 0 else self.alerting
        published = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=number)
        self.stories.append(variant(seed, number, published, self.tag))
        self.site.add_news(
            f"{self.feed} news", self.stories, feed_path=f"/{self.feed}.xml", sitemap_path=f"/{self.feed}-sitemap.xml"
        )
        return self.stories[-1]

    def alerting_paths(self) -> list[str]:
        """The paths of the published articles that alert."""
        return [story.path for story in self.stories if story.title.startswith(self.alerting.title)]

    def stop(self) -> None:
        """Publish no more."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Publisher:
        self.publish()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.publish()


def dead_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_config(site: str, dead: str, destination: str) -> str:
    """Four sources on 1-2 s intervals, one webhook destination, the tests' defaults (no delay, no retries)."""
    sources = (
        f"  - name: world\n    type: rss\n    url: {site}/world.xml\n    interval: 1s\n"
        f"  - name: business\n    type: rss\n    url: {site}/business.xml\n    interval: 2s\n"
        f"  - name: world-sitemap\n    type: sitemap\n    url: {site}/world-sitemap.xml\n    interval: 2s\n"
        f"  - name: dead\n    type: rss\n    url: {dead}/feed.xml\n    interval: 1s\n"
    )
    hook = f"    - name: hook\n      type: webhook\n      url: ${{{destination}}}\n      timeout: 5s\n"
    return config_text(sources, destinations=hook, workers=1)


# --- sampling the serve process ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One look at the serve process, with the runs recorded at that moment."""

    seconds: float
    runs: int
    rss_kib: int
    hwm_kib: int
    fds: int
    threads: int


def sample(pid: int, started: float, runs: int) -> Sample | None:
    """VmRSS, VmHWM, open descriptors and threads of ``pid`` from /proc; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kib = {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}
    return Sample(time.monotonic() - started, runs, kib["VmRSS"], kib["VmHWM"], fds, int(fields["Threads"]))


def run_counts(db: Path) -> dict[str, int]:
    """Runs recorded so far, by status (read-only: the benchmark never writes to serve's store)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}
    finally:
        conn.close()


def finished(counts: dict[str, int]) -> int:
    """Runs that ended, well or badly (skipped slots and runs still going are not counted)."""
    return counts.get("ok", 0) + counts.get("failed", 0)


def window_peak(samples: list[Sample], low: int, high: int) -> dict[str, int]:
    """The highest value of each metric among the samples taken while ``low`` to ``high`` runs were recorded."""
    chosen = [s for s in samples if low <= s.runs <= high]
    if not chosen:
        raise SystemExit(f"no sample was taken while {low}-{high} runs were recorded")
    return {name: max(getattr(s, name) for s in chosen) for name in METRICS}


def store_figures(db: Path) -> dict[str, int]:
    """What the pipeline did: articles stored, alerts queued and delivered."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        alerts = conn.execute("SELECT COUNT(*), SUM(status = 'delivered') FROM alerts").fetchone()
    finally:
        conn.close()
    return {"articles": int(articles), "alerts": int(alerts[0]), "delivered": int(alerts[1] or 0)}


def machine() -> str:
    """CPU model, cores, Python, Scrapy and the OS."""
    model = cpu_model()
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"Scrapy {metadata.version('scrapy')}, APScheduler {metadata.version('apscheduler')}, "
        f"{platform.system()} {platform.release()}"
    )


# --- the run -----------------------------------------------------------------------------------------------------


def stop(process: subprocess.Popen[bytes], limit: float) -> tuple[int | None, float]:
    """SIGTERM, then wait up to ``limit`` s; its exit code (None if it had to be killed) and the seconds it took."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code: int | None = process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = None
    return code, time.monotonic() - began


def left_in_group(pgid: int) -> bool:
    """Whether any process of serve's process group (a crawl, an extraction worker) outlived it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200, help="finished runs (ok or failed) to wait for")
    parser.add_argument("--warm", type=int, default=10, help="runs before the start values are taken")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    parser.add_argument("--grace", default="60s", help="serve's --grace")
    parser.add_argument("--samples", type=Path, help="write every sample to this CSV file")
    parser.add_argument("--keep", action="store_true", help="keep the store and serve's log")
    args = parser.parse_args(argv)
    window = max(10, args.runs // 10)
    if args.runs < args.warm + 2 * window:
        parser.error(f"--runs must be at least --warm + {2 * window}")

    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    db, config_path, log_path = folder / "monitor.db", folder / "rules.yaml", folder / "serve.log"
    print(f"bench_serve: {machine()}")
    with (
        LocalSite("bench") as site,
        Receiver() as receiver,
        Publisher(site, "world", every=4.0, tag="w") as world,
        Publisher(site, "business", every=8.0, tag="b") as business,
    ):
        config_path.write_text(bench_config(site.base, f"http://127.0.0.1:{dead_port()}", "BENCH_WEBHOOK_URL"))
        env = {**os.environ, "BENCH_WEBHOOK_URL": receiver.base + "/hook"}
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
            "--grace",
            args.grace,
        ]
        print("  " + " ".join(["monitor", *command[3:]]))
        print(
            f"  sources: world (rss, 1s, +1 article/4 s), business (rss, 2s, +1 article/8 s), "
            f"world-sitemap (sitemap, 2s), dead (rss on a closed port, 1s); alerts every 1 s to {receiver.base}"
        )
        samples: list[Sample] = []
        with log_path.open("wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            counts: dict[str, int] = {}
            reached = None
            while time.monotonic() - started < args.timeout:
                counts = run_counts(db)
                seen = sample(process.pid, started, finished(counts))
                if seen is None or process.poll() is not None:
                    print(f"monitor serve exited early with status {process.wait()}; see {log_path}")
                    return 1
                samples.append(seen)
                if len(samples) % 30 == 0:
                    print(
                        f"  {seen.seconds:6.0f} s  runs {seen.runs:4d}  RSS {seen.rss_kib / 1024:6.1f} MiB  "
                        f"fds {seen.fds:3d}  threads {seen.threads:3d}",
                        flush=True,
                    )
                if seen.runs >= args.runs:
                    reached = seen.seconds
                    break
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started - seen.seconds)))
            code, stop_seconds = stop(process, limit=120)
            wall = time.monotonic() - started
        orphans = left_in_group(process.pid)
        counts = run_counts(db)
        published = len(world.stories) + len(business.stories)
        received = len(receiver.posts("/hook"))

    if reached is None:
        print(f"gave up after {args.timeout:g} s with {finished(counts)} runs; see {log_path}")
        return 1
    if args.samples:
        with args.samples.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(Sample.__dataclass_fields__)
            writer.writerows((f"{s.seconds:.1f}", s.runs, s.rss_kib, s.hwm_kib, s.fds, s.threads) for s in samples)
    first = window_peak(samples, args.warm, args.warm + window)
    end_runs = samples[-1].runs
    last = window_peak(samples, end_runs - window, end_runs)
    figures = store_figures(db)
    print(
        f"\nruns: {finished(counts)} finished ({counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed), "
        f"{counts.get('skipped', 0)} skipped, {counts.get('running', 0)} still running at the stop"
    )
    print(
        f"  {end_runs / (reached / 60):.1f} runs/min ({end_runs} in {reached:.0f} s); {len(samples)} samples, "
        f"start = peak while runs {args.warm}-{args.warm + window} were recorded, "
        f"end = peak during runs {end_runs - window}-{end_runs}"
    )
    print(
        f"  pipeline: {published} articles published, {figures['articles']} stored, "
        f"{figures['alerts']} alerts queued, {figures['delivered']} delivered, {received} received"
    )
    highest = {name: max(getattr(s, name) for s in samples) for name in METRICS}
    print(
        f"  highest sample of the whole run: RSS {highest['rss_kib'] / 1024:.1f} MiB, "
        f"{highest['fds']} descriptors, {highest['threads']} threads"
    )
    print(f"\n{'metric':<24}{'start':>12}{'end':>12}{'growth':>10}  (limit +{LIMIT:g} %)")
    for name in METRICS:
        growth = (last[name] - first[name]) / first[name] * 100
        verdict = "PASS" if growth <= LIMIT else "FAIL"
        start, end = (f"{v / 1024:.1f} MiB" if name.endswith("kib") else str(v) for v in (first[name], last[name]))
        print(f"{LABELS[name]:<24}{start:>12}{end:>12}{growth:>+9.1f}%  {verdict}")
    print(
        f"\nSIGTERM: exit code {code}, stopped in {stop_seconds:.1f} s; "
        f"processes left in its group: {'yes' if orphans else 'none'}"
    )
    print(f"total wall time {wall:.0f} s")
    if args.keep:
        print(f"kept: {folder} (store, rules.yaml, serve.log)")
    else:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return 0  # a measurement: PASS/FAIL is printed, not enforced


if __name__ == "__main__":
    sys.exit(main())
