"""`monitor run` tells the truth: its counts are the store's, an off destination is named, a run that crawled nothing fails.

Real crawls (in their own process, as `monitor run` does) of local sites, alerts to receivers on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.cli.common import EXIT_ERROR
from monitor.config import DestinationSpec
from monitor.demo import SEED_PATH
from monitor.demo.sites import LocalSite, Route
from monitor.runs import run_crawl
from monitor.store import Store, alert_id
from monitor.timestamps import utcnow
from tests.receivers import Receiver, Reply
from tests.sitekit import config_text, write
from tests.test_crawl import sources_for
from tests.test_delivery import queue
from tests.test_hostile import SlowServer

pytestmark = pytest.mark.slow

DESTINATIONS = (
    "    - name: slack\n      type: slack\n      url: ${RS_SLACK_URL}\n"
    "    - name: hook\n      type: webhook\n      url: ${RS_HOOK_URL}\n"
)
Invoke = Callable[..., tuple[int, str]]


def monitor(config: str, db: str, env: dict[str, str]) -> Invoke:
    """`monitor --config CONFIG --db DB ...` with ``env``; (exit status, output)."""

    def invoke(*args: str, **extra: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--config", config, "--db", db, *args], env={**env, **extra})
        return result.exit_code, result.output

    return invoke


def test_an_off_destination_is_named_with_what_it_missed_and_replay_queues_that_once(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    config = write(tmp_path / "rules.yaml", config_text(sources_for(*sites), destinations=DESTINATIONS))
    db = str(tmp_path / "m.db")
    with Receiver() as slack, Receiver() as hook:
        # The Slack URL variable is set, but empty: the destination is off.
        run = monitor(config, db, {"RS_SLACK_URL": "", "RS_HOOK_URL": hook.url("/hook")})
        code, out = run("check")
        assert code == 0, out
        assert "destination slack (slack, immediate): OFF" in out
        assert "monitor alerts replay --since DURATION --destination slack" in out

        code, out = run("run")
        assert code == 0, out
        assert "destination slack is OFF (its URL variable is empty): it did not get 1 alert(s) of this run" in out
        with Store.open(db) as store:
            matched = store.query("SELECT story_id, fetched_url FROM articles WHERE score >= 3")
            alerts = store.query("SELECT destination, payload FROM alerts ORDER BY destination")
        # The seed story, on both sites: two matches of one story.
        assert len(matched) == 2 and len({row["story_id"] for row in matched}) == 1
        assert any(row["fetched_url"].endswith(SEED_PATH) for row in matched)
        assert [row["destination"] for row in alerts] == ["hook"]  # one story: one alert, none for slack
        code, out = run("check")
        assert (
            code == 0
            and f"OFF (its URL variable is empty): it did not get 1 alert(s) of the articles stored in {db}" in out
        )

        # The URL is fixed: replay queues what slack missed, once, and it goes out like any alert.
        run = monitor(config, db, {"RS_SLACK_URL": slack.url("/services/T0/B0/X"), "RS_HOOK_URL": hook.url("/hook")})
        code, out = run("alerts", "replay", "--since", "1d", "--destination", "slack")
        assert code == 0, out
        assert "destination slack: 1 missed alert(s) queued" in out
        code, out = run("alerts", "replay", "--since", "1d")
        assert code == 0 and "destination slack: 0 missed" in out and "destination hook: 0 missed" in out
        code, out = run("alerts", "send")
        assert code == 0 and "Alerts: 1 sent" in out, out
        assert len(slack.requests) == 1 and "NATO" in slack.requests[0].body.decode()
        code, out = run("alerts", "replay", "--since", "1d", "--destination", "slack")
        assert "destination slack: 0 missed alert(s) queued" in out
        with Store.open(db) as store:
            rows = {r["destination"]: r for r in store.query("SELECT destination, key, payload FROM alerts")}
        assert rows["slack"]["key"] == rows["hook"]["key"].replace("destination:hook", "destination:slack")
        replayed, original = (json.loads(rows[name]["payload"]) for name in ("slack", "hook"))
        assert replayed["type"] == "article.matched" and replayed["story"] == original["story"]
        assert replayed["id"] == alert_id(rows["slack"]["key"]) and replayed["score"] >= 3
        assert replayed["article"]["url"] in {outlet["url"] for outlet in original["story"]["outlets"]}
        code, out = run("run")  # nothing new, and slack is on: nothing to say about it
        assert code == 0 and "OFF" not in out and len(slack.requests) == 1


def test_the_summary_says_how_many_wait_as_the_store_counts_them(tmp_path: Path) -> None:
    with LocalSite("quiet") as site, Receiver(default=Reply(500, "down")) as receiver:
        site.add_news("Quiet", [])
        sources = f"  - name: quiet\n    type: rss\n    url: {site.base}/feed.xml\n"
        destinations = "    - name: hook\n      type: webhook\n      url: ${RS_HOOK_URL}\n"
        config = write(tmp_path / "rules.yaml", config_text(sources, destinations=destinations))
        db = str(tmp_path / "m.db")
        hook = DestinationSpec(name="hook", type="webhook", url=receiver.url("/hook"))
        with Store.open(db) as store:
            queue(store, [hook], count=59, start=utcnow() - timedelta(minutes=10))
        code, out = monitor(config, db, {"RS_HOOK_URL": hook.url})("run")
    assert code == 0, out
    assert "Alerts: 0 sent, 1 failed (will retry), 0 dead" in out
    found = re.search(
        r"Outbox: (\d+) waiting to be sent \((\d+) of them to retry\), (\d+) held for a digest, (\d+) dead", out
    )
    assert found, out
    with Store.open(db) as store:
        [counts] = store.query(
            "SELECT SUM(status IN ('pending', 'sending')) AS waiting, SUM(status = 'pending' AND attempts > 0) AS retrying,"
            " SUM(status = 'held') AS held, SUM(status = 'dead') AS dead FROM alerts"
        )
    assert tuple(int(n) for n in found.groups()) == (
        counts["waiting"],
        counts["retrying"],
        counts["held"],
        counts["dead"],
    )
    assert (counts["waiting"], counts["retrying"]) == (59, 1)


def test_a_run_where_every_source_failed_exits_1_and_one_that_crawled_something_exits_0(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    ledger, _ = sites
    with LocalSite("closed") as closed:
        dead_url = closed.base + "/feed.xml"  # nothing listens there once the site stops
    sources = (
        f"  - name: dead\n    type: rss\n    url: {dead_url}\n"
        f"  - name: also-dead\n    type: rss\n    url: {dead_url}?again\n"
        f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
    )
    config = write(tmp_path / "rules.yaml", config_text(sources))
    run = monitor(config, str(tmp_path / "m.db"), {})
    code, out = run("run", "--source", "dead", "--source", "also-dead")
    assert code == EXIT_ERROR, out
    assert "dead                 failed" in out and "Every source failed" in out
    code, out = run("run")
    assert code == 0, out
    assert "ledger               ok" in out and "dead                 failed" in out


class EndlessBody(SlowServer):
    """A raw TCP server on 127.0.0.1 answering 200 with a body that never ends and has no Content-Length."""

    def answer(self, conn: socket.socket) -> None:
        with conn:
            request = conn.recv(65536)
            if b"/robots.txt" in request.split(b"\r\n", 1)[0]:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            chunked = self.mode == "chunked"
            framing = b"Transfer-Encoding: chunked" if chunked else b"Connection: close"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + framing + b"\r\n\r\n")
            block = b"<p>" + b"NATO " * 10_000 + b"</p>"
            data = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
            try:
                while not self.stop.is_set():
                    conn.sendall(data)
            except OSError:
                return


def test_an_endless_body_without_a_content_length_is_recorded_as_over_the_size_cap(tmp_path: Path) -> None:
    with LocalSite("index") as site, EndlessBody("unsized") as unsized, EndlessBody("chunked") as chunked:
        links = [unsized.url, chunked.url]
        items = "".join(f"<item><title>t</title><link>{link}</link></item>" for link in links)
        site.routes["/feed.xml"] = Route(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>I</title>{items}</channel></rss>'.encode(),
            "application/rss+xml",
        )
        sources = f"  - name: index\n    type: rss\n    url: {site.base}/feed.xml\n"
        config = write(tmp_path / "rules.yaml", config_text(sources, extra_crawl="  max_page_bytes: 1000000\n"))
        [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    assert report["status"] == "ok" and report["errors"] == 2
    with Store.open(tmp_path / "m.db") as store:
        errors = {row["url"]: row for row in store.query("SELECT url, kind, message FROM run_errors")}
    for url in links:
        assert errors[url]["kind"] == "size"
        assert re.fullmatch(
            r"body over the max size of 1000000 bytes \(\d+ received before it was cut off\):"
            r" no Content-Length announced it, an endless or unsized body",
            errors[url]["message"],
        ), errors[url]["message"]
