"""Alerts hardening: credentials echoed back by a receiver, Slack formatting from scraped text, dead senders' claims."""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.alerts import DeliveryReport, deliver_due
from monitor.alerts.delivery import process_gone, this_process
from monitor.alerts.events import build_digest
from monitor.alerts.redact import sensitive_parts
from monitor.alerts.slack import render_slack
from monitor.cli import cli
from monitor.config import DestinationSpec
from monitor.models import Hit, RuleMatch
from monitor.store import Store
from monitor.store.outbox import ClaimOwner, claim_due
from monitor.timestamps import utcnow
from tests.receivers import Receiver, Reply, Request
from tests.sitekit import config_text, write
from tests.test_alerts_render import assert_within_limits, make_event
from tests.test_delivery import SECRET, T0, queue, row, webhook
from tests.test_delivery_recovery import SENDER

# -- 3. An echoed Basic-auth header ---------------------------------------------------

USER, PASSWORD = "hook", "?p@ss/w0rd"  # percent-encoded in the URL; its token holds a "/"
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class _Echo(BaseHTTPRequestHandler):
    """A receiver whose error page lists the request's headers, as text and as JSON that escapes "/"."""

    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = dict(self.headers.items())
        text = "".join(f"{name}: {value}\n" for name, value in headers.items())
        body = (text + json.dumps(headers).replace("/", "\\/")).encode("utf-8")
        self.send_response(500)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def echo_url() -> Iterator[str]:
    """The URL, with a user and password, of an echoing receiver on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{USER}:%3Fp%40ss%2Fw0rd@127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def assert_no_credentials(text: str) -> None:
    for secret in (TOKEN, TOKEN.replace("/", "\\/"), PASSWORD, "%3Fp%40ss%2Fw0rd"):
        assert secret not in text


def test_alerts_test_does_not_show_the_basic_auth_token_an_error_page_echoes(tmp_path: Path) -> None:
    with echo_url() as url:
        destinations = "    - name: hook\n      type: webhook\n      url: ${ECHO_HOOK_URL}\n"
        config = write(tmp_path / "rules.yaml", config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n",
                                                             destinations=destinations))  # fmt: skip
        args = ["--config", config, "--db", str(tmp_path / "m.db"), "alerts", "test", "hook"]
        result = CliRunner().invoke(cli, args, env={"ECHO_HOOK_URL": url}, catch_exceptions=False)
    assert "NOT delivered" in result.output and "HTTP 500" in result.output
    assert_no_credentials(result.output)
    assert "Authorization: Basic …redacted" in result.output  # the receiver did echo it


def test_a_sent_alert_keeps_no_basic_auth_token_in_last_error_or_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with echo_url() as url:
        destination = DestinationSpec(name="hook", type="webhook", url=url, secret=SECRET, max_attempts=1)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(dead=1, paused=1)
    stored = row(store, alert_id)
    assert_no_credentials(stored["last_error"])
    assert_no_credentials(caplog.text)
    assert "Basic …redacted" in stored["last_error"]
    [reason] = store.query("SELECT paused_reason FROM destination_state")
    assert_no_credentials(reason["paused_reason"])


def test_the_token_is_redacted_in_each_encoding_clients_use() -> None:
    parts = sensitive_parts("https://%C5%81ucja:pa%C3%9F@hooks.example/x")  # "Łucja:paß" is not Latin-1
    assert base64.b64encode("Łucja:paß".encode()).decode() in parts
    parts = sensitive_parts("https://jos%C3%A9:pass@hooks.example/x")
    assert base64.b64encode(b"jos\xe9:pass").decode() in parts  # Latin-1, as requests sends it
    assert base64.b64encode("josé:pass".encode()).decode() in parts  # UTF-8, as curl does
    assert sensitive_parts("https://:tok@hooks.example/x")[-1] == base64.b64encode(b":tok").decode()
    assert set(sensitive_parts("https://hooks.example/services/x")) == {
        "https://hooks.example/services/x",
        "/services/x",
    }


# -- 4. Slack formatting from scraped text ----------------------------------------------

SCRAPED = "*Breaking* _live_ ~old~ `rm -rf` news"
# Where Slack's mrkdwn reads a span: a marker at a word break, text, the same marker at a word break.
_SPAN = re.compile(r"(?<![^\W_])([*_~])(?=\S)(.+?)(?<=\S)\1(?![^\W_])|`[^`]+`")
LOOKALIKES = str.maketrans({"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`"})


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every mrkdwn text of a Block Kit message (the plain_text header and the fallback are not read as mrkdwn)."""
    found: list[str] = []
    for block in message["blocks"]:
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                found.append(item["text"])
    return found


def spans(message: dict[str, Any]) -> set[str]:
    return {match.group(0) for text in mrkdwn_texts(message) for match in _SPAN.finditer(text)}


def scraped_event() -> dict[str, Any]:
    hit = Hit("nato", "nato", "body", 1, "the minister *said* _this_ about **NATO** & ~that~ in `code`, 5*3 snake_case")
    return make_event(title=SCRAPED, source="_Wire_ *Service*", matches=(RuleMatch("nato", 5.0, (hit,)),))


