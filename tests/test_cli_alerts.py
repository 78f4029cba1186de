"""`monitor alerts list|retry|resume|test|send`, against a real receiver on 127.0.0.1; URLs never shown whole."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.alerts.pause import pause_destination
from monitor.cli import cli
from monitor.cli.alerts import alerts
from monitor.cli.common import EXIT_CONFIG, EXIT_ERROR
from monitor.config import DestinationSpec
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store
from monitor.timestamps import utcnow
from tests.receivers import Receiver, Reply
from tests.sitekit import config_text, write
from tests.test_delivery import queue

DESTINATIONS = (
    "    - name: team\n      type: slack\n      url: ${CLI_SLACK_URL}\n      rate_limit: 50\n"
    "    - name: hook\n      type: webhook\n      url: ${CLI_HOOK_URL}\n"
)
SLACK_PATH = "/services/T0/B0/SL4CKSECRET"
HOOK_PATH = "/hook?token=H00KSECRET"


def invoke(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A config with a Slack and a webhook destination at two receivers, and a store with two alerts for each."""
    with Receiver() as team, Receiver() as hook:
        env = {"CLI_SLACK_URL": team.url(SLACK_PATH), "CLI_HOOK_URL": hook.url(HOOK_PATH)}
        config = write(tmp_path / "rules.yaml", config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n",
                                                             destinations=DESTINATIONS))  # fmt: skip
        db = str(tmp_path / "m.db")
        specs = [DestinationSpec(name="team", type="slack", url=env["CLI_SLACK_URL"]),
                 DestinationSpec(name="hook", type="webhook", url=env["CLI_HOOK_URL"])]  # fmt: skip
        with Store.open(db) as store:
            queue(store, specs, count=2, start=utcnow() - timedelta(minutes=5))

        def run(*args: str) -> tuple[int, str]:
            code, out = invoke("--config", config, "--db", db, "alerts", *args, env=env)
            for secret in ("SL4CKSECRET", "H00KSECRET", "/services/", "token="):
                assert secret not in out
            return code, out

        yield run, team, hook, db


def test_every_alerts_command_has_an_example() -> None:
    for name, command in alerts.commands.items():
        assert "Example:" in (command.help or ""), name
        assert f"monitor alerts {name}" in (command.help or ""), name


def test_send_then_list(setup) -> None:  # type: ignore[no-untyped-def]
    run, team, hook, _ = setup
    code, out = run("list")
    assert code == 0 and out.count("pending") == 4 and "NATO summit 1" in out
    code, out = run("send")
    assert code == 0, out
    assert "Alerts: 4 sent, 0 failed (will retry), 0 dead" in out
    assert (len(team.requests), len(hook.requests)) == (2, 2)
    code, out = run("list", "--json", "--destination", "hook")
    rows = json.loads(out)
    assert [(r["destination"], r["status"], r["kind"], r["attempts"]) for r in rows] == [
        ("hook", "delivered", "alert", 1)
    ] * 2
    assert rows[0]["about"] == "NATO summit 1" and rows[0]["story_key"] == "https://news.example/world/nato-1"
    code, out = run("list", "--status", "dead")
    assert code == 0 and "(nothing found)" in out
    code, out = run("send", "--json")
    assert json.loads(out) == {"sent": 0, "failed": 0, "dead": 0, "skipped": 0, "held": 0, "digests": 0, "paused": 0,
                               "paused_destinations": []}  # fmt: skip


def test_a_paused_destination_is_shown_and_retry_or_resume_brings_it_back(setup) -> None:  # type: ignore[no-untyped-def]
    run, _, hook, db = setup
    hook.script(Reply(410, "gone"))
    code, out = run("send")
    assert "1 dead" in out and "destination hook is paused: permanent failure: gone" in out
    assert out.count("destination=hook paused") == 1  # the log line, once
    code, out = run("list")
    assert "destination hook is paused since" in out and "monitor alerts resume hook" in out
    [dead] = json.loads(run("list", "--json", "--status", "dead")[1])
    assert (dead["last_status"], dead["last_error"]) == (410, "gone")

    code, out = run("retry", dead["id"])
    assert code == 0 and "1 alert(s) will be sent" in out and "destination hook resumed" in out
    code, out = run("send")
    assert code == 0 and "2 sent" in out  # the retried one, then the one that waited behind it
    assert [r.header("webhook-id") for r in hook.requests[1:]] == [dead["id"], hook.requests[2].header("webhook-id")]

    code, out = run("retry", dead["id"])
    assert code == EXIT_CONFIG and "twice" in out
    code, out = run("retry")
    assert code == EXIT_CONFIG and "alert ids or --dead" in out
    code, out = run("retry", "--dead")
    assert code == 0 and "0 alert(s)" in out

    with Store.open(db) as store:
        pause_destination(store, "team", reason="test", status=404, now=utcnow(), notify=[])
    code, out = run("resume", "team")
    assert code == 0 and "destination team resumed" in out
    code, out = run("resume", "team")
    assert code == 0 and "was not paused" in out
    code, out = run("resume", "nope")
    assert code == EXIT_CONFIG and "no destination named nope" in out


