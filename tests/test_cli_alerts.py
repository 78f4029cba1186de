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
