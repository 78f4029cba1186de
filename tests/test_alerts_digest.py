"""Digests: windows, digest-only destinations, and `both` (the first N at once, the rest in the digest)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerts import DeliveryReport, deliver_due, verify
from monitor.alerts.digest import make_digest, route_new_alerts, window
from monitor.config import DestinationSpec, parse_time_of_day
from monitor.store import Store
from tests.receivers import Receiver
from tests.test_alerts_render import assert_within_limits
from tests.test_delivery import SECRET, T0, FakeClock, queue, row, slack, webhook


def spec(**options: object) -> DestinationSpec:
    return replace(DestinationSpec(name="d", type="webhook", url="http://127.0.0.1:9/x"), **options)  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("options", "moment", "expected"),
    [
        ({"digest_every_seconds": 3600}, "2026-03-01T10:17:00+00:00", ("10:00", "11:00")),
        ({"digest_every_seconds": 3600}, "2026-03-01T11:00:00+00:00", ("11:00", "12:00")),
        ({"digest_every_seconds": 900}, "2026-03-01T10:17:00+00:00", ("10:15", "10:30")),
        ({}, "2026-03-01T10:17:00+00:00", ("10:00", "11:00")),  # hourly by default
        ({"digest_at": ("08:00", "17:30")}, "2026-03-01T12:00:00+00:00", ("08:00", "17:30")),
        ({"digest_at": ("08:00", "17:30")}, "2026-03-01T18:00:00+00:00", ("17:30", "08:00")),
        ({"digest_at": ("08:00", "17:30")}, "2026-03-01T07:59:59+00:00", ("17:30", "08:00")),
        # 08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer.
        ({"digest_at": ("08:00",), "timezone": "Europe/Berlin"}, "2026-03-01T12:00:00+00:00", ("07:00", "07:00")),
        ({"digest_at": ("08:00",), "timezone": "Europe/Berlin"}, "2026-07-01T12:00:00+00:00", ("06:00", "06:00")),
    ],
)
def test_windows(options: dict[str, object], moment: str, expected: tuple[str, str]) -> None:
    start, end = window(spec(**options), at(moment))
    assert (start.strftime("%H:%M"), end.strftime("%H:%M")) == expected
    assert start <= at(moment) < end and start.tzinfo == UTC
    assert end - start <= timedelta(days=1)


def test_time_of_day_parsing() -> None:
    assert parse_time_of_day("8:05").strftime("%H:%M") == "08:05"
    for bad in ("25:00", "08:61", "0800", "8", "08:0", "noon", "08:00:00"):
        with pytest.raises(ValueError):
            parse_time_of_day(bad)


def test_a_digest_destination_sends_one_message_per_window(store: Store) -> None:
    with Receiver() as receiver:
        destination = replace(webhook(receiver), mode="digest", digest_every_seconds=3600)
        ids = queue(store, [destination], count=3, start=T0 + timedelta(minutes=1))
        assert deliver_due(store, [destination], now=T0 + timedelta(minutes=5)) == DeliveryReport(held=3)
        assert {row(store, i)["status"] for i in ids} == {"held"}
        assert deliver_due(store, [destination], now=T0 + timedelta(minutes=59)) == DeliveryReport()
        assert receiver.requests == []

        assert deliver_due(store, [destination], now=T0 + timedelta(hours=1)) == DeliveryReport(sent=1, digests=1)
        [request] = receiver.requests
        verify(SECRET, request.headers, request.body)
        digest = json.loads(request.body)
        assert (digest["type"], digest["version"], digest["count"]) == ("alerts.digest", 1, 3)
        assert digest["id"] == request.header("webhook-id") and digest["id"].startswith("digest_")
        assert digest["window"] == {"start": "2026-03-01T12:00:00+00:00", "end": "2026-03-01T13:00:00+00:00"}
        assert [a["id"] for a in digest["alerts"]] == ids  # each alert's full event, oldest first
        assert all(a["story"]["outlets"][0]["url"] == a["article"]["url"] for a in digest["alerts"])
        assert {(row(store, i)["status"], row(store, i)["digest_id"]) for i in ids} == {("digested", digest["id"])}
        assert deliver_due(store, [destination], now=T0 + timedelta(hours=5)) == DeliveryReport()
        assert len(receiver.requests) == 1


def test_a_sender_that_was_down_for_several_windows_makes_one_digest(store: Store) -> None:
    destination = spec(mode="digest", digest_every_seconds=600)
    queue(store, [destination], count=2, start=T0)
    route_new_alerts(store, destination, T0 + timedelta(minutes=1))
    queue(store, [destination], count=2, start=T0 + timedelta(minutes=12), first=2)
    route_new_alerts(store, destination, T0 + timedelta(minutes=13))
    digest_id = make_digest(store, destination, T0 + timedelta(hours=3))
    assert digest_id is not None
    payload = json.loads(row(store, digest_id)["payload"])
    assert payload["count"] == 4
    assert payload["window"] == {"start": "2026-03-01T12:00:00+00:00", "end": "2026-03-01T15:00:00+00:00"}
    assert make_digest(store, destination, T0 + timedelta(hours=4)) is None  # made once


def test_both_sends_the_first_n_of_a_window_at_once_and_digests_the_rest(store: Store) -> None:
    clock = FakeClock()
    with Receiver(stamp=clock) as receiver:
        destination = replace(slack(receiver), mode="both", digest_every_seconds=3600, immediate_limit=2)
        ids = queue(store, [destination], count=5, start=T0 + timedelta(minutes=1))
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=2), sleep=clock.sleep, clock=clock)
        assert report == DeliveryReport(sent=2, held=3)
        assert [json.loads(r.body)["blocks"][0]["text"]["text"] for r in receiver.requests] == [
            "NATO summit 0", "NATO summit 1",
        ]  # fmt: skip
        # A sixth alert in the same window: the two immediate slots are used up.
        ids += queue(store, [destination], start=T0 + timedelta(minutes=30), first=5)[-1:]
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=31), sleep=clock.sleep, clock=clock)
        assert report == DeliveryReport(held=1)
        # The window ends: one digest of the four held; the next window's first alert goes at once.
        ids += queue(store, [destination], start=T0 + timedelta(minutes=61), first=6)[-1:]
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=62), sleep=clock.sleep, clock=clock)
        assert report == DeliveryReport(sent=2, digests=1)
        immediate, digest = (json.loads(r.body) for r in receiver.requests[2:])  # queued in that order
        assert_within_limits(digest)
        assert digest["blocks"][0]["text"]["text"] == "4 matching stories"
        listed = "\n".join(b["text"]["text"] for b in digest["blocks"] if b["type"] == "section")
        assert [f"NATO summit {n}" in listed for n in range(7)] == [False, False, True, True, True, True, False]
        assert "<https://news.example/world/nato-2|NATO summit 2>" in listed
        assert immediate["blocks"][0]["text"]["text"] == "NATO summit 6"
        assert [row(store, i)["status"] for i in ids] == ["delivered"] * 2 + ["digested"] * 4 + ["delivered"]
        # Paced like any Slack message: a second apart within a send.
        stamps = [r.at for r in receiver.requests]
        assert stamps[1] - stamps[0] >= 1.0 and stamps[3] - stamps[2] >= 1.0


def test_switching_back_to_immediate_sends_what_was_held_as_one_digest(store: Store) -> None:
    with Receiver() as receiver:
        digesting = replace(webhook(receiver), mode="digest", digest_at=("08:00",))
        queue(store, [digesting], count=3, start=T0)
        assert deliver_due(store, [digesting], now=T0 + timedelta(minutes=1)).held == 3
        immediate = webhook(receiver)
        assert deliver_due(store, [immediate], now=T0 + timedelta(minutes=2)) == DeliveryReport(sent=1, digests=1)
        assert json.loads(receiver.requests[0].body)["count"] == 3
