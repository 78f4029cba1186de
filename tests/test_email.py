"""Email destinations against real SMTP servers on 127.0.0.1 (aiosmtpd): the message, its escaping, and the outbox.

The outbox promises hold as for webhooks: a temporary answer (421, 451, a refused
connection, a server that hangs) is retried on the schedule, and a recipient refused for
now among others who took it is retried alone; a recipient refused for good (550) is
dead-lettered with the server's answer; a refused login (535) also
pauses the destination and tells the operator through the others; a sender killed
between the send and the mark sends once more, with the same Message-ID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import DeliveryReport, deliver_due, send_sample
from monitor.alerts.mail import digest_chart_data
from monitor.alerts.smtp import SmtpServer
from monitor.cli.common import EXIT_ERROR
from monitor.config import DestinationSpec, parse_config
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store
from monitor.timestamps import utcnow
from tests.receivers import Receiver, Reply
from tests.sitekit import config_text, write
from tests.smtpkit import MailServer, RawServer, certificate
from tests.test_cli_alerts import invoke
from tests.test_delivery import T0, queue, row, webhook

FROM = "Monitor <monitor@example.org>"
TO = ("desk@example.org", "Analyst <analyst@example.org>")


def email(url: str, *, name: str = "mail", timeout: float = 5.0, **extra: Any) -> DestinationSpec:
    return DestinationSpec(name=name, type="email", url=url, mail_from=FROM, mail_to=TO,
                           reply_to=("tips@example.org",), timeout_seconds=timeout, **extra)  # fmt: skip


def parts(message: EmailMessage) -> dict[str, str]:
    """The message's parts by content type."""
    return {part.get_content_type(): str(part.get_content()) for part in message.walk() if not part.is_multipart()}


def test_an_alert_arrives_as_plain_text_and_html_with_its_headers_and_the_story(store: Store) -> None:
    with MailServer() as server:
        destination = email(server.url())
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)
        [received] = server.messages
    message = received.message
    assert received.mail_from == "monitor@example.org"
    assert received.rcpt_tos == ("desk@example.org", "analyst@example.org")
    assert message["From"] == FROM and message["Reply-To"] == "tips@example.org"
    assert message["To"] == "desk@example.org, Analyst <analyst@example.org>"
    assert message["Subject"] == "[monitor] NATO summit 0"
    assert message["Message-ID"] == f"<{alert_id}@example.org>"
    assert message["Auto-Submitted"] == "auto-generated" and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    found = parts(message)
    assert sorted(found) == ["text/html", "text/plain"]
    plain, html = found["text/plain"], found["text/html"]
    for expected in ("NATO summit 0", "Outlet: example", "Score: 5.0 (threshold 3)", "nato (5.0): nato",
                     '"leaders met at the *NATO* summit"', "https://news.example/world/nato-0"):  # fmt: skip
        assert expected in plain, (expected, plain)
    assert '<a href="https://news.example/world/nato-0">NATO summit 0</a>' in html
    assert "leaders met at the <strong>NATO</strong> summit" in html
    assert row(store, alert_id)["status"] == "delivered" and row(store, alert_id)["last_status"] == 250