def test_slack_alert_shows_scraped_formatting_characters_as_text() -> None:
    message = render_slack(scraped_event())
    # The only formatting is the monitor's own: its labels, the rule's name and the hit.
    assert spans(message) == {"*Source*", "*Published*", "*Score*", "*Matched*", "*nato*", "*NATO*"}
    header, facts, _, snippet, _ = message["blocks"]
    assert header["text"] == {"type": "plain_text", "text": SCRAPED, "emoji": False}  # plain_text: as it is
    assert facts["fields"][0]["text"].translate(LOOKALIKES) == "*Source*\n_Wire_ *Service*"
    shown = snippet["text"]["text"]
    assert "*NATO*" in shown and "&amp;" in shown and "5*3 snake_case" in shown  # a word's inner marks stay
    assert shown.translate(LOOKALIKES) == (
        "> the minister *said* _this_ about *NATO* &amp; ~that~ in `code`, 5*3 snake_case"
    )
    assert_within_limits(message)


def test_slack_digest_shows_scraped_formatting_characters_as_text() -> None:
    event = scraped_event()
    digest = build_digest("digest_1", "d", "2026-03-01T12:00:00+00:00", "2026-03-01T13:00:00+00:00", [event] * 3,
                          "2026-03-01T13:00:00+00:00")  # fmt: skip
    message = render_slack(digest)
    assert spans(message) == set()
    line = message["blocks"][2]["text"]["text"].splitlines()[0]
    assert line.translate(LOOKALIKES) == (
        f"• <https://news.example/world/nato-summit|{SCRAPED}> · _Wire_ *Service* · 5.0 · nato"
    )
    assert_within_limits(message)


def test_slack_limits_hold_with_a_title_of_markers() -> None:
    for title in ("*" * 5000, "_~`&<>" * 1000):
        message = render_slack(make_event(title=title, source="*" * 3000, text="`" * 5000))
        assert_within_limits(message)
        assert spans(message) <= {"*Source*", "*Published*", "*Score*", "*Matched*", "*nato*", "*NATO*"}


# -- 9. A dead sender's claims ---------------------------------------------------------


def test_a_live_senders_claim_is_left_alone_and_a_killed_ones_is_resent_at_once(tmp_path: Path) -> None:
    arrived, go_on = threading.Event(), threading.Event()

    def hold(request: Request) -> bool:
        arrived.set()
        go_on.wait(30)
        return True  # never answered: the sender is killed meanwhile

    db = tmp_path / "monitor.db"
    with Receiver(Reply(before=hold)) as receiver:
        destination = webhook(receiver)
        with Store.open(db) as store:
            [alert_id] = queue(store, [destination], start=utcnow())
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(db), destination.url, SECRET],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            assert arrived.wait(30)
            with Store.open(db) as store:
                assert deliver_due(store, [destination]) == DeliveryReport()  # its sender is alive, mid-send
            sender.kill()
            sender.communicate(timeout=10)
        finally:
            go_on.set()
            if sender.poll() is None:
                sender.kill()
                sender.communicate(timeout=10)
        with Store.open(db) as store:
            lease_end = datetime.fromisoformat(row(store, alert_id)["claimed_until"])
            assert deliver_due(store, [destination]) == DeliveryReport(sent=1)  # now, not at the lease's end
            assert utcnow() < lease_end - timedelta(seconds=60)
            assert deliver_due(store, [destination], now=lease_end + timedelta(days=3)) == DeliveryReport()
            assert (row(store, alert_id)["status"], row(store, alert_id)["attempts"]) == ("delivered", 2)
        assert [r.header("webhook-id") for r in receiver.requests] == [alert_id, alert_id]


def test_two_senders_starting_after_a_kill_resend_it_once(tmp_path: Path) -> None:
    victim: dict[str, int] = {}

    def kill_sender(request: Request) -> bool:
        deadline = time.monotonic() + 10
        while "pid" not in victim and time.monotonic() < deadline:
            time.sleep(0.01)
        subprocess.run(["kill", "-KILL", str(victim["pid"])], check=True)
        return True

    db = tmp_path / "monitor.db"
    with Receiver(Reply(before=kill_sender)) as receiver:
        destination = webhook(receiver)
        with Store.open(db) as store:
            ids = queue(store, [destination], count=3, start=utcnow() - timedelta(minutes=1))
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(db), destination.url, SECRET],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        victim["pid"] = sender.pid
        sender.communicate(timeout=60)
        reports: list[DeliveryReport] = []
        start = threading.Barrier(2)

        def send() -> None:
            with Store.open(db) as store:
                start.wait(10)
                reports.append(deliver_due(store, [destination]))

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sum(report.sent for report in reports) == 3
        # The killed sender's one message twice (it was posted, then re-sent once), the others once each.
        assert [r.header("webhook-id") for r in receiver.requests] == [ids[0], *ids]


def test_a_claim_from_another_host_or_without_an_owner_waits_for_its_lease(store: Store) -> None:
    with Receiver() as receiver:
        destinations = [webhook(receiver, name="one"), webhook(receiver, name="two")]
        queue(store, destinations)
        elsewhere = ClaimOwner("another-host pid:[4026531836]", 1, "boot 1")
        assert len(claim_due(store, T0, limit=1, lease_seconds=300, owner=elsewhere)) == 1
        assert len(claim_due(store, T0, limit=1, lease_seconds=300)) == 1  # as claimed before the owner was kept
        assert deliver_due(store, destinations, now=T0 + timedelta(seconds=299)) == DeliveryReport()
        assert deliver_due(store, destinations, now=T0 + timedelta(seconds=300)) == DeliveryReport(sent=2)


def test_a_pid_taken_by_another_process_is_not_the_owner() -> None:
    me = this_process()
    assert me is not None
    assert not process_gone(me)
    assert process_gone(ClaimOwner(me.host, me.pid, me.started + "0"))  # the same pid, started at another time
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert process_gone(ClaimOwner(me.host, int(finished.stdout), me.started))
