"""The generic webhook: the event as compact JSON, signed per Standard Webhooks v1.

Headers: ``webhook-id`` (the alert id, the receiver's idempotency key, the same on
every retry), ``webhook-timestamp`` (Unix seconds, new on every attempt) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
only when the destination has a secret). ``verify`` is what a receiver runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from monitor import __version__
from monitor.config import signing_key
from monitor.errors import MonitorError

SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 300
USER_AGENT = f"monitor-alerts/{__version__}"


class SignatureError(MonitorError):
    """A webhook failed verification: a missing header, a bad signature or a stale timestamp."""


def render_webhook(event: dict[str, Any]) -> bytes:
    """The request body: the event as is, as compact UTF-8 JSON."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature of one message: ``v1,<base64 HMAC-SHA256>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def webhook_headers(
    msg_id: str,
    body: bytes,
    secret: str | None = None,
    *,
    timestamp: int | None = None,
    user_agent: str = USER_AGENT,
) -> dict[str, str]:
    """The headers of one attempt; ``timestamp`` defaults to now, the signature is left out without a secret."""
    moment = int(time.time()) if timestamp is None else int(timestamp)
    headers = {
        "content-type": "application/json",
        "user-agent": user_agent,
        "webhook-id": msg_id,
        "webhook-timestamp": str(moment),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, msg_id, moment, body)
    return headers


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a received webhook; SignatureError unless one of its signatures matches and it is fresh."""
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance} s away from now")
    try:
        expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    except ValueError as error:
        raise SignatureError(str(error)) from None
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value.encode(), expected.encode()):
            return
    raise SignatureError("no matching signature")