class Tags(HTMLParser):
    """Every tag and every link of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        self.links.extend(value or "" for name, value in attrs if name == "href")


HOSTILE = '<script>alert(1)</script> <a href="https://evil.test">Reuters</a> & <img src=x onerror=alert(2)>'


def test_every_scraped_string_is_escaped_in_the_html_part(store: Store) -> None:
    hit = Hit("nato<b>", "<i>NATO</i>", "body", 1, f"{HOSTILE} **NATO** <iframe src=https://evil.test>")
    verdict = Verdict(5.0, 3.0, (RuleMatch("nato<b>", 5.0, (hit,)),))
    url = "https://news.example/a?x=1&y=<2>"  # not a valid URL to link to: shown nowhere as a link
    other = "https://news.example/b?x=1&y=2"
    with MailServer() as server:
        destination = email(server.url())
        article = Article(url=url, canonical_url=url, title=HOSTILE, text="NATO.", source='bbc"><script>x</script>')
        save_article(store, article, verdict, [destination], now=T0)
        second = Article(url=other, canonical_url=other, title=HOSTILE + " 2", text="NATO!", source="<u>wire</u>")
        save_article(store, second, verdict, [destination], now=T0)
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=2)
        messages = server.messages
    for received in messages:
        html = parts(received.message)["text/html"]
        parser = Tags()
        parser.feed(html)
        assert parser.tags <= {"html", "head", "meta", "title", "body", "h2", "a", "p", "b", "br", "ul", "li",
                               "strong", "blockquote", "em"}, parser.tags  # fmt: skip
        assert parser.attributes <= {"charset", "style", "href"}
        assert parser.links in ([], [other, other])  # only the valid link, to the headline and the outlet
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;iframe" in html
        assert "&lt;i&gt;NATO&lt;/i&gt;" in html and "&amp; &lt;img src=x onerror=alert(2)&gt;" in html
        assert received.message["Subject"].startswith("[monitor] <script>alert(1)</script>")  # text, not markup
    assert "bbc&quot;&gt;&lt;script&gt;x&lt;/script&gt;" in parts(messages[0].message)["text/html"]


def test_a_digest_window_is_one_message_listing_its_stories_with_a_stable_message_id(store: Store) -> None:
    with MailServer() as server:
        destination = email(server.url(), mode="digest", digest_every_seconds=3600)
        ids = queue(store, [destination], count=3, start=T0 + timedelta(minutes=1))
        assert deliver_due(store, [destination], now=T0 + timedelta(minutes=5)) == DeliveryReport(held=3)
        assert server.messages == []
        assert deliver_due(store, [destination], now=T0 + timedelta(hours=1)) == DeliveryReport(sent=1, digests=1)
        [received] = server.messages
    [digest] = store.query("SELECT id FROM alerts WHERE kind = 'digest'")
    message = received.message
    assert message["Message-ID"] == f"<{digest['id']}@example.org>"
    assert message["Subject"] == "[monitor] 3 matching stories, 2026-03-01 12:00 UTC to 2026-03-01 13:00 UTC"
    plain, html = parts(message)["text/plain"], parts(message)["text/html"]
    for index in range(3):
        assert f"{index + 1}. NATO summit {index}" in plain
        assert f'<a href="https://news.example/world/nato-{index}">NATO summit {index}</a>' in html
    assert [row(store, alert_id)["status"] for alert_id in ids] == ["digested"] * 3
    assert row(store, digest["id"])["status"] == "delivered"


def test_a_digest_email_shows_charts_of_its_stories_as_inline_images(store: Store) -> None:
    with MailServer() as server:
        destination = email(server.url(), mode="digest", digest_every_seconds=3600)
        queue(store, [destination], count=3, start=T0 + timedelta(minutes=1))
        deliver_due(store, [destination], now=T0 + timedelta(minutes=5))
        assert deliver_due(store, [destination], now=T0 + timedelta(hours=1)) == DeliveryReport(sent=1, digests=1)
        [received] = server.messages
    message = received.message
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    html = str(body.get_content())
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 2  # matches per rule per day; the stories by outlets
    for image in images:
        assert image.get_content().startswith(b"\x89PNG\r\n")
        assert f'src="cid:{str(image["Content-ID"]).strip("<>")}"' in html
    # what they draw: each alert's rules on its day, each story with its outlets
    [digest] = store.query("SELECT payload FROM alerts WHERE kind = 'digest'")
    event = json.loads(digest["payload"])
    data = digest_chart_data(event)
    assert sum(row.matches for row in data.rule_days) == sum(len(alert["rules"]) for alert in event["alerts"]) > 0
    assert [story.title for story in data.stories] == [f"NATO summit {n}" for n in range(3)]
    assert all(story.outlets == 1 for story in data.stories) and data.days


@pytest.fixture
def trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 that this process trusts (``SSL_CERT_FILE``)."""
    cert = certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    return cert


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_starttls_and_implicit_tls_carry_the_login_and_the_message(store: Store, trusted: Any, tls: str) -> None:
    with MailServer(tls=tls, cert=trusted, logins={"monitor@example.org": "p@ss:w/rd"}) as server:
        destination = email(server.url("monitor@example.org", "p@ss:w/rd"))
        queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)
        [received] = server.messages
    assert received.login == "monitor@example.org"


