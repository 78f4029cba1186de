"""Operating the monitor: status, the health endpoint, JSON logs and pruning."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from monitor.alerts.pause import pause_destination
from monitor.cli import cli
from monitor.config import Config, DestinationSpec, parse_config
from monitor.ingest import save_article
from monitor.logs import JsonFormatter
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.ops.liveness import HealthServer
from monitor.store import Store, finish_run, record_error, start_run
from monitor.store.outbox import claim_due, mark_failed, start_attempt
from monitor.timestamps import iso, utcnow
from tests.sitekit import config_text, write
from tests.storekit import database
from tests.test_delivery import queue

SOURCES = (
    "  - name: fresh\n    type: rss\n    url: http://127.0.0.1:9/f\n    interval: 15m\n"
    "  - name: broken\n    type: rss\n    url: http://127.0.0.1:9/b\n    interval: 15m\n"
    "  - name: new\n    type: rss\n    url: http://127.0.0.1:9/n\n    interval: 15m\n"
)


def fill(db: Path) -> None:
    hook = (DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/h"),)
    with Store.open(db) as store:
        run = start_run(store, "fresh")
        finish_run(store, run, {"pages": 4, "new_articles": 3}, "ok")
        for _ in range(3):
            run = start_run(store, "broken")
            record_error(store, run, "broken", "http://127.0.0.1:9/b", "fetch", "connection refused")
            finish_run(store, run, {"errors": 1}, "failed")
        hit = Hit(rule="nato", term="NATO", field="title", count=1, snippet="**NATO**")
        article = Article(
            url="https://n.test/a", canonical_url="https://n.test/a", title="NATO", text="NATO " * 500, source="fresh"
        )
        save_article(store, article, Verdict(5.0, 3.0, (RuleMatch("nato", 5.0, (hit,)),)), hook)


def test_status_shows_each_sources_health_next_run_and_the_outbox(tmp_path: Path) -> None:
    config = write(tmp_path / "rules.yaml", config_text(SOURCES))
    fill(tmp_path / "m.db")
    result = CliRunner().invoke(cli, ["--config", config, "--db", str(tmp_path / "m.db"), "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    health = {s["source"]: s["health"] for s in report["sources"]}
    assert health == {"fresh": "ok", "broken": "failing", "new": "never-run"}
    fresh = next(s for s in report["sources"] if s["source"] == "fresh")
    assert fresh["pages"] == 4 and fresh["new_articles"] == 3 and fresh["next_run"] > fresh["last_run"]
    assert report["alerts"] == [
        {"destination": "hook", "state": "not configured", "pending": 1, "retrying": 0, "sending": 0, "held": 0,
         "delivered": 0, "digested": 0, "dead": 0, "paused_at": None, "paused_reason": None}
    ]  # fmt: skip
    assert report["store_bytes"] > 0 and report["articles"] == 1
    table = CliRunner().invoke(cli, ["--config", config, "--db", str(tmp_path / "m.db"), "status"])
    assert table.exit_code == 0 and "failing" in table.output and "never-run" in table.output


def test_status_counts_each_message_once_as_the_store_does_and_shows_paused_and_off_destinations(
    tmp_path: Path,
) -> None:
    destinations = (
        "    - name: hook\n      type: webhook\n      url: ${ST_HOOK_URL}\n"
        "    - name: team\n      type: slack\n      url: ${ST_TEAM_URL}\n"
        "    - name: slack\n      type: slack\n      url: ${ST_SLACK_URL}\n"
    )
    config = write(tmp_path / "rules.yaml", config_text(SOURCES, destinations=destinations))
    env = {"ST_HOOK_URL": "http://127.0.0.1:9/h", "ST_TEAM_URL": "http://127.0.0.1:9/t", "ST_SLACK_URL": ""}
    specs = [DestinationSpec(name="hook", type="webhook", url=env["ST_HOOK_URL"]),
             DestinationSpec(name="team", type="slack", url=env["ST_TEAM_URL"])]  # fmt: skip
    now = utcnow()
    with Store.open(tmp_path / "m.db") as store:
        queue(store, specs, count=3, start=now - timedelta(minutes=5))
        [failed] = claim_due(store, now, limit=1)  # tried once, failed, waits for its retry
        start_attempt(store, failed.id)
        mark_failed(store, failed.id, status_code=500, error="down", next_attempt_at=now + timedelta(hours=1), now=now)
        pause_destination(store, "team", reason="permanent failure: no_service", status=404, now=now, notify=[])
        stored = {
            row["destination"]: row
            for row in store.query(
                "SELECT destination, COUNT(*) AS messages, SUM(status = 'pending' AND attempts = 0) AS pending,"
                " SUM(status = 'pending' AND attempts > 0) AS retrying FROM alerts GROUP BY destination"
            )
        }
    args = ["--config", config, "--db", str(tmp_path / "m.db"), "status"]
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {row["destination"]: row for row in json.loads(result.output)["alerts"]}
    assert {name: row["state"] for name, row in rows.items()} == {"hook": "on", "slack": "off", "team": "paused"}
    assert rows["team"]["paused_reason"] == "permanent failure: no_service" and rows["team"]["paused_at"]
    assert sum(row["retrying"] for row in rows.values()) == 1
    for name, row in rows.items():
        found = stored.get(name, {"messages": 0, "pending": 0, "retrying": 0})
        states = ("pending", "retrying", "sending", "held", "delivered", "digested", "dead")
        assert sum(row[state] for state in states) == found["messages"]  # each message counted once
        assert (row["pending"], row["retrying"]) == (found["pending"], found["retrying"])
    table = CliRunner().invoke(cli, args, env=env)
    assert table.exit_code == 0, table.output
    assert "destination team is paused since" in table.output and "monitor alerts resume team" in table.output
    assert "destination slack is OFF: its URL variable is empty" in table.output


def test_prune_empties_old_bodies_but_keeps_matches_and_alerts(tmp_path: Path) -> None:
    config = write(tmp_path / "rules.yaml", config_text(SOURCES))
    fill(tmp_path / "m.db")
    with Store.open(tmp_path / "m.db") as store, store.write() as conn:
        conn.execute("UPDATE articles SET first_seen = ?", (iso(utcnow() - timedelta(days=100)),))
        conn.execute("UPDATE run_errors SET at = ?", (iso(utcnow() - timedelta(days=100)),))
    result = CliRunner().invoke(
        cli, ["--config", config, "--db", str(tmp_path / "m.db"), "prune", "--older-than", "90d"]
    )
    assert result.exit_code == 0, result.output
    assert "Emptied 1 article bodies and removed 3 run errors" in result.output
    with Store.open(tmp_path / "m.db") as store:
        assert store.query("SELECT title, text FROM articles") == [{"title": "NATO", "text": ""}]
        assert database(store)["matches"].count == 1 and database(store)["alerts"].count == 1
        assert store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'NATO'") != []  # title kept
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class FakeService:
    """What the health endpoint reads: a db path, a config, and whether the scheduler runs."""

    def __init__(self, db: Path, config: Config, alive: bool = True):
        self.db_path = str(db)
        self.config = config
        self.alive = alive


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_healthz_is_200_while_runs_succeed_and_503_when_stale_or_stopped(tmp_path: Path) -> None:
    config = parse_config(config_text(SOURCES), "rules.yaml", {})
    fill(tmp_path / "m.db")
    service = FakeService(tmp_path / "m.db", config)
    server = HealthServer(service).start()
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 200 and body["scheduler_alive"] is True and body["outbox_backlog"] == 1
        assert body["last_successful_run_age_seconds"] < 60
        with Store.open(tmp_path / "m.db") as store, store.write() as conn:
            long_ago = iso(utcnow() - timedelta(days=2))
            conn.execute("UPDATE runs SET started_at = ?, finished_at = ?", (long_ago, long_ago))
        status, body = get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 503 and body["status"] == "unhealthy"
        service.alive = False
        status, _ = get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 503
    finally:
        server.stop()


def test_json_log_lines_are_one_object_each() -> None:
    record = logging.LogRecord("monitor.crawl", logging.WARNING, __file__, 1, "source %s: %s", ("a", "boom"), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "monitor.crawl" and entry["message"] == "source a: boom"


def test_with_log_format_json_every_log_line_of_a_run_is_json_even_from_the_crawl(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from monitor.demo import start_sites

    ledger, herald = start_sites()
    try:
        sources = (
            f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
            "  - name: dead\n    type: rss\n    url: http://127.0.0.1:9/feed.xml\n"
        )
        config = write(tmp_path / "rules.yaml", config_text(sources))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor",
                "--log-format",
                "json",
                "-v",
                "--config",
                config,
                "--db",
                str(tmp_path / "m.db"),
                "run",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )
    finally:
        ledger.stop()
        herald.stop()
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # raises if any line is not JSON
    assert any(e["logger"].startswith("monitor.crawl") and "dead" in e["message"] for e in entries)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
