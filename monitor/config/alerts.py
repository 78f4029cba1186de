"""The ``alerts:`` section of rules.yaml: the threshold and where alerts go, how fast and how gathered."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zoneinfo
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.config.checker import (
    Checker,
    choice,
    node_line,
    or_default,
    value_line,
)
from monitor.config.durations import parse_time_of_day
from monitor.config.model import DELIVERY_MODES, DESTINATION_TYPES, EMAIL_SCHEMES, AlertsSpec, DestinationSpec
from monitor.netpolicy import is_loopback_name, parse_ip

SECRET_PREFIX = "whsec_"  # Standard Webhooks secrets: whsec_<base64>

DESTINATION_KEYS = {
    "name",
    "type",
    "url",
    "secret",
    "timeout",
    "rate_limit",
    "mode",
    "digest_every",
    "digest_at",
    "timezone",
    "immediate_limit",
    "max_attempts",
    "from",
    "to",
    "reply_to",
}
EMAIL_KEYS = ("from", "to", "reply_to")
MIN_DIGEST_EVERY = 60
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


def parse_alerts(check: Checker, root: CommentedMap) -> AlertsSpec:
    defaults = AlertsSpec()
    if "alerts" not in root:
        return defaults
    node = check.mapping(
        root["alerts"], "alerts", value_line(root, "alerts"), {"threshold", "destinations", "max_attempts", "max_age"}
    )
    if node is None:
        return defaults
    destinations: list[DestinationSpec] = []
    items = check.get(node, "destinations", "alerts", check.sequence) if "destinations" in node else None
    seen: set[str] = set()
    for field, entry in check.entries(items, "alerts.destinations", DESTINATION_KEYS):
        spec = _destination(check, entry, field)
        if spec is None:
            continue
        if spec.name in seen:
            check.fail(value_line(entry, "name"), f"{field}.name", f"duplicate destination name {spec.name!r}")
        seen.add(spec.name)
        destinations.append(spec)
    max_attempts = check.get(node, "max_attempts", "alerts", check.integer)
    if max_attempts == 0:
        check.fail(value_line(node, "max_attempts"), "alerts.max_attempts", "must be at least 1")
    return AlertsSpec(
        threshold=or_default(check.get(node, "threshold", "alerts", check.number), defaults.threshold),
        destinations=tuple(destinations),
        max_attempts=max_attempts or defaults.max_attempts,
        max_age_seconds=check.get(node, "max_age", "alerts", check.duration),
    )


def _destination(check: Checker, entry: CommentedMap, field: str) -> DestinationSpec | None:
    """One destination, every field checked; None if its name, type or URL is unusable."""
    name = check.get(entry, "name", field, check.name, required=True)
    kind = check.get(entry, "type", field, choice(check, DESTINATION_TYPES), required=True)
    url = check.get(entry, "url", field, check.secret, required=True)
    secret = check.get(entry, "secret", field, check.secret)
    timeout = check.get(entry, "timeout", field, check.duration, default=15)
    rate_limit = check.get(entry, "rate_limit", field, check.number)
    mode = check.get(entry, "mode", field, choice(check, DELIVERY_MODES), default="immediate") or "immediate"
    every = check.get(entry, "digest_every", field, check.duration)
    at = check.get(entry, "digest_at", field, lambda v, f, line: _times(check, v, f, line))
    zone = check.get(entry, "timezone", field, lambda v, f, line: _zone(check, v, f, line))
    immediate_limit = check.get(entry, "immediate_limit", field, check.integer)
    max_attempts = check.get(entry, "max_attempts", field, check.integer)
    mail_from = check.get(entry, "from", field, lambda v, f, line: _addresses(check, v, f, line, single=True))
    mail_to = check.get(entry, "to", field, lambda v, f, line: _addresses(check, v, f, line, single=False))
    reply_to = check.get(entry, "reply_to", field, lambda v, f, line: _addresses(check, v, f, line, single=False))

    def fail(key: str, message: str) -> None:
        check.fail(value_line(entry, key), f"{field}.{key}", message)

    if kind == "email":
        if url:
            problem = smtp_url_problem(url)
            if problem:
                fail("url", problem)
        for key in ("from", "to"):
            if key not in entry:
                check.fail(node_line(entry), f"{field}.{key}", "is required for email destinations")
    else:
        for key in EMAIL_KEYS:
            if key in entry and kind in DESTINATION_TYPES:
                fail(key, "only for email destinations")
        if kind == "apprise":
            if url:
                problem = apprise_url_problem(url)
                if problem:
                    fail("url", problem)
        elif url and not re.match(r"^https?://[^\s/]+", url):
            fail("url", "must expand to an http:// or https:// URL")
    if secret is not None and kind in DESTINATION_TYPES and kind != "webhook":
        fail("secret", f"{kind} destinations take no secret (only webhook destinations are signed)")
    elif secret:
        try:
            signing_key(secret)
        except ValueError:
            fail("secret", "must expand to a Standard Webhooks secret, whsec_ followed by base64")
    if every is not None and every < MIN_DIGEST_EVERY:
        fail("digest_every", f"must be at least {MIN_DIGEST_EVERY}s")
    if every is not None and "digest_at" in entry:
        fail("digest_at", "give digest_every or digest_at, not both")
    if mode == "immediate":
        for key in ("digest_every", "digest_at", "timezone"):
            if key in entry:
                fail(key, "only for mode digest or both")
    if "immediate_limit" in entry and mode != "both":
        fail("immediate_limit", "only for mode both")
    if max_attempts == 0:
        fail("max_attempts", "must be at least 1")
    if not (name and kind and url is not None):
        return None
    return DestinationSpec(
        name=name,
        type=kind,
        url=url,
        secret=secret or None,
        timeout_seconds=float(timeout or 15),
        line=node_line(entry),
        rate_limit=rate_limit,
        mode=mode,
        digest_every_seconds=every,
        digest_at=at or (),
        timezone=zone or "UTC",
        immediate_limit=3 if immediate_limit is None else immediate_limit,
        max_attempts=max_attempts or None,
        mail_from=(mail_from or ("",))[0],
        mail_to=mail_to or (),
        reply_to=reply_to or (),
    )


def _times(check: Checker, value: Any, field: str, line: int) -> tuple[str, ...] | None:
    """``digest_at``: one time of day or a list of them, each ``HH:MM``."""
    values = list(value) if isinstance(value, CommentedSeq) else [value]
    if not values:
        check.fail(line, field, "must list at least one time of day like 08:00")
        return None
    times: list[str] = []
    for item in values:
        try:
            at = parse_time_of_day(item) if isinstance(item, str) else None
        except ValueError:
            at = None
        if at is None:
            check.fail(line, field, f"must be times of day like 08:00 or 17:30 (quoted), not {item!r}")
            return None
        times.append(at.strftime("%H:%M"))
    return tuple(sorted(set(times)))


def _zone(check: Checker, value: Any, field: str, line: int) -> str | None:
    """``timezone``: an IANA name like ``Europe/Berlin``."""
    if isinstance(value, str) and value.strip():
        try:
            zoneinfo.ZoneInfo(value.strip())
            return value.strip()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    check.fail(line, field, f"must be a time zone like UTC or Europe/Berlin, not {value!r}")
    return None


def _addresses(check: Checker, value: Any, field: str, line: int, *, single: bool) -> tuple[str, ...] | None:
    """``from`` (one address), ``to`` and ``reply_to`` (one or a list): ``desk@example.org`` or ``Desk <desk@…>``."""
    if single and isinstance(value, CommentedSeq):
        check.fail(line, field, "must be one address like monitor@example.org or 'Monitor <monitor@example.org>'")
        return None
    items = list(value) if isinstance(value, CommentedSeq) else [value]
    if not items:
        check.fail(line, field, "must list at least one address")
        return None
    found: list[str] = []
    for item in items:
        text = check.string(item, field, line)
        if text is None:
            return None
        address = mail_address(text)
        if address is None:
            what = "one address" if single else "addresses"
            check.fail(line, field, f"must be {what} like desk@example.org or 'Desk <desk@example.org>', not {text!r}")
            return None
        found.append(address)
    return tuple(dict.fromkeys(found))


def mail_address(text: str) -> str | None:
    """``text`` as one well-formed mail address (``Name <local@domain>`` or ``local@domain``), or None."""
    if any(char in text for char in "\r\n\0") or len(getaddresses([text])) != 1:
        return None
    name, address = parseaddr(text)
    if not _ADDRESS.fullmatch(address) or "," in address:
        return None
    return formataddr((name, address)) if name else address


def smtp_url_problem(url: str) -> str | None:
    """What is wrong with an email destination's URL (``smtp://USER:PASSWORD@HOST:PORT``), or None."""
    try:
        parts = urlsplit(url)
        host, port, user, password = parts.hostname, parts.port, parts.username, parts.password
    except ValueError:
        return "must expand to a URL like smtp://USER:PASSWORD@smtp.example.org:587"
    if parts.scheme not in EMAIL_SCHEMES or not host:
        return (
            "must expand to smtp://[USER:PASSWORD@]HOST[:PORT] (STARTTLS), smtps://… (TLS) or smtp+plain://… (no TLS)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must name only the server and the login: no path, query or fragment"
    if port == 0:
        return "has port 0"
    if (user is None) != (password is None) or (user == "" and password):
        return "gives a login without a password, or a password without a login (USER:PASSWORD@)"
    address = parse_ip(host)
    loopback = is_loopback_name(host) or (address is not None and address.is_loopback)
    if parts.scheme == "smtp+plain" and password is not None and not loopback:
        return "smtp+plain:// would send the password in clear text: use smtp:// (STARTTLS) or smtps:// (TLS)"
    return None


def apprise_url_problem(url: str) -> str | None:
    """What is wrong with an apprise destination's URL (one Apprise can use, not http(s)), or None."""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        return "must expand to an Apprise URL like tgram://TOKEN/CHAT or ntfys://ntfy.example.org/topic"
    import apprise  # here, not at the top: it loads its ~100 services, only for configurations that use it

    quiet = logging.getLogger("apprise")
    muted = quiet.disabled
    quiet.disabled = True  # Apprise logs the URL it cannot parse, and the URL is a credential
    try:
        plugin = apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(storage_mode="memory"))
    finally:
        quiet.disabled = muted
    if plugin is None:
        scheme = url.split("://", 1)[0]
        return f"is not an Apprise URL it can use ({scheme}://…: unknown service, or a malformed URL)"
    return None


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ValueError (never quoting it) if it is not base64."""
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret is not valid base64 (expected whsec_<base64>)") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key
