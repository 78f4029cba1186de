"""Delivering alerts from the outbox to real receivers on 127.0.0.1.

Time is driven through ``now`` (the schedule) and a fake clock (Slack pacing); only
the deadline tests really wait, about a second each.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import DeliveryReport, deliver_due, verify
from monitor.alerts.policy import RETRY_SCHEDULE, parse_retry_after, retry_delay
from monitor.alerts.render import render
from monitor.alerts.transport import post
from monitor.alerts.webhook import render_webhook
from monitor.config import DestinationSpec
from monitor.deadlines import make_session
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store
from monitor.store.outbox import claim_due, list_alerts, mark_failed, release, start_attempt
from monitor.timestamps import iso
from tests.receivers import Receiver, Reply, closed_port
from tests.storekit import counts_by_status

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK_PATH = "/hooks/T0SECRET/B0SECRET/xyzzySECRET"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "m.db") as opened:
        yield opened


def verdict() -> Verdict:
    hit = Hit("nato", "nato", "body", 2, "leaders met at the **NATO** summit")
    return Verdict(score=5.0, threshold=3.0, matches=(RuleMatch("nato", 5.0, (hit,)),))


def queue(
    store: Store, destinations: list[DestinationSpec], count: int = 1, start: datetime = T0, first: int = 0
) -> list[str]:
    """Save ``count`` matching articles (numbered from ``first``), one second apart; every alert id, oldest first."""
    for index in range(count):
        url = f"https://news.example/world/nato-{first + index}"
        article = Article(url=url, canonical_url=url, title=f"NATO summit {first + index}",
                          text="Leaders met at the NATO summit.", source="example")  # fmt: skip
        save_article(store, article, verdict(), destinations, now=start + timedelta(seconds=index))
    return [row["id"] for row in store.query("SELECT id FROM alerts WHERE kind = 'alert' ORDER BY created_at, id")]


def row(store: Store, alert_id: str) -> dict[str, Any]:
    [found] = store.query("SELECT * FROM alerts WHERE id = ?", [alert_id])
    return found


def webhook(receiver: Receiver, *, timeout: float = 5.0, name: str = "hook") -> DestinationSpec:
    return DestinationSpec(name=name, type="webhook", url=receiver.url(HOOK_PATH), secret=SECRET,
                           timeout_seconds=timeout)  # fmt: skip


def slack(receiver: Receiver, *, name: str = "team") -> DestinationSpec:
    return DestinationSpec(name=name, type="slack", url=receiver.url("/services/T0SECRET/B0SECRET/sl4ckSECRET"))


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_delivers_once_with_signed_headers(store: Store) -> None:
    with Receiver() as receiver:
        destination = webhook(receiver)
        [alert_id] = queue(store, [destination])
        payload = json.loads(row(store, alert_id)["payload"])

        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)

        [request] = receiver.requests
        assert (request.method, request.path) == ("POST", HOOK_PATH)
        assert request.header("webhook-id") == alert_id
        verify(SECRET, request.headers, request.body)
        assert request.body == render_webhook(payload)
        assert json.loads(request.body)["article"]["title"] == "NATO summit 0"
        assert request.header("content-type") == "application/json"
        assert (request.header("user-agent") or "").startswith("monitor-alerts/")
        stored = row(store, alert_id)
        assert (stored["status"], stored["attempts"], stored["last_status"]) == ("delivered", 1, 200)
        assert stored["delivered_at"] == iso(T0)
        assert stored["claimed_until"] is None

        assert deliver_due(store, [destination], now=T0 + timedelta(days=2)) == DeliveryReport()
        assert len(receiver.requests) == 1


def test_failures_retried_on_the_schedule_never_early(store: Store) -> None:
    with Receiver(*[Reply(500, "boom")] * 5) as receiver:
        destination = webhook(receiver)
        [alert_id] = queue(store, [destination])
        moment = T0
        for attempt in range(1, 6):
            assert deliver_due(store, [destination], now=moment) == DeliveryReport(failed=1)
            stored = row(store, alert_id)
            assert (stored["status"], stored["attempts"]) == ("pending", attempt)
            assert (stored["last_status"], stored["last_error"]) == (500, "boom")
            due = datetime.fromisoformat(stored["next_attempt_at"])
            base = RETRY_SCHEDULE[attempt - 1]
            assert 0.9 * base <= (due - moment).total_seconds() <= 1.1 * base + 1
            assert deliver_due(store, [destination], now=due - timedelta(seconds=1)) == DeliveryReport()
            assert len(receiver.requests) == attempt
            moment = due

        assert deliver_due(store, [destination], now=moment) == DeliveryReport(sent=1)
        assert {r.header("webhook-id") for r in receiver.requests} == {alert_id}
        assert len(receiver.requests) == 6
        assert (row(store, alert_id)["status"], row(store, alert_id)["attempts"]) == ("delivered", 6)


@pytest.mark.parametrize(
    ("status", "retry_after", "wait"),
    [(429, "30", 30), (503, format_datetime(T0 + timedelta(seconds=120), usegmt=True), 120)],
)
def test_retry_after_is_a_minimum(store: Store, status: int, retry_after: str, wait: int) -> None:
    with Receiver(Reply(status, "slow down", headers={"Retry-After": retry_after})) as receiver:
        destination = webhook(receiver)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert datetime.fromisoformat(row(store, alert_id)["next_attempt_at"]) >= T0 + timedelta(seconds=wait)
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=wait - 1)) == DeliveryReport()
        assert len(receiver.requests) == 1
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=wait)) == DeliveryReport(sent=1)


def test_a_429_holds_the_whole_destination_then_everything_goes_in_order(store: Store) -> None:
    with Receiver(Reply(429, "slow down", headers={"Retry-After": "30"})) as receiver:
        destination = webhook(receiver)
        ids = queue(store, [destination], count=3)
        moment = T0 + timedelta(seconds=10)
        assert deliver_due(store, [destination], now=moment) == DeliveryReport(failed=1, skipped=2)
        assert deliver_due(store, [destination], now=moment + timedelta(seconds=29)) == DeliveryReport()
        assert len(receiver.requests) == 1  # no earlier retry, and nothing else sent meanwhile
        assert deliver_due(store, [destination], now=moment + timedelta(seconds=30)) == DeliveryReport(sent=3)
        assert [r.header("webhook-id") for r in receiver.requests] == [ids[0], *ids]


@pytest.mark.parametrize(
    ("kind", "status", "body", "paused"),
    [
        ("webhook", 410, "endpoint gone", 1),
        ("webhook", 404, "no such hook", 1),
        ("webhook", 400, "bad request", 0),  # about the message, not the endpoint: no pause
        ("slack", 400, "invalid_payload", 0),
        ("slack", 500, "no_service", 1),  # a Slack error body is permanent whatever the status
        ("slack", 410, "channel_is_archived", 1),
        ("slack", 403, "action_prohibited", 1),
        ("slack", 404, "channel_not_found", 1),
    ],
)
def test_permanent_failures_are_dead_at_once(store: Store, kind: str, status: int, body: str, paused: int) -> None:
    with Receiver(default=Reply(status, body)) as receiver:
        destination = webhook(receiver) if kind == "webhook" else slack(receiver)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(dead=1, paused=paused)
        stored = row(store, alert_id)
        assert (stored["status"], stored["last_status"], stored["last_error"]) == ("dead", status, body)
        for days in (1, 3, 30):
            assert deliver_due(store, [destination], now=T0 + timedelta(days=days)) == DeliveryReport()
        assert len(receiver.requests) == 1


def test_a_gone_endpoint_kills_one_alert_per_run_and_keeps_the_rest(store: Store) -> None:
    with Receiver(default=Reply(410, "gone")) as receiver:
        destination = webhook(receiver)
        queue(store, [destination], count=3)
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=1))
        assert report == DeliveryReport(dead=1, skipped=2, paused=1)
        assert counts_by_status(store)["hook"] == {"pending": 2, "sending": 0, "delivered": 0, "dead": 1, "held": 0,
                                                   "digested": 0}  # fmt: skip
        assert len(receiver.requests) == 1


def test_redirect_is_a_failure_and_not_followed(store: Store) -> None:
    with Receiver() as target, Receiver(Reply(302, "moved", redirect=target.url("/elsewhere/T0KEN"))) as receiver:
        destination = webhook(receiver)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        stored = row(store, alert_id)
        assert (stored["status"], stored["last_status"]) == ("pending", 302)
        assert "not followed" in stored["last_error"] and "moved" in stored["last_error"]
        assert "T0KEN" not in stored["last_error"]
        assert target.requests == []


@pytest.mark.parametrize(
    "reply",
    [Reply(hang=True), Reply(trickle="headers"), Reply(200, "x" * 100, trickle="body")],
    ids=["hang", "trickle-headers", "trickle-body"],
)
def test_attempt_ends_at_its_deadline(store: Store, reply: Reply) -> None:
    # A byte a second never trips a 1.5 s per-read timeout: only the overall deadline can end these.
    with Receiver(reply) as receiver:
        destination = webhook(receiver, timeout=1.5)
        [alert_id] = queue(store, [destination])
        started = time.monotonic()
        report = deliver_due(store, [destination], now=T0)
        elapsed = time.monotonic() - started
        assert report == DeliveryReport(failed=1)
        assert 1.4 < elapsed < 2.5
        stored = row(store, alert_id)
        assert stored["status"] == "pending"
        assert "deadline" in stored["last_error"]
        assert len(receiver.requests) == 1
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer)]  # no watchdog left behind


def test_expired_lease_is_resent_with_the_same_id(store: Store) -> None:
    with Receiver() as receiver:
        destination = webhook(receiver)
        [alert_id] = queue(store, [destination])
        # A sender claims the alert, posts it, and dies before marking it delivered.
        [claimed] = claim_due(store, T0, lease_seconds=120)
        assert start_attempt(store, claimed.id) == 1
        outgoing = render(destination, claimed.id, claimed.payload)
        with make_session() as session:
            assert post(session, outgoing.url, outgoing.body, outgoing.headers, 5.0).status == 200

        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=60)) == DeliveryReport()
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=121)) == DeliveryReport(sent=1)

        first, second = receiver.requests
        assert first.header("webhook-id") == second.header("webhook-id") == alert_id
        assert first.body == second.body
        assert (row(store, alert_id)["status"], row(store, alert_id)["attempts"]) == ("delivered", 2)


def test_dead_after_max_attempts(store: Store) -> None:
    with Receiver(default=Reply(500, "still broken")) as receiver:
        destination = webhook(receiver)
        [alert_id] = queue(store, [destination])
        moment = T0
        for _ in range(2):
            assert deliver_due(store, [destination], max_attempts=3, now=moment) == DeliveryReport(failed=1)
            moment = datetime.fromisoformat(row(store, alert_id)["next_attempt_at"])
        assert deliver_due(store, [destination], max_attempts=3, now=moment) == DeliveryReport(dead=1, paused=1)
        stored = row(store, alert_id)
        assert (stored["status"], stored["attempts"], stored["last_error"]) == ("dead", 3, "still broken")
        assert deliver_due(store, [destination], max_attempts=3, now=moment + timedelta(days=5)) == DeliveryReport()
        assert len(receiver.requests) == 3


def test_destination_url_and_secret_never_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    down = DestinationSpec(name="down", type="webhook", secret=SECRET, timeout_seconds=2.0,
                           url=f"http://127.0.0.1:{closed_port()}{HOOK_PATH}?token=QSECRET")  # fmt: skip
    with Receiver() as receiver:
        up = slack(receiver)
        ids = queue(store, [down, up])
        report = deliver_due(store, [down, up], now=T0)
    assert (report.sent, report.failed) == (1, 1)
    [failed] = [i for i in ids if row(store, i)["destination"] == "down"]
    assert "connection failed" in row(store, failed)["last_error"]
    shown = caplog.text + json.dumps(list_alerts(store)) + json.dumps(counts_by_status(store))
    for secret in ("T0SECRET", "xyzzySECRET", "sl4ckSECRET", "QSECRET", SECRET, SECRET[6:]):
        assert secret not in shown
    assert any(r.name.startswith("urllib3") and "…redacted" in r.getMessage() for r in caplog.records)
    attempts = [r.getMessage() for r in caplog.records if r.name == "monitor.alerts"]
    assert any("destination=down" in line and failed in line for line in attempts)
    assert any("destination=team" in line and "outcome=delivered" in line for line in attempts)


def test_slack_sends_are_paced(store: Store) -> None:
    clock = FakeClock()
    with Receiver(stamp=clock) as receiver:
        destination = slack(receiver)
        queue(store, [destination], count=3)
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=1), sleep=clock.sleep, clock=clock)
        assert report == DeliveryReport(sent=3)
        stamps = [r.at for r in receiver.requests]
        assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(stamps))
        assert len(clock.sleeps) == 2 and all(0 < s <= 1.0 for s in clock.sleeps)
        message = json.loads(receiver.requests[0].body)
        assert message["unfurl_links"] is False and message["blocks"][0]["type"] == "header"
        assert receiver.requests[0].header("webhook-id") is None


def test_unknown_or_disabled_destination_stays_pending(store: Store) -> None:
    with Receiver() as receiver:
        kept, retired = webhook(receiver), webhook(receiver, name="retired")
        ids = queue(store, [kept, retired], count=2)
        disabled = DestinationSpec(name="retired", type="webhook", url="")
        report = deliver_due(store, [kept, disabled], now=T0 + timedelta(minutes=1))
        assert report == DeliveryReport(sent=2, skipped=2)
        for alert_id in ids:
            stored = row(store, alert_id)
            if stored["destination"] == "retired":
                assert (stored["status"], stored["attempts"], stored["claimed_until"]) == ("pending", 0, None)
        counts = counts_by_status(store)
        assert counts["hook"] == {"pending": 0, "sending": 0, "delivered": 2, "dead": 0, "held": 0, "digested": 0}
        assert counts["retired"] == {"pending": 2, "sending": 0, "delivered": 0, "dead": 0, "held": 0, "digested": 0}


def test_oldest_first_and_a_down_destination_is_tried_once_per_run(store: Store) -> None:
    down = DestinationSpec(name="down", type="webhook", url=f"http://127.0.0.1:{closed_port()}/x", timeout_seconds=2)
    with Receiver() as receiver:
        up = webhook(receiver)
        queue(store, [up, down], count=3)
        report = deliver_due(store, [up, down], now=T0 + timedelta(minutes=1))
        assert report == DeliveryReport(sent=3, failed=1, skipped=2)
        expected = [
            r["id"] for r in store.query("SELECT id FROM alerts WHERE destination = 'hook' ORDER BY created_at")
        ]
        assert [r.header("webhook-id") for r in receiver.requests] == expected


# -- the outbox on its own -----------------------------------------------------------


def test_claim_release_and_lease(store: Store) -> None:
    destination = DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/x")
    other = DestinationSpec(name="other", type="webhook", url="http://127.0.0.1:9/y")
    first, second = queue(store, [destination], count=2)
    assert claim_due(store, T0 - timedelta(seconds=1)) == []  # not due yet
    claimed = claim_due(store, T0 + timedelta(seconds=5), limit=1, lease_seconds=60)
    assert [(c.id, c.attempts, c.kind) for c in claimed] == [(first, 1, "alert")]
    assert claimed[0].payload["id"] == first
    # In order per destination: nothing behind a message that is being sent.
    assert claim_due(store, T0 + timedelta(seconds=5)) == []
    assert release(store, [first]) == 1
    assert (row(store, first)["status"], row(store, first)["attempts"]) == ("pending", 0)
    assert [c.id for c in claim_due(store, T0 + timedelta(seconds=5))] == [first, second]
    assert claim_due(store, T0 + timedelta(seconds=30)) == []  # both leased
    assert [c.id for c in claim_due(store, T0 + timedelta(seconds=126))] == [first, second]  # leases expired
    assert row(store, first)["attempts"] == 0  # claims only lease: an attempt counts when its post starts
    assert start_attempt(store, first) == 1
    # Another destination's queue is independent of this one's.
    save_article(store, Article(url="https://news.example/x", canonical_url="https://news.example/x", title="t",
                                text="x", source="example"), verdict(), [other], now=T0)  # fmt: skip
    assert [c.destination for c in claim_due(store, T0 + timedelta(seconds=130))] == ["other"]


def test_nothing_is_claimed_behind_a_message_waiting_for_its_retry(store: Store) -> None:
    destination = DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/x")
    first, second = queue(store, [destination], count=2)
    claim_due(store, T0 + timedelta(seconds=5), limit=1)
    mark_failed(store, first, status_code=500, error="x", next_attempt_at=T0 + timedelta(minutes=5), now=T0)
    assert claim_due(store, T0 + timedelta(minutes=4)) == []  # `second` is due, but waits behind `first`
    assert [c.id for c in claim_due(store, T0 + timedelta(minutes=5))] == [first, second]


def test_mark_failed_only_touches_a_claimed_alert(store: Store) -> None:
    destination = DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/x")
    [alert_id] = queue(store, [destination])
    assert not mark_failed(store, alert_id, status_code=500, error="x", next_attempt_at=None, now=T0)
    assert row(store, alert_id)["status"] == "pending"
    claim_due(store, T0)
    assert mark_failed(store, alert_id, status_code=500, error="x" * 5000, next_attempt_at=None, now=T0)
    assert [a["id"] for a in list_alerts(store, status="dead")] == [alert_id]
    assert len(row(store, alert_id)["last_error"]) == 2000


def test_retry_helpers() -> None:
    for attempt, base in enumerate(RETRY_SCHEDULE, start=1):
        assert 0.9 * base <= retry_delay(attempt) <= 1.1 * base
    assert retry_delay(50) <= 1.1 * RETRY_SCHEDULE[-1]
    assert parse_retry_after("30", T0) == 30
    assert parse_retry_after(format_datetime(T0 + timedelta(minutes=2), usegmt=True), T0) == 120
    assert parse_retry_after(format_datetime(T0 - timedelta(minutes=2), usegmt=True), T0) == 0
    assert parse_retry_after("99999999", T0) == 86400
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(None, T0) is None
