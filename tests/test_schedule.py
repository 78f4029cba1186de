"""`monitor serve`'s schedule: intervals kept, no overlap, crashes survived, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.demo import start_sites
from monitor.schedule import build_scheduler
from monitor.settings import Config, SourceSpec
from monitor.store import Store
from tests.sitekit import config_text, write


def two_sources(interval: str = "1s") -> Config:
    sources = (f"  - name: a\n    type: rss\n    url: http://127.0.0.1:9/a\n    interval: {interval}\n"
               f"  - name: b\n    type: rss\n    url: http://127.0.0.1:9/b\n    interval: {interval}\n")
    return parse_config(config_text(sources), "test.yaml", {})


class Recorder:
    """Stands in for the crawl job: records when each source ran, and how many ran at once."""

    def __init__(self, duration: float = 0.0, crash: str | None = None):
        self.duration = duration
        self.crash = crash
        self.starts: dict[str, list[float]] = {}
        self.running: dict[str, int] = {}
        self.max_running: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, config: Config, db_path: str, source: SourceSpec, log_level: str) -> None:
        with self.lock:
            self.starts.setdefault(source.name, []).append(time.monotonic())
            self.running[source.name] = self.running.get(source.name, 0) + 1
            self.max_running[source.name] = max(self.max_running.get(source.name, 0), self.running[source.name])
        try:
            time.sleep(self.duration)
            if source.name == self.crash:
                raise RuntimeError("crawl crashed")
        finally:
            with self.lock:
                self.running[source.name] -= 1


def run_for(seconds: float, recorder: Recorder, config: Config) -> None:
    sends: list[float] = []
    scheduler = build_scheduler(config, "unused.db", send_interval=1, crawl=recorder,
                                send=lambda *args: sends.append(time.monotonic()))
    scheduler.start()
    time.sleep(seconds)
    scheduler.shutdown(wait=True)
    assert len(sends) >= seconds - 1, "alert delivery runs on its own interval"


def test_each_source_runs_on_its_interval() -> None:
    recorder = Recorder()
    run_for(3.6, recorder, two_sources("1s"))
    for name in ("a", "b"):
        assert 3 <= len(recorder.starts[name]) <= 5, recorder.starts


def test_a_crawl_slower_than_its_interval_never_overlaps_itself(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(duration=2.2)
    run_for(5.0, recorder, two_sources("1s"))
    assert recorder.max_running == {"a": 1, "b": 1}
    assert any("still running from its last slot" in r.getMessage() for r in caplog.records)


def test_a_crashing_crawl_does_not_stop_the_scheduler_or_the_other_sources() -> None:
    recorder = Recorder(crash="a")
    run_for(3.6, recorder, two_sources("1s"))
    assert len(recorder.starts["a"]) >= 3 and len(recorder.starts["b"]) >= 3


@pytest.mark.slow
def test_monitor_serve_crawls_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ledger, herald = start_sites()
    try:
        sources = f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n    interval: 2s\n"
        config = write(tmp_path / "rules.yaml", config_text(sources))
        db = tmp_path / "m.db"
        process = subprocess.Popen([sys.executable, "-m", "monitor", "--config", config, "--db", str(db), "serve",
                                    "--send-interval", "1s"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=dict(os.environ))
        try:
            deadline = time.monotonic() + 60
            finished_runs: list[dict[str, Any]] = []
            while time.monotonic() < deadline and len(finished_runs) < 2:
                time.sleep(0.5)
                if db.exists():
                    with Store.open(db) as store:
                        finished_runs = store.query("SELECT * FROM runs WHERE status = 'ok'")
            assert len(finished_runs) >= 2, "serve should have crawled the source at least twice"
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    finally:
        ledger.stop()
        herald.stop()
    assert process.returncode == 0, output
    assert "SIGTERM: finishing running jobs" in output and "stopped" in output
    with Store.open(db) as store:
        assert store.db["articles"].count == 3
        assert store.query("SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")[0]["n"] == 0
