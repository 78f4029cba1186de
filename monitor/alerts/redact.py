"""Keep destination URLs and signing secrets out of logs, messages and output.

A Slack or webhook URL is a credential: anyone who has it can post. Everywhere a
destination is mentioned, show ``redact_url(url)`` (scheme and host only); any
text that may quote a URL (exception messages, response bodies) goes through
``scrub`` first. ``SecretFilter`` does the same for third-party loggers such as
urllib3's, whose debug lines quote the request path.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

REDACTED = "…redacted"
TOKEN_CHARS = 8  # a path part or query value of a non-http URL this long may be a token


def redact_url(url: str) -> str:
    """``url`` with only its scheme, host and port kept: ``https://hooks.slack.com/…redacted``.

    Outside http(s) (Apprise's ``tgram://TOKEN/CHAT``, ``ntfy://TOPIC``), the "host" is often a
    token: it is kept only when it reads as a server (a dotted name, an IP address, localhost).
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except (ValueError, AttributeError):
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    if parts.scheme not in ("http", "https") and not reads_as_server(host):
        return f"{parts.scheme}://{REDACTED}"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}/{REDACTED}"


def sensitive_parts(url: str, secret: str | None = None) -> list[str]:
    """The substrings of a destination that must never be shown: the URL, its path, query, credentials and secret."""
    parts: list[str] = []
    if url:
        parts.append(url)
        try:
            split = urlsplit(url)
            password = split.password
        except ValueError:
            split, password = None, None
        if split is not None:
            tail = split.path + (f"?{split.query}" if split.query else "")
            if len(tail) > 1:  # a bare "/" hides nothing and would mangle every message
                parts.append(tail)
            if len(split.path) > 1:
                parts.append(split.path)
            if split.query:
                parts.append(split.query)
        if split is not None and password is not None:
            parts.extend(basic_credentials(split.username or "", password))
    if secret:
        parts.append(secret)
        if secret.startswith("whsec_") and len(secret) > len("whsec_"):
            parts.append(secret[len("whsec_") :])
    if url and "://" in url and not url.lower().startswith(("http://", "https://")):
        parts.extend(_token_parts(url))
    return parts


def _token_parts(url: str) -> list[str]:
    """The parts of a non-http URL (Apprise's, SMTP's) that may be tokens: its login and host, long path parts."""
    netloc, _, rest = url.split("://", 1)[1].partition("/")
    login, _, host = netloc.rpartition("@")
    found = [netloc] if login else []
    found += [piece for piece in login.split(":") if len(piece) >= TOKEN_CHARS]
    if not reads_as_server(host.rsplit(":", 1)[0] if host.count(":") == 1 else host):
        found.append(host)
    path, _, query = rest.partition("?")
    found += [piece for piece in path.split("/") if len(piece) >= TOKEN_CHARS]
    found += [value for pair in query.split("&") for value in pair.split("=")[1:] if len(value) >= TOKEN_CHARS]
    return [unquote(piece) for piece in found] + found


def reads_as_server(host: str) -> bool:
    """Whether ``host`` reads as a server, not a token: a dotted name, an IP address or localhost."""
    name = host.strip("[]").lower()
    return "." in name or ":" in name or name == "localhost"


def basic_credentials(username: str, password: str) -> list[str]:
    """The forms a URL's ``user:password`` takes on the wire: the password, and its ``Authorization: Basic`` token."""
    # Clients send a URL's credentials percent-decoded and base64-encoded (requests as Latin-1, others as
    # UTF-8): a receiver that echoes the request's headers quotes that token, not the URL.
    user, secret = unquote(username), unquote(password)
    forms = [password, secret]
    for encoding in ("latin-1", "utf-8"):
        try:
            token = base64.b64encode(f"{user}:{secret}".encode(encoding)).decode("ascii")
        except UnicodeEncodeError:
            continue
        forms += [token, token.replace("/", "\\/")]  # and as JSON that escapes "/" quotes it
    return [form for form in dict.fromkeys(forms) if form]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` replaced (whole URLs by their redacted form)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret in text:
            replacement = redact_url(secret) if "://" in secret else REDACTED
            text = text.replace(secret, replacement)
    return text


class SecretFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from every record passing through it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secrets to scrub (they stay registered: there are only a few destinations)."""
        with self._lock:
            self._secrets = self._secrets | {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place if its message quotes a secret; never drop it."""
        secrets = self._secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report, not ours
            return True
        cleaned = scrub(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = SecretFilter()
# Apprise logs the URLs it posts to and the ones it cannot parse.
_FILTERED_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests", "apprise")
_installed = False
_install_lock = threading.Lock()


def protect_logs(secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` from the HTTP libraries' own log lines (urllib3 logs request paths at debug level)."""
    global _installed
    _FILTER.add(secrets)
    with _install_lock:
        if not _installed:
            for name in _FILTERED_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True
