"""From a local news site to a local webhook receiver, through the real `monitor` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts import verify
from monitor.demo import QUIET_PATH, SEED_PATH, start_sites
from monitor.demo.receiver import Receiver
from monitor.demo.sites import LocalSite
from monitor.store import Store
from tests.sitekit import config_text, write
from tests.storekit import database

pytestmark = pytest.mark.slow
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DESTINATIONS = (
    "    - name: team-slack\n      type: slack\n      url: ${E2E_SLACK_URL}\n"
    "    - name: hook\n      type: webhook\n      url: ${E2E_HOOK_URL}\n      secret: ${E2E_HOOK_SECRET}\n"
)


@pytest.fixture
def sites() -> Iterator[tuple[LocalSite, LocalSite]]:
    ledger, herald = start_sites()
    yield ledger, herald
    ledger.stop()
    herald.stop()


def monitor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )


def test_monitor_run_crawls_stores_and_delivers_signed_alerts_once(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    ledger, herald = sites
    sources = (
        f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
        f"  - name: herald\n    type: sitemap\n    url: {herald.base}/sitemap.xml\n"
    )
    config = write(tmp_path / "rules.yaml", config_text(sources, destinations=DESTINATIONS, workers=2))
    db = str(tmp_path / "monitor.db")
    with Receiver() as receiver:
        env = {
            "E2E_SLACK_URL": receiver.base + "/slack",
            "E2E_HOOK_URL": receiver.base + "/hook",
            "E2E_HOOK_SECRET": SECRET,
        }
        first = monitor("--config", config, "--db", db, "run", env=env)
        assert first.returncode == 0, first.stderr
        assert "5 new articles" in first.stdout and "2 sent" in first.stdout
        second = monitor("--config", config, "--db", db, "run", env=env)
        assert second.returncode == 0, second.stderr
        assert "0 new articles" in second.stdout and "0 sent" in second.stdout

        hooks = receiver.posts("/hook")
        slack = receiver.posts("/slack")
    # The seed story, carried by both sites, is one story: one alert per destination listing both
    # outlets; nothing else alerts; nothing arrives twice.
    assert len(hooks) == 1 and len(slack) == 1
    story = hooks[0].json()["story"]
    assert [o["url"] for o in story["outlets"]] == [
        ledger.base + SEED_PATH,
        herald.base + "/2022/01/12/nato-russia-arms-talks.html",
    ]
    assert ledger.base + QUIET_PATH not in {o["url"] for o in story["outlets"]}
    for post in hooks:
        verify(SECRET, post.headers, post.body)  # raises if the signature is wrong
        event = post.json()
        assert event["type"] == "article.matched" and event["version"] == 1
        assert post.headers["webhook-id"] == event["id"]
        assert {r["rule"] for r in event["rules"]} >= {"nato", "ukraine", "sanctions"}
        assert event["article"]["published"].startswith("2022-01-12")
    for post in slack:
        body = post.json()
        assert body["unfurl_links"] is False and "NATO" in body["text"]

    with Store.open(db) as store:
        assert database(store)["articles"].count == 5
        statuses = store.query("SELECT destination, status, attempts FROM alerts ORDER BY destination")
        assert [(s["status"], s["attempts"]) for s in statuses] == [("delivered", 1)] * 2
        ids = {row["id"] for row in store.query("SELECT id FROM alerts WHERE destination = 'hook'")}
        assert ids == {post.headers["webhook-id"] for post in hooks}
        assert database(store)["runs"].count == 4
        assert database(store)["stories"].count == 4  # the seed story (two outlets) and three quiet ones


def test_monitor_demo_shows_the_seed_alerting_and_the_sidebar_story_quiet(tmp_path: Path) -> None:
    result = monitor("demo", "--db", str(tmp_path / "demo.db"), env={})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    alerts_part, quiet_part = out.split("Stored, scored, and rightly quiet:")
    assert "signature ok · one story, 2 outlet(s)" in alerts_part  # the seed story, on both sites
    assert "/world/nato-offers-arms-talks.html" in alerts_part and "nato-russia-arms-talks.html" in alerts_part
    assert "Savar's rose village" in quiet_part and "Savar" not in alerts_part
    assert 'Full-text search for "sanctions"' in out


def test_the_alert_describes_the_earliest_published_copy_though_a_later_one_was_crawled_first(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    ledger, herald = sites
    sources = (
        f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
        f"  - name: herald\n    type: sitemap\n    url: {herald.base}/sitemap.xml\n"
    )
    config = write(tmp_path / "rules.yaml", config_text(sources, destinations=DESTINATIONS))
    db = str(tmp_path / "monitor.db")
    with Receiver() as receiver:
        env = {
            "E2E_SLACK_URL": receiver.base + "/slack",
            "E2E_HOOK_URL": receiver.base + "/hook",
            "E2E_HOOK_SECRET": SECRET,
        }
        # The Herald's copy (16:20 UTC) is stored and queued first; the Ledger's (15:50 UTC) arrives before delivery.
        first = monitor("--config", config, "--db", db, "run", "--source", "herald", "--no-send", env=env)
        assert first.returncode == 0, first.stderr
        assert "2 alerts queued" in first.stdout
        second = monitor("--config", config, "--db", db, "run", "--source", "ledger", env=env)
        assert second.returncode == 0, second.stderr
        assert "0 alerts queued" in second.stdout and "2 sent" in second.stdout
        hooks = receiver.posts("/hook")
        slack = receiver.posts("/slack")
    assert len(hooks) == 1 and len(slack) == 1
    event = hooks[0].json()
    with Store.open(db) as store:
        [seed] = store.query("SELECT id, title FROM articles WHERE url = ?", [ledger.base + SEED_PATH])
        alerted = {row["article_id"] for row in store.query("SELECT article_id FROM alerts")}
    assert event["article"]["url"] == ledger.base + SEED_PATH and event["article"]["source"] == "ledger"
    assert event["article"]["id"] == seed["id"] and alerted == {seed["id"]}
    assert datetime.fromisoformat(event["article"]["published"]) == datetime(2022, 1, 12, 15, 50, tzinfo=UTC)
    assert [o["source"] for o in event["story"]["outlets"]] == ["ledger", "herald"]
    assert seed["title"] in slack[0].json()["text"]
