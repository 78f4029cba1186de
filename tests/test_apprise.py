"""Apprise destinations, through Apprise's own JSON and form targets to a real receiver on 127.0.0.1 (no mock).

The text is the email's subject and plain part; delivery goes through the outbox with
its retries; any Apprise failure is temporary; its URL (a credential: Apprise URLs
often carry the token as the "host") never shows in logs, errors or output.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from monitor.alerts import DeliveryReport, deliver_due
from monitor.alerts.redact import redact_url
from monitor.cli.common import EXIT_ERROR
from monitor.config import DestinationSpec, parse_config
from monitor.errors import ConfigError
from monitor.store import Store
from tests.receivers import Receiver, Reply
from tests.sitekit import config_text, write
from tests.test_cli_alerts import invoke
from tests.test_delivery import T0, queue, row

TOKEN = "T0KENSECRET42"


def apprise(receiver: Receiver, scheme: str = "json", **extra: object) -> DestinationSpec:
    url = f"{scheme}://127.0.0.1:{receiver.port}/notify/{TOKEN}"
    return DestinationSpec(**{"name": "chat", "type": "apprise", "url": url, "timeout_seconds": 5.0, **extra})  # type: ignore[arg-type]


def fields(scheme: str, body: bytes) -> dict[str, str]:
    """The title and message Apprise posted, from its JSON or form body."""
    if scheme == "json":
        found = json.loads(body)
    else:
        found = {key: values[0] for key, values in parse_qs(body.decode("utf-8")).items()}
    return {"title": found["title"], "message": found["message"]}


@pytest.mark.parametrize("scheme", ["json", "form"])
def test_an_alert_reaches_the_receiver_through_apprise_as_the_email_plain_text(store: Store, scheme: str) -> None:
    with Receiver() as receiver:
        destination = apprise(receiver, scheme)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)
        [request] = receiver.requests
    assert (request.method, request.path) == ("POST", f"/notify/{TOKEN}")
    posted = fields(scheme, request.body)
    assert posted["title"] == "[monitor] NATO summit 0"
    message = posted["message"]
    for expected in ("NATO summit 0", "Outlet: example", "Score: 5.0 (threshold 3)", "nato (5.0): nato",
                     '"leaders met at the *NATO* summit"', "https://news.example/world/nato-0"):  # fmt: skip
        assert expected in message, (expected, message)
    stored = row(store, alert_id)
    assert (stored["status"], stored["last_status"], stored["attempts"]) == ("delivered", None, 1)


def test_a_failure_is_temporary_retried_on_the_schedule_and_exhausted_retries_pause(store: Store) -> None:
    with Receiver(Reply(404, "no such topic"), Reply(500)) as receiver:
        destination = apprise(receiver, max_attempts=3)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)  # even a 404: temporary
        stored = row(store, alert_id)
        assert stored["status"] == "pending" and stored["last_error"].startswith("Apprise reported a failure")
        assert "404" in stored["last_error"]
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=4)) == DeliveryReport()  # not early
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=6)) == DeliveryReport(failed=1)
        assert deliver_due(store, [destination], now=T0 + timedelta(minutes=6)) == DeliveryReport(sent=1)
        assert len(receiver.requests) == 3
    with Receiver(default=Reply(500)) as broken:
        destination = apprise(broken, max_attempts=2)
        [second] = [a for a in queue(store, [destination], count=1, first=1) if a != alert_id]
        assert deliver_due(store, [destination], now=T0 + timedelta(minutes=7)) == DeliveryReport(failed=1)
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=8))
        assert report == DeliveryReport(dead=1, paused=1)
    assert row(store, second)["status"] == "dead"


def test_the_url_never_shows_in_logs_errors_or_the_configuration_check(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Receiver(Reply(500, f"bad token {TOKEN}")) as receiver:
        destination = apprise(receiver)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=6)) == DeliveryReport(sent=1)
    assert "JSON POST URL" in caplog.text  # Apprise's debug line about the URL was logged ...
    assert TOKEN not in caplog.text  # ... and scrubbed
    assert TOKEN not in json.dumps(store.query("SELECT last_error FROM alerts"))
    assert row(store, alert_id)["status"] == "delivered"
    caplog.clear()
    text = "sources: []\nrules: []\nalerts:\n  destinations:\n    - name: chat\n      type: apprise\n      url: ${U}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "rules.yaml", {"U": f"tgram://{TOKEN}/chat"})  # no such Telegram URL
    [problem] = caught.value.problems
    assert str(problem).startswith("rules.yaml:7: alerts.destinations[0].url: is not an Apprise URL it can use")
    assert TOKEN not in str(problem) + caplog.text
    assert redact_url(f"tgram://{TOKEN}/chat") == "tgram://…redacted"  # its "host" is a token


def test_a_service_behind_a_name_that_resolves_to_an_internal_address_is_not_contacted(store: Store) -> None:
    with Receiver() as receiver:
        destination = DestinationSpec(name="chat", type="apprise", url=f"json://127.1:{receiver.port}/notify")
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(dead=1, paused=1)
        assert receiver.requests == []
    assert row(store, alert_id)["last_error"].startswith("refused: 127.1 resolves to 127.0.0.1, a loopback address")


def test_monitor_alerts_test_sends_a_sample_through_apprise(tmp_path: Path) -> None:
    with Receiver(Reply(200), Reply(500)) as receiver:
        env = {"CHAT_URL": f"json://127.0.0.1:{receiver.port}/notify/{TOKEN}"}
        destinations = "    - name: chat\n      type: apprise\n      url: ${CHAT_URL}\n"
        text = config_text("", destinations=destinations).replace("sources:\n", "sources: []\n")
        config = write(tmp_path / "rules.yaml", text)
        db = str(tmp_path / "m.db")
        code, out = invoke("--config", config, "--db", db, "alerts", "test", "chat", env=env)
        assert code == 0, out
        assert f"test alert delivered to chat (apprise, json://127.0.0.1:{receiver.port}/…redacted): accepted" in out
        assert json.loads(receiver.requests[0].body)["title"].startswith("[monitor] test: Test alert from monitor")
        code, out = invoke("--config", config, "--db", db, "alerts", "test", "chat", env=env)
        assert code == EXIT_ERROR and "NOT delivered" in out and "retried on the schedule" in out
    assert TOKEN not in out


def test_a_receiver_that_hangs_is_cut_off_at_the_deadline_and_retried(store: Store) -> None:
    with Receiver(Reply(hang=True)) as receiver:
        destination = apprise(receiver, timeout_seconds=1.0)
        [alert_id] = queue(store, [destination])
        started = time.monotonic()
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert time.monotonic() - started < 3
        assert len(receiver.requests) == 1
    assert row(store, alert_id)["status"] == "pending"
    assert row(store, alert_id)["last_error"].startswith("Apprise reported a failure")
