"""Digests: per destination, alerts sent at once, gathered into one message per window, or both.

A destination's ``mode`` decides what happens to each new alert when a sender runs:

* ``immediate``: it goes out on its own (the default);
* ``digest``: it is ``held`` until its window ends, then all the window's alerts go
  out as one ``alerts.digest`` message;
* ``both``: the first ``immediate_limit`` alerts of a window go out at once, the
  rest are held for the window's digest.

Windows are either every ``digest_every`` (aligned to multiples of it since the Unix
epoch, UTC: every hour on the hour) or between consecutive ``digest_at`` times of
day in ``timezone``. Routing and making a digest are each one transaction, and a
digest row's key names its window and first alert, so two senders never make the
same digest twice. A sender that was down makes one digest for everything held.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.alerts.events import build_digest
from monitor.alerts.pause import message_id
from monitor.config import DestinationSpec, parse_time_of_day
from monitor.store import Store
from monitor.store.outbox import (
    count_routed_immediately,
    has_held_alerts,
    has_unrouted_alerts,
    held_alerts,
    hold_for_digest,
    queue_digest,
    route_immediately,
    unrouted_alert_ids,
)
from monitor.timestamps import iso

DEFAULT_EVERY = 3600  # a digest or both destination with no schedule sends hourly


def window(spec: DestinationSpec, moment: datetime) -> tuple[datetime, datetime]:
    """The digest window of ``spec`` holding ``moment``: ``(start, end)``, start included, in UTC."""
    moment = moment.astimezone(UTC)
    if spec.digest_at:
        zone = ZoneInfo(spec.timezone)
        local = moment.astimezone(zone).date()
        times = [parse_time_of_day(t) for t in spec.digest_at]
        boundaries = sorted(
            datetime.combine(local + timedelta(days=day), at, tzinfo=zone).astimezone(UTC)
            for day in (-1, 0, 1)
            for at in times
        )
        start = max(b for b in boundaries if b <= moment)
        return start, min(b for b in boundaries if b > moment)
    every = spec.digest_every_seconds or DEFAULT_EVERY
    epoch = int(moment.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % every, UTC)
    return start, start + timedelta(seconds=every)


def route_new_alerts(store: Store, spec: DestinationSpec, now: datetime) -> int:
    """Decide, for each new alert of ``spec``, immediate or digest; return how many were held for a digest."""
    if spec.mode == "immediate":
        return 0
    if not has_unrouted_alerts(store, spec.name):
        return 0
    with store.write() as conn:
        new = unrouted_alert_ids(conn, spec.name)
        room = 0
        if spec.mode == "both":
            start, end = window(spec, now)
            sent = count_routed_immediately(conn, spec.name, start, end)
            room = max(spec.immediate_limit - sent, 0)
        route_immediately(conn, new[:room], now)
        hold_for_digest(conn, new[room:], now)
    return len(new[room:])


def make_digest(store: Store, spec: DestinationSpec, now: datetime) -> str | None:
    """Gather the held alerts of every window of ``spec`` that has ended into one digest row; its id, or None.

    A destination switched back to ``immediate`` has its held alerts sent as one digest now.
    """
    if not has_held_alerts(store, spec.name):
        return None
    immediate = spec.mode == "immediate"
    boundary = now if immediate else window(spec, now)[0]
    with store.write() as conn:
        members = held_alerts(conn, spec.name, None if immediate else boundary)
        if not members:
            return None
        first = datetime.fromisoformat(members[0].routed_at)
        start = first if immediate else window(spec, first)[0]
        key = f"digest:{spec.name}|window:{iso(boundary)}|first:{members[0].id}"
        digest_id = message_id("digest", key)
        events = [member.payload for member in members]
        event = build_digest(digest_id, spec.name, iso(start) or "", iso(boundary) or "", events, iso(now) or "")
        queue_digest(conn, digest_id, key, spec.name, event, [member.id for member in members], now)
    return digest_id


def prepare_digests(store: Store, destinations: Iterable[DestinationSpec], now: datetime) -> tuple[int, int]:
    """Route new alerts and make the digests that are due, for every destination; (alerts held, digests made)."""
    held = made = 0
    for spec in destinations:
        held += route_new_alerts(store, spec, now)
        if make_digest(store, spec, now) is not None:
            made += 1
    return held, made
