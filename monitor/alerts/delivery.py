"""Deliver due alerts: claim them, render, post under a hard deadline, record the outcome.

Only a 2xx answer is a delivery; redirects are not followed (a 3xx is a failure).
Failures are retried on ``RETRY_SCHEDULE`` with +-10% jitter, ``Retry-After`` on a
429 or 503 is honoured as a minimum, and permanent answers (``PERMANENT_STATUSES``,
Slack's ``SLACK_PERMANENT`` bodies) dead-letter the alert at once, as does the last
allowed attempt. Each attempt has one deadline covering connect, headers and body:
a watchdog shuts the socket down when it passes, so a receiver that trickles a byte
a second is cut off like one that hangs. Sends to one Slack webhook are paced to one
a second. Destinations are named in logs, never shown: their URLs are credentials.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from monitor.alerts.redact import protect_logs, redact_url, scrub, sensitive_parts
from monitor.alerts.slack import render_slack
from monitor.alerts.webhook import USER_AGENT, render_webhook, webhook_headers
from monitor.outbox import ClaimedAlert, claim_due, mark_delivered, mark_failed, release
from monitor.settings import DESTINATION_TYPES, DestinationSpec
from monitor.store import Store, iso, utcnow

log = logging.getLogger("monitor.alerts")

# Seconds to wait after failed attempt n (n = 1, 2, ...); the last entry repeats.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.10
MAX_RETRY_AFTER = 86400  # a receiver cannot push an alert back by more than a day at a time
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 410})
SLACK_PERMANENT = frozenset(
    {"invalid_payload", "no_service", "channel_not_found", "channel_is_archived", "action_prohibited"}
)
THROTTLE_STATUSES = frozenset({429, 503})
# Answers about the endpoint rather than the message: the rest of its alerts wait for the next run.
ENDPOINT_STATUSES = frozenset({401, 403, 404, 410})
SLACK_INTERVAL = 1.0  # seconds between two messages to one Slack webhook
ERROR_BODY_CHARS = 500  # of a failed answer's body, kept in last_error
READ_LIMIT = 16 * 1024  # bytes of an answer read at most
BATCH = 10  # alerts claimed at a time; small, so a claim's lease stays short


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver_due`` call did: delivered, failed (will retry), dead-lettered, left pending."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class HttpResult:
    """The answer to one POST, or why there was none (``error`` set, ``status`` maybe None)."""

    status: int | None
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based), jittered by +-10%."""
    base = RETRY_SCHEDULE[min(max(attempt, 1), len(RETRY_SCHEDULE)) - 1]
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` asks for (delta seconds or an HTTP date), at most a day; None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(min(int(text), MAX_RETRY_AFTER))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), float(MAX_RETRY_AFTER))


# The deadline watchdog. As urllib3 opens a socket or starts a request on a kept-alive
# connection, it is registered with the current attempt's watchdog; when the deadline
# passes, the watchdog shuts those sockets down, which wakes any blocked send or recv
# in the sending thread at once. Sockets are held as well as connections because
# http.client drops ``conn.sock`` once a closing response owns the socket.
_CURRENT: ContextVar[_Watchdog | None] = ContextVar("monitor_alerts_watchdog", default=None)


class _Watchdog:
    """Cuts every socket of one attempt when the attempt's deadline passes."""

    def __init__(self, seconds: float):
        self._lock = threading.Lock()
        self._watched: list[Any] = []  # sockets, and connections whose socket is cut
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join()

    def watch(self, item: Any) -> None:
        with self._lock:
            self._watched.append(item)
            fired = self.fired
        if fired:
            _cut(item)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            watched = list(self._watched)
        for item in watched:
            _cut(item)


def _cut(item: Any) -> None:
    """Shut a socket (or a connection's socket) down; not close it: the sending thread owns the descriptor."""
    sock = item if isinstance(item, socket.socket) else getattr(item, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


def _watch(item: Any) -> None:
    watchdog = _CURRENT.get()
    if watchdog is not None:
        watchdog.watch(item)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # cuts a slow TLS handshake only once it is done; the connect timeout bounds it meanwhile
        return sock

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)  # the TLS socket that replaced the raw one


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch(conn)  # a kept-alive connection opened during an earlier attempt
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch(conn)
        return super()._make_request(conn, *args, **kwargs)


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections a per-attempt deadline can cut (SOCKS proxies excepted)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def make_session() -> requests.Session:
    """A requests Session fit for delivery: deadline-aware adapters for http and https."""
    session = requests.Session()
    use_deadlines(session)
    return session


def use_deadlines(session: requests.Session) -> None:
    """Mount ``DeadlineAdapter`` on ``session`` for http and https, unless it already has it."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), DeadlineAdapter):
            session.mount(prefix, DeadlineAdapter())


def post(session: requests.Session, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpResult:
    """POST ``body`` to ``url`` within ``timeout`` seconds in all; never raises for network trouble.

    The answer's status, headers and first ``READ_LIMIT`` bytes are returned. Error
    texts never quote the URL (requests' own messages do, so they are not used).
    """
    started = time.monotonic()
    watchdog = _Watchdog(timeout)
    token = _CURRENT.set(watchdog)
    watchdog.start()
    response: requests.Response | None = None
    status: int | None = None
    answer_headers: Mapping[str, str] = {}
    chunks: list[bytes] = []
    error: str | None = None
    try:
        response = session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        status, answer_headers = response.status_code, response.headers
        size = 0
        for chunk in response.iter_content(chunk_size=1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= READ_LIMIT or watchdog.fired or time.monotonic() - started > timeout:
                break
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        error = describe_error(exc)
    finally:
        watchdog.stop()
        _CURRENT.reset(token)
        if response is not None:
            response.close()
    seconds = time.monotonic() - started
    if watchdog.fired or seconds > timeout:
        error = f"no complete answer within the {timeout:g} s deadline"
    text = b"".join(chunks).decode("utf-8", "replace")
    return HttpResult(status, text, answer_headers, error, seconds)


def describe_error(exc: BaseException) -> str:
    """A one-line description of a network failure that never quotes the URL."""
    kinds: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (requests.exceptions.ConnectTimeout, "connection timed out"),
        (requests.exceptions.Timeout, "timed out"),
        (requests.exceptions.SSLError, "TLS error"),
        (requests.exceptions.ProxyError, "proxy error"),
        (
            (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema),
            "invalid destination URL",
        ),
        ((requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError), "unreadable answer"),
        (requests.exceptions.ConnectionError, "connection failed"),
    ]
    kind = next((text for types, text in kinds if isinstance(exc, types)), type(exc).__name__)
    cause = _root_os_error(exc)
    return f"{kind} ({cause})" if cause else kind


def _root_os_error(exc: BaseException) -> str:
    """The deepest plain OS error behind ``exc`` (like "Connection refused"), or ""."""
    found = ""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack and len(seen) < 32:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # Only the interpreter's own OSErrors: urllib3's subclasses carry the connection in their args.
        if isinstance(current, OSError) and type(current).__module__ == "builtins" and current.strerror:
            found = current.strerror
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        stack.extend(item for item in nested if isinstance(item, BaseException))
    return found


def _ceil_second(moment: datetime) -> datetime:
    """``moment`` rounded up to the store's one-second resolution, so a retry is never early."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


class _Sender:
    """One ``deliver_due`` run: the counters, the Slack pacing and the destinations backing off."""

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
        self.last_slack_send: dict[str, float] = {}
        self.backing_off: set[str] = set()
        self.held: list[str] = []
        self.sent = self.failed = self.dead = self.skipped = 0

    def now(self) -> datetime:
        return self.fixed_now if self.fixed_now is not None else utcnow()

    def run(self) -> DeliveryReport:
        # Claim with one moment for the whole run, so an alert that fails now is not due again in this run.
        moment = self.now()
        slowest = max((d.timeout_seconds for d in self.by_name.values()), default=15.0)
        lease = math.ceil(BATCH * (slowest + SLACK_INTERVAL + 1) + 30)
        try:
            while batch := claim_due(self.store, moment, limit=BATCH, lease_seconds=lease):
                for index, alert in enumerate(batch):
                    try:
                        self.deliver(alert)
                    except BaseException:
                        release(self.store, [a.id for a in batch[index + 1 :]])
                        raise
        finally:
            # Skipped alerts stayed claimed until now so this run would not claim them again.
            release(self.store, self.held)
        return DeliveryReport(self.sent, self.failed, self.dead, self.skipped)

    def skip(self, alert: ClaimedAlert, reason: str) -> None:
        self.held.append(alert.id)
        self.skipped += 1
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
        if alert.attempts > self.max_attempts:  # its senders kept dying mid-send
            self.give_up(alert, None, f"gave up after {self.max_attempts} attempts", "attempts exhausted")
            return
        try:
            body, headers = render(destination, alert)
        except ValueError as error:  # a bad signing secret: the configuration's fault, not the alert's
            self.backing_off.add(destination.name)
            self.skip(alert, f"cannot sign: {error}")
            return
        if destination.type == "slack":
            self.pace(destination.name)
        result = post(self.session, destination.url, body, headers, destination.timeout_seconds)
        if destination.type == "slack":
            self.last_slack_send[destination.name] = self.clock()
        self.record(alert, destination, result)

    def pace(self, name: str) -> None:
        """Wait until a second has passed since the last message to this Slack webhook ended."""
        last = self.last_slack_send.get(name)
        if last is not None:
            wait = last + SLACK_INTERVAL - self.clock()
            if wait > 0:
                self.sleep(wait)

    def record(self, alert: ClaimedAlert, destination: DestinationSpec, result: HttpResult) -> None:
        """Mark the alert delivered, to retry or dead, and log the attempt."""
        moment = self.now()
        status = result.status
        if result.error is None and status is not None and 200 <= status < 300:
            mark_delivered(self.store, alert.id, status, moment)
            self.sent += 1
            log.info(
                "alert=%s destination=%s attempt=%d status=%s outcome=delivered (%.2f s)",
                alert.id, destination.name, alert.attempts, status, result.seconds,
            )  # fmt: skip
            return
        error, permanent, retry_after = self.failure(destination, result, moment)
        if status in ENDPOINT_STATUSES:
            self.backing_off.add(destination.name)
        if permanent:
            self.give_up(alert, status, error, "permanent failure", destination.name)
            return
        if alert.attempts >= self.max_attempts:
            self.give_up(alert, status, error, f"{alert.attempts} attempts failed", destination.name)
            return
        delay = max(retry_delay(alert.attempts), retry_after or 0.0)
        next_at = _ceil_second(moment + timedelta(seconds=delay))
        mark_failed(self.store, alert.id, status_code=status, error=error, next_attempt_at=next_at, now=moment)
        self.failed += 1
        if status is None or status in THROTTLE_STATUSES:
            self.backing_off.add(destination.name)
        log.warning(
            "alert=%s destination=%s attempt=%d status=%s outcome=retry at %s: %s",
            alert.id, destination.name, alert.attempts, status or "-", iso(next_at), _one_line(error),
        )  # fmt: skip

    def give_up(
        self, alert: ClaimedAlert, status: int | None, error: str, reason: str, name: str | None = None
    ) -> None:
        mark_failed(self.store, alert.id, status_code=status, error=error, next_attempt_at=None, now=self.now())
        self.dead += 1
        log.error(
            "alert=%s destination=%s attempt=%d status=%s outcome=dead (%s): %s",
            alert.id, name or alert.destination, alert.attempts, status or "-", reason, _one_line(error),
        )  # fmt: skip

    def failure(
        self, destination: DestinationSpec, result: HttpResult, moment: datetime
    ) -> tuple[str, bool, float | None]:
        """What went wrong (for last_error), whether it is permanent, and any Retry-After in seconds."""
        if result.error is not None or result.status is None:
            return scrub(result.error or "no answer", self.secrets), False, None
        status = result.status
        body = scrub(result.body, self.secrets)[:ERROR_BODY_CHARS]
        permanent = status in PERMANENT_STATUSES or (destination.type == "slack" and body.strip() in SLACK_PERMANENT)
        retry_after = None
        if status in THROTTLE_STATUSES:
            retry_after = parse_retry_after(result.headers.get("retry-after"), moment)
        if 300 <= status < 400:
            location = result.headers.get("location")
            where = f" to {redact_url(location)}" if location else ""
            error = f"HTTP {status}: redirect{where} not followed" + (f": {body}" if body else "")
        else:
            error = body or f"HTTP {status} with an empty body"
        return error, permanent, retry_after


def render(destination: DestinationSpec, alert: ClaimedAlert) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt at ``alert`` (a new webhook timestamp each time)."""
    if destination.type == "slack":
        body = json.dumps(render_slack(alert.payload), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return body, {"content-type": "application/json", "user-agent": USER_AGENT}
    body = render_webhook(alert.payload)
    return body, webhook_headers(alert.id, body, destination.secret)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


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
    """Send every due alert once (see the module docstring); returns what happened.

    ``session`` gets deadline-aware adapters mounted; without one a Session is made
    and closed here. ``now`` fixes the time (tests drive the schedule with it);
    ``sleep`` and ``clock`` pace Slack sends.
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
