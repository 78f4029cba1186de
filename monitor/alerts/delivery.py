"""Deliver what the outbox owes: make due digests, claim messages, render, post, record the outcome.

One ``deliver_due`` call routes new alerts (immediate or digest, see ``digest``),
makes the digests whose window has ended, then claims due messages in small
batches, oldest first, and makes one attempt at each under a hard deadline
(``transport.post``; ``smtp.send_mail`` for email, ``apprise.notify`` for Apprise).
``policy.judge`` says what a failure means: retry later
(the message stays at the head of its destination's queue, so the destination
gets one request per retry interval, not one per alert, and gets its messages in
order once it answers again), dead-letter it, or also pause the destination and
tell the operator through the others (``pause``). The last allowed attempt's
failure dead-letters the message and pauses its destination too: its other
alerts wait there, nothing is lost. Sends to one destination are paced to its
``rate_limit``. Destinations are named in logs, never shown: their URLs are credentials.
A destination whose host resolves only to internal addresses (``monitor.netpolicy``) is
not contacted: its message is dead-lettered and the destination paused.

Each claim records the sending process (host, pid, start time). A sender that dies
mid-send leaves its messages claimed: the next ``deliver_due`` on the same host sees
that process gone and re-sends them at once, rather than after their lease. An
attempt is counted when its post starts, not when its batch is claimed: the rest of
a killed sender's batch is not charged for the post it died in.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import requests

from monitor.alerts.apprise import notify
from monitor.alerts.digest import prepare_digests
from monitor.alerts.events import sample_event
from monitor.alerts.pause import pause_destination
from monitor.alerts.policy import Failure, judge, retry_delay
from monitor.alerts.redact import protect_logs, scrub, sensitive_parts
from monitor.alerts.render import Mail, Note, Outgoing, render
from monitor.alerts.smtp import send_mail
from monitor.alerts.transport import HttpResult, post
from monitor.config import DESTINATION_TYPES, DestinationSpec
from monitor.deadlines import make_session, use_deadlines
from monitor.netpolicy import NetworkPolicy
from monitor.store import Store
from monitor.store.outbox import (
    ClaimedAlert,
    ClaimOwner,
    claim_due,
    claim_owners,
    expire_claims,
    mark_delivered,
    mark_failed,
    release,
    start_attempt,
)
from monitor.timestamps import iso, utcnow

log = logging.getLogger("monitor.alerts")

BATCH = 10  # messages claimed at a time; small, so a claim's lease stays short
_PROC = Path("/proc")


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver_due`` call did.

    ``sent``, ``failed`` (will retry) and ``dead`` count attempts' outcomes;
    ``skipped`` messages were left for later (destination unconfigured, paused or
    failing in this run); ``held`` alerts were set aside for a digest, ``digests``
    made, and ``paused`` destinations paused by this call.
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    held: int = 0
    digests: int = 0
    paused: int = 0


def _ceil_second(moment: datetime) -> datetime:
    """``moment`` rounded up to the store's one-second resolution, so a retry is never early."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def _judged(destination: DestinationSpec, result: HttpResult, moment: datetime, secrets: list[str]) -> Failure:
    """What a failed attempt means; an email refused for now for some recipients is retried for them alone."""
    if not result.deferred:
        return judge(destination.type, result, moment, secrets)
    owed = ", ".join(result.deferred)
    error = f"refused for now for {owed} (retried for them alone): SMTP {result.status} at {result.stage}: "
    return Failure(error + scrub(result.body, secrets), False, False, None)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


