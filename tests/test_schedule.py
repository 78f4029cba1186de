"""`monitor serve`'s schedule: intervals kept, no overlap, resumes after restart, reloads, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, parse_config
from monitor.demo import start_sites
from monitor.models import SourceRunSummary
from monitor.ops.scheduler import Service
from monitor.store import Store
from monitor.timestamps import iso, utcnow
from tests.sitekit import config_text, write
from tests.storekit import database


def sources_yaml(interval: str = "1s", names: tuple[str, ...] = ("a", "b")) -> str:
    return "".join(
        f"  - name: {n}\n    type: rss\n    url: http://127.0.0.1:9/{n}\n    interval: {interval}\n" for n in names
    )


def two_sources(interval: str = "1s") -> Config:
    return parse_config(config_text(sources_yaml(interval)), "test.yaml", {})


class Recorder:
    """Stands in for the crawl engine: runs each source handed to it for ``duration`` on a thread of its own.

    It records when each source ran and how many of its runs overlapped; ``crash`` names a
    source whose every run fails. The real engine has tests of its own (test_engine.py).
    """

    def __init__(self, duration: float = 0.0, crash: str | None = None):
        self.duration = duration
        self.crash = crash
        self.starts: dict[str, list[float]] = {}
        self.running_now: dict[str, int] = {}
        self.max_running: dict[str, int] = {}
        self.aborted = 0
        self.reloads: list[Config] = []
        self.lock = threading.Lock()
        self.stop_now = threading.Event()
        self.threads: list[threading.Thread] = []
        self.service: Service | None = None

    def __call__(self, service: Service) -> Recorder:  # the Service's engine factory
        self.service = service
        return self

    def start(self) -> None:
        pass

    def running(self) -> set[str]:
        with self.lock:
            return {name for name, count in self.running_now.items() if count}

    def submit(self, source: str, deadline: float | None) -> bool:
        with self.lock:
            if self.running_now.get(source):
                return False
            self.starts.setdefault(source, []).append(time.monotonic())
            self.running_now[source] = self.running_now.get(source, 0) + 1
            self.max_running[source] = max(self.max_running.get(source, 0), self.running_now[source])
        thread = threading.Thread(target=self._run, args=(source,))
        self.threads.append(thread)
        thread.start()
        return True

    def _run(self, source: str) -> None:
        if self.stop_now.wait(self.duration):
            with self.lock:
                self.aborted += 1
        with self.lock:
            self.running_now[source] -= 1
        assert self.service is not None
        self.service.run_finished(SourceRunSummary(source=source, status="failed" if source == self.crash else "ok"))

    def reload(self, config: Config) -> None:
        self.reloads.append(config)

    def stop(self, grace: float, abort: threading.Event | None = None) -> None:
        deadline = time.monotonic() + grace
        while self.running() and time.monotonic() < deadline and not (abort is not None and abort.is_set()):
            time.sleep(0.05)
        self.stop_now.set()
        for thread in self.threads:
            thread.join()


def run_for(seconds: float, recorder: Recorder, config: Config, db: Path) -> Service:
    sends: list[float] = []
    service = Service(
        config, str(db), send_interval=1, engine=recorder, send=lambda *args: sends.append(1.0), grace_seconds=0.5
    )
    service.schedule()
    service.start()
    time.sleep(seconds)
    service.stop()
    assert len(sends) >= seconds - 1, "alert delivery runs on its own interval"
    return service


def test_each_source_runs_on_its_interval(tmp_path: Path) -> None:
    recorder = Recorder()
    run_for(3.6, recorder, two_sources("1s"), tmp_path / "m.db")
    for name in ("a", "b"):
        assert 3 <= len(recorder.starts[name]) <= 5, recorder.starts


def test_a_crawl_slower_than_its_interval_never_overlaps_itself_and_the_skip_is_recorded(tmp_path: Path) -> None:
    recorder = Recorder(duration=2.2)
    run_for(5.0, recorder, two_sources("1s"), tmp_path / "m.db")
    assert recorder.max_running == {"a": 1, "b": 1}
    with Store.open(tmp_path / "m.db") as store:
        skipped = store.query("SELECT source FROM runs WHERE status = 'skipped'")
    assert {row["source"] for row in skipped} == {"a", "b"}


def test_a_crashing_crawl_does_not_stop_the_scheduler_or_the_other_sources(tmp_path: Path) -> None:
    recorder = Recorder(crash="a")
    run_for(3.6, recorder, two_sources("1s"), tmp_path / "m.db")
    assert len(recorder.starts["a"]) >= 3 and len(recorder.starts["b"]) >= 3


def test_after_a_restart_the_schedule_resumes_and_an_overdue_source_runs_once(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    now = utcnow()
    with Store.open(db) as store, store.write() as conn:
        # "a" ran a minute ago: not due for an hour. "b" last ran five hours ago: overdue, five slots missed.
        for source, ago in (("a", timedelta(minutes=1)), ("b", timedelta(hours=5))):
            conn.execute(
                "INSERT INTO runs (source, started_at, finished_at, status) VALUES (?, ?, ?, 'ok')",
                (source, iso(now - ago), iso(now - ago)),
            )
    recorder = Recorder()
    service = Service(two_sources("1h"), str(db), engine=recorder, send=lambda *a: None)
    service.schedule(now)
    jobs = {job.id: job.next_run_time for job in service.scheduler.get_jobs()}
    service.start()
    time.sleep(2.0)
    service.stop()
    assert jobs["crawl:a"] >= now + timedelta(minutes=58)
    assert recorder.starts.keys() == {"b"} and len(recorder.starts["b"]) == 1  # coalesced: once, not five times


def test_stop_gives_running_crawls_a_grace_period_then_stops_them(tmp_path: Path) -> None:
    recorder = Recorder(duration=30)
    service = Service(
        two_sources("1h"), str(tmp_path / "m.db"), engine=recorder, send=lambda *a: None, grace_seconds=0.5
    )
    service.schedule()
    service.start()
    time.sleep(3.0)  # the second source starts 2 s after the first (staggered)
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 3.0
    assert recorder.aborted == 2


def test_reload_takes_a_valid_config_and_refuses_an_invalid_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(config_text(sources_yaml("1h")), encoding="utf-8")
    service = Service(
        parse_config(path.read_text(), str(path), {}), str(tmp_path / "m.db"), engine=Recorder(), send=lambda *a: None
    )
    service.schedule()
    path.write_text(config_text(sources_yaml("1h", ("a", "b", "c"))), encoding="utf-8")
    assert service.reload() is True
    assert {job.id for job in service.scheduler.get_jobs()} == {"crawl:a", "crawl:b", "crawl:c"}
    path.write_text("sources: [\n", encoding="utf-8")
    assert service.reload() is False
    assert [s.name for s in service.config.sources] == ["a", "b", "c"]
    assert any("reload refused" in r.getMessage() for r in caplog.records)


def wait_for(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_monitor_serve_crawls_reloads_on_sighup_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ledger, herald = start_sites()
    log_path = tmp_path / "serve.log"
    try:
        sources = f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n    interval: 2s\n"
        config = write(tmp_path / "rules.yaml", config_text(sources))
        db = tmp_path / "m.db"

        def finished_runs() -> int:
            if not db.exists():
                return 0
            with Store.open(db) as store:
                return int(store.query("SELECT COUNT(*) AS n FROM runs WHERE status = 'ok'")[0]["n"])

        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "monitor",
                    "--config",
                    config,
                    "--db",
                    str(db),
                    "serve",
                    "--send-interval",
                    "1s",
                    "--grace",
                    "20s",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
            )
            try:
                assert wait_for(lambda: finished_runs() >= 2), "serve should have crawled the source twice"
                Path(config).write_text(config_text(sources) + "  - name: extra\n    terms: [harbour]\n")
                process.send_signal(signal.SIGHUP)
                assert wait_for(lambda: "configuration reloaded" in log_path.read_text())
                Path(config).write_text("sources: [\n")
                process.send_signal(signal.SIGHUP)
                assert wait_for(lambda: "reload refused" in log_path.read_text())
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
    finally:
        ledger.stop()
        herald.stop()
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert "SIGTERM: finishing running jobs" in output and "stopped" in output
    with Store.open(db) as store:
        assert database(store)["articles"].count == 3
        assert store.query("SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")[0]["n"] == 0


def test_runs_left_open_by_a_killed_monitor_are_closed_as_failed_when_serve_starts(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with Store.open(db) as store, store.write() as conn:
        conn.execute("INSERT INTO runs (source, started_at, status) VALUES ('a', ?, 'running')", (iso(utcnow()),))
    stop = threading.Event()
    stop.set()  # serve starts, tidies up, and stops at once
    from monitor.ops import serve

    only_a = parse_config(config_text(sources_yaml("1h", ("a",))), "test.yaml", {})  # "a" is not due for an hour
    serve(only_a, str(db), stop=stop, grace_seconds=0)
    with Store.open(db) as store:
        assert store.query("SELECT status FROM runs") == [{"status": "failed"}]
        assert store.query("SELECT kind, run_id FROM run_errors") == [{"kind": "crash", "run_id": 1}]


def test_a_source_can_run_on_a_cron_expression_and_resumes_from_its_last_run(tmp_path: Path) -> None:
    text = config_text("  - name: nightly\n    type: rss\n    url: http://127.0.0.1:9/n\n    cron: '30 2 * * *'\n")
    config = parse_config(text, "test.yaml", {})
    assert config.sources[0].cron == "30 2 * * *" and config.sources[0].interval_seconds == 86400
    db = tmp_path / "m.db"
    now = utcnow().replace(hour=12, minute=0, second=0)
    with Store.open(db) as store, store.write() as conn:  # ran at 02:30 today: next run 02:30 tomorrow
        ran = iso(now.replace(hour=2, minute=30))
        conn.execute(
            "INSERT INTO runs (source, started_at, finished_at, status) VALUES ('nightly', ?, ?, 'ok')", (ran, ran)
        )
    service = Service(config, str(db), engine=Recorder(), send=lambda *a: None)
    service.schedule(now)
    job = service.scheduler.get_job("crawl:nightly")
    assert job.next_run_time == (now + timedelta(days=1)).replace(hour=2, minute=30)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("    cron: 'every night'\n", "sources[0].cron: is not a crontab expression"),
        ("    cron: '0 * * * *'\n    interval: 1h\n", "sources[0].cron: give an interval or a cron expression"),
    ],
)
def test_a_bad_cron_source_is_refused(source: str, message: str) -> None:
    from monitor.errors import ConfigError

    text = config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/a\n" + source)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(text, "test.yaml", {})


def test_a_second_signal_stops_running_crawls_without_waiting_for_the_grace_period(tmp_path: Path) -> None:
    recorder = Recorder(duration=60)
    service = Service(
        two_sources("1h"), str(tmp_path / "m.db"), engine=recorder, send=lambda *a: None, grace_seconds=60
    )
    service.schedule()
    service.start()
    time.sleep(1.0)
    threading.Timer(0.5, service.abort.set).start()  # what serve's handler does on the second SIGTERM
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 5 and recorder.aborted >= 1