def test_without_starttls_or_a_trusted_certificate_nothing_is_sent_and_it_is_retried(
    store: Store, tmp_path: Path
) -> None:
    with MailServer(logins={"u": "secret-pw"}) as plain:  # offers no STARTTLS
        destination = email(plain.url("u", "secret-pw").replace("smtp+plain://", "smtp://"))
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert plain.login_attempts == [] and plain.messages == []
    assert "does not offer STARTTLS" in row(store, alert_id)["last_error"]
    with MailServer(tls="implicit", cert=certificate(tmp_path)) as untrusted:
        destination = email(untrusted.url())
        assert deliver_due(store, [destination], now=T0 + timedelta(days=1)) == DeliveryReport(failed=1)
        assert untrusted.messages == []
    assert "certificate is not trusted" in row(store, alert_id)["last_error"]
    assert row(store, alert_id)["status"] == "pending"


def test_421_and_451_are_retried_on_the_schedule_then_delivered_with_the_same_message_id(store: Store) -> None:
    with RawServer("421 4.3.2 Service shutting down") as busy:
        destination = email(busy.url())
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
    stored = row(store, alert_id)
    assert (stored["status"], stored["last_status"]) == ("pending", 421)
    assert stored["last_error"] == "SMTP 421 at connect: 4.3.2 Service shutting down"
    retry_at = T0 + timedelta(seconds=6)  # 5 s +-10%, rounded up to the second
    with MailServer(data=["451 4.3.0 Try again later"]) as server:
        destination = email(server.url())
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=4)) == DeliveryReport()  # not early
        assert deliver_due(store, [destination], now=retry_at) == DeliveryReport(failed=1)
        assert row(store, alert_id)["last_error"] == "SMTP 451 at data: 4.3.0 Try again later"
        assert deliver_due(store, [destination], now=retry_at + timedelta(seconds=200)) == DeliveryReport()
        assert deliver_due(store, [destination], now=retry_at + timedelta(seconds=331)) == DeliveryReport(sent=1)
        first, second = server.messages  # the refused one, and the one accepted
    assert first.message["Message-ID"] == second.message["Message-ID"] == f"<{alert_id}@example.org>"
    assert row(store, alert_id)["attempts"] == 3


def test_a_refused_connection_is_temporary(store: Store) -> None:
    with MailServer() as gone:
        destination = email(gone.url())
    [alert_id] = queue(store, [destination])
    assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
    assert row(store, alert_id)["last_error"] == "connection failed (Connection refused)"


def test_a_refused_recipient_is_dead_lettered_with_the_answer_and_nothing_is_paused(store: Store) -> None:
    refused = "550 5.1.1 <desk@example.org>: Recipient address rejected"
    with MailServer(refuse={"desk@example.org": refused, "analyst@example.org": refused}) as server:
        destination = email(server.url())
        [alert_id, later] = queue(store, [destination], count=2)
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=1)) == DeliveryReport(dead=2)
    stored = row(store, alert_id)
    assert (stored["status"], stored["last_status"]) == ("dead", 550)
    answer = "desk@example.org: 550 5.1.1 <desk@example.org>: Recipient address rejected"
    assert stored["last_error"].startswith(f"SMTP 550 at rcpt: {answer}")
    assert row(store, later)["status"] == "dead"
    assert store.query("SELECT * FROM destination_state WHERE paused_at IS NOT NULL") == []