class _Sender:
    """One ``deliver_due`` run: its counters, each destination's pacing, and those failing in this run."""

    def __init__(
        self,
        store: Store,
        destinations: Sequence[DestinationSpec],
        *,
        max_attempts: int,
        now: datetime | None,
        session: requests.Session,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ):
        self.store = store
        self.by_name = {d.name: d for d in destinations if d.enabled and d.type in DESTINATION_TYPES}
        for unknown in (d for d in destinations if d.type not in DESTINATION_TYPES):
            log.error("destination=%s has unknown type %r: its alerts stay pending", unknown.name, unknown.type)
        self.secrets = [part for d in destinations for part in sensitive_parts(d.url, d.secret)]
        self.max_attempts = max_attempts
        self.fixed_now = now
        self.session = session
        self.sleep = sleep
        self.clock = clock
        self.last_send: dict[str, float] = {}
        self.backing_off: set[str] = set()
        self.held: list[str] = []
        self.owner = this_process()
        self.counts = dict.fromkeys(("sent", "failed", "dead", "skipped", "held", "digests", "paused"), 0)

    def now(self) -> datetime:
        return self.fixed_now if self.fixed_now is not None else utcnow()

    def run(self) -> DeliveryReport:
        # One moment for the whole run's claims, so a message that fails now is not due again in this run.
        moment = self.now()
        self.reclaim(moment)
        self.counts["held"], self.counts["digests"] = prepare_digests(self.store, self.by_name.values(), moment)
        slowest = max((d.timeout_seconds + _interval(d) for d in self.by_name.values()), default=15.0)
        lease = math.ceil(BATCH * (slowest + 1) + 30)
        started = self.clock()
        try:
            # A lease runs from when its batch is claimed, not from the run's start: a long, paced run
            # must not hand out leases that have already expired.
            while batch := claim_due(
                self.store, moment, limit=BATCH, lease_seconds=lease + self.clock() - started, owner=self.owner
            ):
                for index, alert in enumerate(batch):
                    try:
                        self.deliver(alert)
                    except BaseException:
                        release(self.store, [a.id for a in batch[index + 1 :]])
                        raise
        finally:
            # Skipped messages stayed claimed until now so this run would not claim them again.
            release(self.store, self.held)
        return DeliveryReport(**self.counts)

    def reclaim(self, moment: datetime) -> None:
        """End the leases of the senders on this host that died mid-send: their messages are due now."""
        if self.owner is None:
            return
        for owner in claim_owners(self.store, self.owner.host, moment):
            if owner != self.owner and process_gone(owner):
                freed = expire_claims(self.store, owner, moment)
                if freed:
                    log.warning(
                        "sender pid %d died mid-send: its %d claimed message(s) are due again", owner.pid, freed
                    )

    def skip(self, alert: ClaimedAlert, reason: str) -> None:
        self.held.append(alert.id)
        self.counts["skipped"] += 1
        log.info("alert=%s destination=%s outcome=skipped (%s)", alert.id, alert.destination, reason)

    def deliver(self, alert: ClaimedAlert) -> None:
        """Make one attempt at ``alert`` and record how it went."""
        destination = self.by_name.get(alert.destination)
        if destination is None:
            self.skip(alert, "destination not configured or disabled")
            return
        if destination.name in self.backing_off:
            self.skip(alert, "destination failed earlier in this run")
            return
        limit = destination.max_attempts or self.max_attempts
        if alert.attempts > limit:  # its senders kept dying mid-send
            self.give_up(alert, destination, None, f"gave up after {limit} attempts", "attempts exhausted", False)
            return
        try:
            outgoing = render(destination, alert.id, alert.payload)
            if isinstance(outgoing, Mail) and alert.recipients_left is not None:
                outgoing = replace(outgoing, recipients=alert.recipients_left)  # the others have it already
        except ValueError as error:  # a bad signing secret: the configuration's fault, not the alert's
            self.backing_off.add(destination.name)
            self.skip(alert, f"cannot render: {error}")
            return
        self.pace(destination)
        attempts = start_attempt(self.store, alert.id)
        if attempts is None:  # its lease ran out meanwhile and another sender dealt with it
            log.info("alert=%s destination=%s outcome=skipped (no longer claimed)", alert.id, alert.destination)
            return
        alert = replace(alert, attempts=attempts)
        result = attempt(self.session, destination, outgoing)
        self.last_send[destination.name] = self.clock()
        self.record(alert, destination, result, limit)

    def pace(self, destination: DestinationSpec) -> None:
        """Wait until the destination's interval has passed since the last message to it ended."""
        last = self.last_send.get(destination.name)
        if last is not None:
            wait = last + _interval(destination) - self.clock()
            if wait > 0:
                self.sleep(wait)

    def record(self, alert: ClaimedAlert, destination: DestinationSpec, result: HttpResult, limit: int) -> None:
        """Mark the message delivered, to retry or dead (pausing its destination if need be), and log it."""
        moment = self.now()
        status = result.status
        if result.delivered:
            mark_delivered(self.store, alert.id, status, moment)  # Apprise gives no status: NULL
            self.counts["sent"] += 1
            log.info(
                "alert=%s destination=%s attempt=%d status=%s outcome=delivered (%.2f s)",
                alert.id, destination.name, alert.attempts, status or "-", result.seconds,
            )  # fmt: skip
            return
        failure = _judged(destination, result, moment, self.secrets)
        if failure.permanent:
            self.give_up(alert, destination, status, failure.error, "permanent failure", failure.endpoint)
            return
        # Some recipients took it (this attempt, or one before): the destination works, and the retries
        # go to the others alone without holding its newer messages back.
        others_took_it = bool(result.deferred) or alert.recipients_left is not None
        if alert.attempts >= limit:  # the destination keeps failing: paused, unless others took this one
            self.give_up(alert, destination, status, failure.error, f"{alert.attempts} attempts failed",
                         not others_took_it)  # fmt: skip
            return
        delay = max(retry_delay(alert.attempts), failure.retry_after or 0.0)
        next_at = _ceil_second(moment + timedelta(seconds=delay))
        mark_failed(self.store, alert.id, status_code=status, error=failure.error, next_attempt_at=next_at,
                    now=moment, recipients_left=result.deferred or None)  # fmt: skip
        self.counts["failed"] += 1
        if not result.deferred:
            self.backing_off.add(destination.name)  # its newer messages wait behind this one, in order
        log.warning(
            "alert=%s destination=%s attempt=%d status=%s outcome=retry at %s: %s",
            alert.id, destination.name, alert.attempts, status or "-", iso(next_at), _one_line(failure.error),
        )  # fmt: skip

    def give_up(
        self,
        alert: ClaimedAlert,
        destination: DestinationSpec,
        status: int | None,
        error: str,
        reason: str,
        pause: bool,
    ) -> None:
        """Dead-letter ``alert``; with ``pause``, pause its destination and tell the operator once."""
        moment = self.now()
        mark_failed(self.store, alert.id, status_code=status, error=error, next_attempt_at=None, now=moment)
        self.counts["dead"] += 1
        log.error(
            "alert=%s destination=%s attempt=%d status=%s outcome=dead (%s): %s",
            alert.id, destination.name, alert.attempts, status or "-", reason, _one_line(error),
        )  # fmt: skip
        if not pause:
            return
        self.backing_off.add(destination.name)
        why = f"{reason}: {_one_line(error)}"
        others = [name for name in self.by_name if name != destination.name]
        if pause_destination(self.store, destination.name, reason=why, status=status, now=moment, notify=others):
            self.counts["paused"] += 1
            log.error(
                "destination=%s paused (%s); its alerts wait in the outbox; the other destinations are told;"
                " `monitor alerts resume %s` resumes it",
                destination.name, why, destination.name,
            )  # fmt: skip


