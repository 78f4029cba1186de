"""HTTP for alert delivery: one POST under one hard deadline, redirects never followed.

``post`` bounds the whole attempt (connect, headers and body), not each read: under
``monitor.deadlines.deadline`` a watchdog shuts the attempt's sockets down when its
deadline passes, so a receiver that trickles a byte a second is cut off like one
that hangs. Only the first
``READ_LIMIT`` bytes of an answer are read. Error texts never quote the URL, which
is a credential. Under a ``NetworkPolicy``, a host that resolves only to internal
addresses nobody allowed is not contacted at all (``HttpResult.refused``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests

from monitor.deadlines import NETWORK_ERRORS, deadline, guarded
from monitor.netpolicy import AddressRefused, NetworkPolicy

READ_LIMIT = 16 * 1024  # bytes of an answer read at most


@dataclass(frozen=True)
class HttpResult:
    """The answer to one attempt, or why there was none (``error`` set, ``status`` maybe None).

    For a POST, ``status`` is the HTTP status; for an email (``smtp``), the SMTP reply
    code, with ``stage`` the step it answered. Either way only a 2xx is a delivery.
    Apprise (``apprise``) gives no code: it says ``accepted`` or gives an ``error``.
    """

    status: int | None
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    refused: bool = False  # the destination's address is internal and not allowed: nothing was sent
    stage: str = ""  # email: the SMTP step the answer came at (connect, helo, tls, login, mail, rcpt, data)
    accepted: bool = False  # a channel without status codes (Apprise) reported success
    # email: recipients refused for now (4xx) while the server took the message for others: owed a retry
    deferred: tuple[str, ...] = ()

    @property
    def delivered(self) -> bool:
        """Whether the destination took the message: a 2xx answer, or a reported success."""
        if self.error is not None or self.deferred:
            return False
        return self.accepted or (self.status is not None and 200 <= self.status < 300)


def post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    policy: NetworkPolicy | None = None,
) -> HttpResult:
    """POST ``body`` to ``url`` within ``timeout`` seconds in all; never raises for network trouble.

    The answer's status, headers and first ``READ_LIMIT`` bytes are returned. Error
    texts never quote the URL (requests' own messages do, so they are not used).
    With ``policy``, only the addresses it allows are connected to.
    """
    status: int | None = None
    answer_headers: Mapping[str, str] = {}
    chunks: list[bytes] = []
    error: str | None = None
    refused = False
    with deadline(timeout) as limit, guarded(policy):
        try:
            with session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                status, answer_headers = response.status_code, response.headers
                size = 0
                for chunk in response.iter_content(chunk_size=1024):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= READ_LIMIT or limit.expired:
                        break
        except AddressRefused as exc:
            error, refused = f"refused: {exc}", True
        except NETWORK_ERRORS as exc:
            error = describe_error(exc)
    seconds = time.monotonic() - limit.started
    if limit.expired and not refused:
        error = f"no complete answer within the {timeout:g} s deadline"
    text = b"".join(chunks).decode("utf-8", "replace")
    return HttpResult(status, text, answer_headers, error, seconds, refused)


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