def test_one_refused_recipient_among_accepted_ones_is_not_sent_twice(store: Store) -> None:
    with MailServer(refuse={"desk@example.org": "550 5.1.1 no such mailbox"}) as server:
        destination = email(server.url())
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)
        [received] = server.messages
    assert received.rcpt_tos == ("analyst@example.org",)
    assert row(store, alert_id)["status"] == "delivered"


def test_a_recipient_refused_for_now_gets_the_retry_alone_and_holds_no_other_message_back(store: Store) -> None:
    full = "452 4.2.2 Mailbox full"
    with MailServer(refuse={"desk@example.org": full}) as server:
        destination = email(server.url())
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        stored = row(store, alert_id)
        assert (stored["status"], stored["last_status"]) == ("pending", 452)
        assert json.loads(stored["recipients_left"]) == ["desk@example.org"]
        assert stored["last_error"] == (
            "refused for now for desk@example.org (retried for them alone):"
            " SMTP 452 at rcpt: desk@example.org: 452 4.2.2 Mailbox full"
        )
        # A newer alert is not held behind it: the analyst has the first one, and takes this one now.
        [_, later] = queue(store, [destination], count=1, start=T0 + timedelta(seconds=1), first=1)
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=2)) == DeliveryReport(failed=1)
        server.refuse.clear()  # the mailbox has room again
        at = T0 + timedelta(minutes=10)
        assert deliver_due(store, [destination], now=at) == DeliveryReport(sent=2)
        received = server.messages
    by_id = {alert_id: [m.rcpt_tos for m in received if m.message["Message-ID"] == f"<{alert_id}@example.org>"]}
    by_id[later] = [m.rcpt_tos for m in received if m.message["Message-ID"] == f"<{later}@example.org>"]
    # Each recipient has each message exactly once: the retries went to the desk alone.
    assert by_id[alert_id] == [("analyst@example.org",), ("desk@example.org",)]
    assert by_id[later] == [("analyst@example.org",), ("desk@example.org",)]
    assert row(store, alert_id)["status"] == row(store, later)["status"] == "delivered"


def test_every_recipient_refused_some_for_now_and_some_for_good_retries_for_the_first_only(store: Store) -> None:
    refuse = {"desk@example.org": "550 5.1.1 no such mailbox", "analyst@example.org": "451 4.7.1 greylisted"}
    with MailServer(refuse=refuse) as server:
        destination = email(server.url(), max_attempts=2)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert json.loads(row(store, alert_id)["recipients_left"]) == ["Analyst <analyst@example.org>"]
        # Still greylisted at its last attempt: dead, with the recipient it never reached, nothing paused.
        assert deliver_due(store, [destination], now=T0 + timedelta(minutes=1)) == DeliveryReport(dead=1)
        assert server.messages == []
    stored = row(store, alert_id)
    assert (stored["status"], stored["last_status"]) == ("dead", 451)
    assert stored["last_error"] == "SMTP 451 at rcpt: analyst@example.org: 451 4.7.1 greylisted"
    assert json.loads(stored["recipients_left"]) == ["Analyst <analyst@example.org>"]  # whom it never reached
    assert store.query("SELECT * FROM destination_state WHERE paused_at IS NOT NULL") == []


def test_a_refused_login_pauses_the_destination_and_tells_the_operator_through_the_others(store: Store) -> None:
    with MailServer(logins={"monitor": "right"}) as server, Receiver() as receiver:
        destination = email(server.url("monitor", "WRONGPASSWORD"))
        other = webhook(receiver)
        [alert_id, waiting] = queue(store, [destination], count=2)
        report = deliver_due(store, [destination, other], now=T0 + timedelta(seconds=1))
        assert report == DeliveryReport(sent=1, dead=1, skipped=1, paused=1)
        assert server.messages == [] and server.login_attempts[-1] == ("monitor", "WRONGPASSWORD")
        [notice] = receiver.requests
    stored = row(store, alert_id)
    assert (stored["status"], stored["last_status"]) == ("dead", 535)
    assert stored["last_error"] == "SMTP 535 at login: 5.7.8 Authentication credentials invalid"
    assert "WRONGPASSWORD" not in json.dumps(store.query("SELECT * FROM alerts")) + notice.body.decode()
    event = json.loads(notice.body)
    assert (event["type"], event["destination"], event["status"], event["pending"]) == (
        "destination.paused", "mail", 535, 1,
    )  # fmt: skip
    assert "SMTP 535 at login" in event["reason"]
    assert row(store, waiting)["status"] == "pending"  # kept until the destination is resumed
    [paused] = store.query("SELECT name FROM destination_state WHERE paused_at IS NOT NULL")
    assert paused["name"] == "mail"