def test_test_sends_a_sample_and_shows_the_url_redacted(setup) -> None:  # type: ignore[no-untyped-def]
    run, team, hook, _ = setup
    code, out = run("test", "team")
    assert code == 0, out
    assert f"test alert delivered to team (slack, http://127.0.0.1:{team.port}/…redacted): HTTP 200" in out
    message = json.loads(team.requests[0].body)
    assert message["blocks"][0]["text"]["text"].startswith("Test alert from monitor")
    team.script(Reply(404, "no_service"))
    code, out = run("test", "team")
    assert code == EXIT_ERROR
    assert "NOT delivered" in out and "HTTP 404: no_service" in out and "permanent" in out
    code, out = run("test", "hook")
    assert code == 0 and json.loads(hook.requests[0].body)["test"] is True
    code, out = run("test", "nope")
    assert code == EXIT_CONFIG and "destinations: team, hook" in out


REPLAY_CONFIG = """
crawl:
  user_agent: 'monitor-test/0.1 (+https://example.org/contact)'
alerts:
  threshold: 3.0
  destinations:
    - name: hook
      type: webhook
      url: ${RP_HOOK_URL}
    - name: slack
      type: slack
      url: ${RP_SLACK_URL}
sources:
  - name: a
    type: rss
    url: http://127.0.0.1:9/f
rules:
  - name: nato
    terms: [NATO]
  - name: harbour
    terms: [harbour]
    destinations: [hook]
"""


def test_replay_queues_once_only_what_the_rules_would_have_sent_to_the_destination(tmp_path: Path) -> None:
    hook = DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/hook")
    slack_off = DestinationSpec(name="slack", type="slack", url="")
    now = utcnow()

    def save(
        slug: str, score: float, rule: str = "nato", gate: str | None = None, *, at: timedelta = timedelta()
    ) -> None:
        url = f"https://news.example/{slug}"
        article = Article(url=url, canonical_url=url, title=f"Story {slug}", text=f"{slug} " * 50, source="a")
        hit = Hit(rule=rule, term=rule, field="title", count=1, snippet=f"**{rule}**", points=score)
        verdict = Verdict(score, 3.0, (RuleMatch(rule, score, (hit,), gate=gate,
                                                 destinations=("hook",) if rule == "harbour" else ()),))  # fmt: skip
        with Store.open(tmp_path / "m.db") as store:
            save_article(store, article, verdict, [hook, slack_off], now=now - at)

    save("owed", 5.0)  # slack was off: it missed this one
    save("gated", 5.0, gate="published 40 days ago, max_age 7d")  # raised no alert anywhere
    save("routed-to-hook", 5.0, rule="harbour")  # its rule sends only to hook
    save("weak", 2.0)  # under the threshold
    save("long-ago", 5.0, at=timedelta(days=3))  # before --since
    config = write(tmp_path / "rules.yaml", REPLAY_CONFIG)
    env = {"RP_HOOK_URL": hook.url, "RP_SLACK_URL": ""}

    def run(*args: str, **extra: str) -> tuple[int, str]:
        return invoke(
            "--config", config, "--db", str(tmp_path / "m.db"), "alerts", "replay", *args, env={**env, **extra}
        )

    code, out = run("--since", "1d", "--destination", "slack")
    assert code == EXIT_CONFIG and "destination slack is off" in out  # nothing can go to it yet
    env["RP_SLACK_URL"] = "http://127.0.0.1:9/slack"
    code, out = run("--since", "1d", "--destination", "slack")
    assert code == 0, out
    assert "destination slack: 1 missed alert(s) queued" in out
    with Store.open(tmp_path / "m.db") as store:
        [row] = store.query("SELECT id, key, article_id, status, payload FROM alerts WHERE destination = 'slack'")
        owed = store.query("SELECT id FROM articles WHERE url = 'https://news.example/owed'")[0]["id"]
    event = json.loads(row["payload"])
    assert row["key"] == "story:https://news.example/owed|destination:slack" and row["status"] == "pending"
    assert event["id"] == row["id"] and event["article"]["id"] == row["article_id"] == owed
    assert event["type"] == "article.matched" and event["score"] == 5.0 and event["rules"][0]["rule"] == "nato"
    assert event["story"] == {"key": "https://news.example/owed", "outlets": [
        {"source": "a", "url": "https://news.example/owed", "title": "Story owed", "published": None}]}  # fmt: skip

    code, out = run("--since", "1d", "--destination", "slack")
    assert code == 0 and "destination slack: 0 missed alert(s) queued" in out  # once
    code, out = run("--since", "7d")
    assert code == 0 and "destination slack: 1 missed" in out and "destination hook: 0 missed" in out  # long-ago
    code, out = run("--since", "soon")
    assert code == EXIT_CONFIG and "--since" in out
    code, out = run("--since", "1d", "--destination", "nope")
    assert code == EXIT_CONFIG and "no destination named nope" in out
