"""What a failed attempt means: retry when, give up on the message, or pause the destination.

Only a 2xx answer is a delivery; a 3xx is a failure (redirects are never followed).
Failures are retried on ``RETRY_SCHEDULE`` (Standard Webhooks' own, about a day in
all) with +-10% jitter; a ``Retry-After`` on a 429 or 503 (or Discord's
``retry_after`` in a 429 body) is a minimum. Some answers are permanent: the
message is dead-lettered at once. Of those, answers about the *endpoint* (it is
gone, archived, unauthorised) also pause the destination; an answer about the
*message* (400 ``invalid_payload``) does not. A destination whose host resolves only
to internal addresses that are not allowed was not contacted: that is permanent and
about the endpoint, so it is paused too.

Email reads SMTP reply codes: a 4xx (421, 451, 452, 454) is temporary, like a refused
connection or a timeout; a 5xx is permanent. A 5xx to the login (535) or before any
recipient (the greeting, EHLO, ``MAIL FROM``) refuses every message: it also pauses
the destination. One to a recipient (550) or to the message (554) dead-letters only
that message. Apprise reports success or failure, nothing more: every failure of it
is temporary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from monitor.alerts.discord import retry_after_from_body
from monitor.alerts.redact import redact_url, scrub
from monitor.alerts.transport import HttpResult
from monitor.retryafter import retry_after_seconds

# Seconds to wait after failed attempt n (n = 1, 2, ...); the last entry repeats.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.10
MAX_RETRY_AFTER = 86400  # a receiver cannot push an alert back by more than a day at a time
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 410})
ENDPOINT_STATUSES = frozenset({401, 403, 404, 410})  # about the endpoint, not the message: pause it
THROTTLE_STATUSES = frozenset({429, 503})
SLACK_ENDPOINT = frozenset(
    {"no_service", "channel_not_found", "channel_is_archived", "action_prohibited", "invalid_token", "team_disabled"}
)
SLACK_PERMANENT = SLACK_ENDPOINT | {"invalid_payload", "invalid_blocks", "too_many_attachments"}
ERROR_BODY_CHARS = 500  # of a failed answer's body, kept in last_error
SMTP_AUTH_CODES = frozenset({530, 534, 535, 538})  # the login is refused, or needed and not given
# A 5xx at these steps refuses every message, not this one: the server, the TLS setup, the login or the sender.
SMTP_ENDPOINT_STAGES = frozenset({"connect", "helo", "tls", "login", "mail"})


@dataclass(frozen=True)
class Failure:
    """A failed attempt, judged: the text kept in ``last_error`` and what to do next."""

    error: str
    permanent: bool  # dead-letter the message now
    endpoint: bool  # the destination itself is unusable: pause it
    retry_after: float | None  # seconds the receiver asked us to wait, if it did


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based), jittered by +-10%."""
    base = RETRY_SCHEDULE[min(max(attempt, 1), len(RETRY_SCHEDULE)) - 1]
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` asks for (delta seconds or an HTTP date), at most a day; None if unreadable."""
    seconds = retry_after_seconds(value, now)
    return None if seconds is None else min(seconds, float(MAX_RETRY_AFTER))


def judge(kind: str, result: HttpResult, now: datetime, secrets: list[str]) -> Failure:
    """What a failed ``result`` from a ``kind`` destination means; texts scrubbed of ``secrets``."""
    if result.refused:
        return Failure(scrub(result.error or "refused: internal address", secrets), True, True, None)
    if result.error is not None or result.status is None:
        return Failure(scrub(result.error or "no answer", secrets), False, False, None)
    if kind == "email":
        return _judge_smtp(result.status, result.stage, scrub(result.body, secrets)[:ERROR_BODY_CHARS])
    status = result.status
    body = scrub(result.body, secrets)[:ERROR_BODY_CHARS]
    word = body.strip()
    endpoint = status in ENDPOINT_STATUSES or (kind == "slack" and word in SLACK_ENDPOINT)
    permanent = status in PERMANENT_STATUSES or (kind == "slack" and word in SLACK_PERMANENT)
    retry_after = None
    if status in THROTTLE_STATUSES:
        retry_after = parse_retry_after(result.headers.get("retry-after"), now)
        if kind == "discord" and status == 429:
            in_body = retry_after_from_body(result.body)
            if in_body is not None:
                retry_after = min(max(retry_after or 0.0, in_body), float(MAX_RETRY_AFTER))
    if 300 <= status < 400:
        location = result.headers.get("location")
        where = f" to {redact_url(location)}" if location else ""
        error = f"HTTP {status}: redirect{where} not followed" + (f": {body}" if body else "")
    else:
        error = body or f"HTTP {status} with an empty body"
    return Failure(error, permanent, endpoint and permanent, retry_after)


def _judge_smtp(status: int, stage: str, answer: str) -> Failure:
    """An SMTP reply: 4xx is temporary; 5xx permanent, and about the endpoint at login or before the recipients."""
    error = f"SMTP {status} at {stage or 'send'}: {answer or 'no text'}"
    if status < 500:
        return Failure(error, False, False, None)
    return Failure(error, True, status in SMTP_AUTH_CODES or stage in SMTP_ENDPOINT_STAGES, None)
