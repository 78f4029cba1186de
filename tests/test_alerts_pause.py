"""A destination that fails permanently is paused, the operator is told once, and resuming sends the rest."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from monitor.alerts import DeliveryReport, deliver_due
from monitor.store import Store
from monitor.store.destinations import paused_destinations, resume_destination
from monitor.store.outbox import retry
from tests.receivers import Receiver, Reply
from tests.test_alerts_render import assert_within_limits
from tests.test_delivery import T0, FakeClock, queue, row, slack, webhook


def test_a_gone_destination_is_paused_and_the_others_are_told_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    clock = FakeClock()
    with (
        Receiver(default=Reply(410, "channel_is_archived")) as gone,
        Receiver(stamp=clock) as team,
        Receiver() as ingest,
    ):
        broken = slack(gone, name="archived")
        others = [slack(team), webhook(ingest)]
        destinations = [broken, *others]
        ids = queue(store, destinations, count=3)
        report = deliver_due(store, destinations, now=T0 + timedelta(minutes=1), sleep=clock.sleep, clock=clock)
        assert report == DeliveryReport(sent=8, dead=1, skipped=2, paused=1)  # 3 alerts + 1 notice, twice
        assert list(paused_destinations(store)) == ["archived"]
        assert len(gone.requests) == 1  # no tight loop on a gone endpoint

        notice = json.loads(ingest.requests[-1].body)
        assert (notice["type"], notice["version"], notice["destination"]) == ("destination.paused", 1, "archived")
        assert notice["status"] == 410 and "channel_is_archived" in notice["reason"]
        assert notice["pending"] == 2 and notice["resume"] == "monitor alerts resume archived"
        message = json.loads(team.requests[-1].body)
        assert_within_limits(message)
        assert message["blocks"][0]["text"]["text"] == "Alert destination paused: archived"
        assert "monitor alerts resume archived" in message["blocks"][1]["text"]["text"]

        # Days later: nothing more to the paused destination, and no second notice.
        for days in (1, 2, 7):
            later = deliver_due(store, destinations, now=T0 + timedelta(days=days), sleep=clock.sleep, clock=clock)
            assert later == DeliveryReport()
        assert (len(gone.requests), len(team.requests), len(ingest.requests)) == (1, 4, 4)
        paused_lines = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
        assert len(paused_lines) == 1 and "destination=archived" in paused_lines[0]

        # Fixed and resumed: the two waiting alerts go out, in order.
        gone.default = Reply(200, "ok")
        assert resume_destination(store, "archived", T0 + timedelta(days=8))
        report = deliver_due(store, destinations, now=T0 + timedelta(days=8), sleep=clock.sleep, clock=clock)
        assert report == DeliveryReport(sent=2)
        archived = [i for i in ids if row(store, i)["destination"] == "archived"]
        titles = [json.loads(r.body)["blocks"][0]["text"]["text"] for r in gone.requests[1:]]
        assert titles == ["NATO summit 1", "NATO summit 2"]
        assert [row(store, i)["status"] for i in archived] == ["dead", "delivered", "delivered"]


def test_exhausted_retries_dead_letter_the_alert_and_pause_its_destination(store: Store) -> None:
    with Receiver(default=Reply(500, "down")) as failing, Receiver() as ingest:
        flaky = replace(webhook(failing, name="flaky"), max_attempts=2)
        destinations = [flaky, webhook(ingest)]
        queue(store, [flaky], count=2)
        assert deliver_due(store, destinations, now=T0) == DeliveryReport(failed=1)
        report = deliver_due(store, destinations, now=T0 + timedelta(minutes=1))
        assert report == DeliveryReport(sent=1, dead=1, skipped=1, paused=1)  # the notice reached ingest
        assert paused_destinations(store)["flaky"]["paused_reason"].startswith("2 attempts failed: down")
        assert json.loads(ingest.requests[0].body)["type"] == "destination.paused"
        assert len(failing.requests) == 2
        assert deliver_due(store, destinations, now=T0 + timedelta(days=2)) == DeliveryReport()


def test_a_message_level_error_dead_letters_without_pausing(store: Store) -> None:
    with Receiver(Reply(400, "invalid_payload")) as team:
        destination = slack(team)
        first, second = queue(store, [destination], count=2)
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=1), sleep=lambda s: None)
        assert report == DeliveryReport(sent=1, dead=1)
        assert row(store, first)["last_error"] == "invalid_payload"
        assert row(store, second)["status"] == "delivered"
        assert paused_destinations(store) == {}


def test_retrying_a_dead_alert_makes_it_due_now_and_refuses_a_double_send(store: Store) -> None:
    with Receiver(Reply(410, "gone")) as receiver:
        destination = webhook(receiver)
        first, second = queue(store, [destination], count=2)
        deliver_due(store, [destination], now=T0 + timedelta(minutes=1))
        assert row(store, first)["status"] == "dead"
        [retried] = retry(store, [first], T0 + timedelta(hours=1))
        assert retried["destination"] == "hook"
        stored = row(store, first)
        assert (stored["status"], stored["attempts"], stored["next_attempt_at"]) == (
            "pending",
            0,
            "2026-03-01T13:00:00+00:00",
        )
        resume_destination(store, "hook", T0 + timedelta(hours=1))
        assert deliver_due(store, [destination], now=T0 + timedelta(hours=1)) == DeliveryReport(sent=2)
        assert receiver.unique() == [first, second]
        with pytest.raises(Exception, match="twice"):
            retry(store, [first], T0 + timedelta(hours=2))
        with pytest.raises(Exception, match="no alert"):
            retry(store, ["alert_nope"], T0 + timedelta(hours=2))