def test_a_server_that_hangs_is_cut_off_at_the_deadline_and_retried(store: Store) -> None:
    with MailServer(hang=True) as server:
        destination = email(server.url(), timeout=1.0)
        [alert_id] = queue(store, [destination])
        started = time.monotonic()
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert time.monotonic() - started < 3
        assert len(server.messages) == 1  # it had the message and never answered
    assert row(store, alert_id)["last_error"] == "no complete answer within the 1 s deadline (at send)"
    with RawServer() as silent:  # never even greets
        destination = email(silent.url(), timeout=1.0)
        started = time.monotonic()
        assert deliver_due(store, [destination], now=T0 + timedelta(days=1)) == DeliveryReport(failed=1)
        assert time.monotonic() - started < 3
    assert row(store, alert_id)["last_error"] == "no complete answer within the 1 s deadline (at connect)"


def test_a_server_behind_a_name_that_resolves_to_an_internal_address_is_not_contacted(store: Store) -> None:
    with MailServer() as server:
        destination = email(f"smtp+plain://127.1:{server.port}")
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(dead=1, paused=1)
        assert server.messages == []
        allowed = email(f"smtp+plain://127.1:{server.port}", name="allowed", allow_private_networks=("127.0.0.0/8",))
        assert send_sample(allowed).delivered
    assert row(store, alert_id)["last_error"].startswith("refused: 127.1 resolves to 127.0.0.1, a loopback address")


# The sender: what `monitor alerts send` and `monitor serve` run, in a process of its own.
SENDER = textwrap.dedent(
    """
    import sys
    from monitor.alerts import deliver_due
    from monitor.config import DestinationSpec
    from monitor.store import Store

    mail = DestinationSpec(name="mail", type="email", url=sys.argv[2], mail_from="monitor@example.org",
                           mail_to=("desk@example.org",))
    with Store.open(sys.argv[1]) as store:
        print(deliver_due(store, [mail]))
    """
)


def test_a_sender_killed_between_the_send_and_the_mark_sends_once_more_with_the_same_message_id(
    tmp_path: Path,
) -> None:
    victim: dict[str, int] = {}

    def kill_sender() -> None:
        deadline = time.monotonic() + 10
        while "pid" not in victim and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(victim["pid"], signal.SIGKILL)  # the server has the message; the sender never learns it

    db = tmp_path / "monitor.db"
    with MailServer(before=kill_sender) as server:
        destination = DestinationSpec(name="mail", type="email", url=server.url(), mail_from="monitor@example.org",
                                      mail_to=("desk@example.org",))  # fmt: skip
        with Store.open(db) as store:
            [alert_id] = queue(store, [destination], start=utcnow())
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(db), destination.url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        victim["pid"] = sender.pid
        sender.communicate(timeout=60)
        assert sender.returncode == -signal.SIGKILL
        server.before = None
        with Store.open(db) as store:
            stored = row(store, alert_id)
            assert (stored["status"], stored["attempts"]) == ("sending", 1)  # claimed, sent, never marked
            assert deliver_due(store, [destination]) == DeliveryReport(sent=1)  # its sender is gone: at once
            assert deliver_due(store, [destination], now=utcnow() + timedelta(days=3)) == DeliveryReport()
            assert (row(store, alert_id)["status"], row(store, alert_id)["attempts"]) == ("delivered", 2)
        first, second = server.wait_for(2)  # exactly one re-send ...
        time.sleep(0.2)
        assert len(server.messages) == 2
    assert first.message["Message-ID"] == second.message["Message-ID"] == f"<{alert_id}@example.org>"  # ... the same
    assert parts(first.message) == parts(second.message)