def this_process() -> ClaimOwner | None:
    """This process as the owner of the claims it makes; None where processes cannot be told apart (no /proc)."""
    try:
        # A pid means one process only within one host and pid namespace (a container has its own).
        host = f"{socket.gethostname()} {os.readlink(_PROC / 'self' / 'ns' / 'pid')}"
        started = _start_time(os.getpid())
    except (OSError, ValueError, IndexError):
        return None
    return None if started is None else ClaimOwner(host, os.getpid(), started)


def process_gone(owner: ClaimOwner) -> bool:
    """Whether the process that made claims on this host has ended (its pid gone, or now another process's)."""
    if owner.pid <= 0:
        return False
    try:
        return _start_time(owner.pid) != owner.started
    except FileNotFoundError:
        pass
    except (OSError, ValueError, IndexError):
        return False  # it may still be sending: its lease decides
    try:
        os.kill(owner.pid, 0)  # /proc may hide other users' processes (hidepid)
    except ProcessLookupError:
        return True
    except OSError:
        pass
    return False


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (this boot's id, clock ticks since boot); None once it has ended (a zombie)."""
    stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text(encoding="ascii").strip()
    # Its name, in parentheses, may hold spaces; the fields after it start at the state (field 3).
    state, *fields = stat[stat.rindex(")") + 2 :].split()
    if state in ("Z", "X"):
        return None
    return f"{boot} {fields[18]}"  # field 22, starttime


def attempt(session: requests.Session, destination: DestinationSpec, outgoing: Outgoing | Mail | Note) -> HttpResult:
    """One attempt at sending ``outgoing`` to ``destination``: a POST, an email or an Apprise notification."""
    policy = network_policy(destination)
    timeout = destination.timeout_seconds
    if isinstance(outgoing, Mail):
        return send_mail(outgoing.server, outgoing.message, outgoing.recipients, timeout, policy)
    if isinstance(outgoing, Note):
        return notify(outgoing.url, outgoing.title, outgoing.body, timeout, policy)
    return post(session, outgoing.url, outgoing.body, outgoing.headers, timeout, policy)


def network_policy(destination: DestinationSpec) -> NetworkPolicy:
    """Where ``destination`` may be reached: public addresses, its own URL's, and the allowed internal networks."""
    return NetworkPolicy.of(destination.allow_private_networks, destination.url)


def _interval(destination: DestinationSpec) -> float:
    """Seconds between two messages to ``destination`` (0 when it is unpaced)."""
    rate = destination.messages_per_second
    return 1.0 / rate if rate else 0.0


@dataclass(frozen=True)
class SampleOutcome:
    """How a sample alert sent by ``send_sample`` fared; ``error`` never quotes the URL."""

    delivered: bool
    status: int | None
    seconds: float
    error: str | None = None
    permanent: bool = False  # the destination would be paused by this answer


def send_sample(
    destination: DestinationSpec, *, now: datetime | None = None, session: requests.Session | None = None
) -> SampleOutcome:
    """Post a sample alert (``"test": true``) to ``destination`` now, outside the outbox, and say how it went."""
    moment = now or utcnow()
    secrets = sensitive_parts(destination.url, destination.secret)
    protect_logs(secrets)
    event = sample_event(f"test_{uuid.uuid4().hex[:26]}", iso(moment) or "")
    try:
        outgoing = render(destination, event["id"], event)
    except ValueError as error:
        return SampleOutcome(False, None, 0.0, f"cannot render: {error}")
    http = session if session is not None else make_session()
    use_deadlines(http)
    try:
        result = attempt(http, destination, outgoing)
    finally:
        if session is None:
            http.close()
    if result.delivered:
        return SampleOutcome(True, result.status, result.seconds)
    failure = _judged(destination, result, moment, secrets)
    return SampleOutcome(False, result.status, result.seconds, failure.error, failure.endpoint)


def deliver_due(
    store: Store,
    destinations: Sequence[DestinationSpec],
    *,
    max_attempts: int = 8,
    now: datetime | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Send every due message once (see the module docstring); returns what happened.

    ``max_attempts`` applies to destinations without their own. ``session`` gets
    deadline-aware adapters mounted; without one a Session is made and closed here.
    ``now`` fixes the time (tests drive the schedule with it); ``sleep`` and
    ``clock`` pace the sends.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    protect_logs(part for d in destinations for part in sensitive_parts(d.url, d.secret))
    http = session if session is not None else make_session()
    use_deadlines(http)
    try:
        sender = _Sender(
            store, destinations, max_attempts=max_attempts, now=now, session=http, sleep=sleep, clock=clock
        )
        return sender.run()
    finally:
        if session is None:
            http.close()