def test_the_configuration_reads_an_email_destination_and_refuses_mistakes_by_line() -> None:
    text = textwrap.dedent(
        """\
        sources: []
        rules: []
        alerts:
          destinations:
            - name: mail
              type: email
              url: ${SMTP_URL}
              from: "Monitor <monitor@example.org>"
              to: [desk@example.org, "Analyst <analyst@example.org>"]
              reply_to: tips@example.org
              mode: digest
              digest_at: "08:00"
        """
    )
    config = parse_config(text, "rules.yaml", {"SMTP_URL": "smtps://monitor%40example.org:pw@smtp.example.org"})
    [mail] = config.alerts.destinations
    assert (mail.type, mail.mail_from, mail.mail_to, mail.reply_to) == (
        "email", "Monitor <monitor@example.org>", ("desk@example.org", "Analyst <analyst@example.org>"),
        ("tips@example.org",),
    )  # fmt: skip
    assert "pw" not in repr(mail)


def test_monitor_alerts_test_sends_a_sample_email_and_never_shows_the_login(tmp_path: Path) -> None:
    with MailServer(logins={"monitor": "S3CRETPASS"}) as server, MailServer(logins={"monitor": "other"}) as wrong:
        env = {"MAIL_URL": server.url("monitor", "S3CRETPASS"), "WRONG_URL": wrong.url("monitor", "S3CRETPASS")}
        destinations = "".join(
            f"    - name: {name}\n      type: email\n      url: ${{{var}}}\n"
            "      from: monitor@example.org\n      to: [desk@example.org]\n"
            for name, var in (("mail", "MAIL_URL"), ("wrong", "WRONG_URL"))
        )
        text = config_text("", destinations=destinations).replace("sources:\n", "sources: []\n")
        config = write(tmp_path / "rules.yaml", text)
        db = str(tmp_path / "m.db")
        code, out = invoke("--config", config, "--db", db, "alerts", "test", "mail", env=env)
        assert code == 0, out
        where = f"mail (email, smtp+plain://127.0.0.1:{server.port}/…redacted) for desk@example.org"
        assert f"test alert delivered to {where}: SMTP 250" in out
        [received] = server.messages
        assert received.message["Subject"].startswith("[monitor] test: Test alert from monitor")
        assert received.message["Message-ID"].startswith("<test_")
        code, wrong_out = invoke("--config", config, "--db", db, "alerts", "test", "wrong", env=env)
        assert code == EXIT_ERROR
        assert "NOT delivered" in wrong_out and "SMTP 535: SMTP 535 at login" in wrong_out
        assert "permanent: the login, server or sender is refused" in wrong_out
    assert "S3CRETPASS" not in out + wrong_out


def test_an_operator_notice_arrives_by_email_when_another_destination_is_paused(store: Store) -> None:
    with MailServer() as server, Receiver(default=Reply(410, "gone")) as receiver:
        mail, hook = email(server.url()), webhook(receiver)
        queue(store, [hook])
        assert deliver_due(store, [mail, hook], now=T0) == DeliveryReport(sent=1, dead=1, paused=1)
        [received] = server.messages
    assert received.message["Subject"] == "[monitor] Alert destination paused: hook"
    plain = parts(received.message)["text/plain"]
    assert "Why: permanent failure: gone (HTTP 410)" in plain and "To resume: monitor alerts resume hook" in plain


def test_an_smtp_servers_password_is_not_in_its_repr() -> None:
    server = SmtpServer.from_url("smtps://monitor%40example.org:s3cret-pass@smtp.example.org")
    assert server.password == "s3cret-pass" and server.port == 465
    assert "s3cret-pass" not in repr(server)
