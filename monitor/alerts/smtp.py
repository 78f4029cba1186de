"""SMTP for email destinations: one message handed to the server under one hard deadline.

The destination's URL names the server, how to secure it and the login:
``smtp://USER:PASSWORD@HOST:587`` (STARTTLS, required: the login and message never
go in clear text), ``smtps://…:465`` (TLS from the first byte) or
``smtp+plain://HOST:25`` (no TLS: a relay on this machine, or one that takes no
login). Server certificates are verified against the system's trust store
(``SSL_CERT_FILE`` can name another). As for HTTP (``transport``), the host is
resolved here and only addresses the ``NetworkPolicy`` allows are connected to,
and a watchdog shuts the socket down when the deadline passes, so a server that
hangs or trickles cannot hold a sender.

The outcome is an ``HttpResult`` whose ``status`` is the server's reply code (2xx:
accepted) and ``stage`` the step that failed (``connect``, ``helo``, ``tls``,
``login``, then ``send``, or ``mail``, ``rcpt`` or ``data`` when one of those is
refused), for ``policy.judge`` to read. Once the server has taken the message, the
attempt is a delivery whatever happens to the goodbye. If some recipients are refused
and others accepted, the others have it: a retry goes only to those refused for now
(4xx, ``deferred``), so no one gets a second copy; a recipient refused for good (5xx)
is logged and dropped. Likewise when every recipient is refused, some for now and some
for good: the retry goes to the first only.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

from monitor.alerts.transport import HttpResult
from monitor.deadlines import Deadline, deadline
from monitor.netpolicy import AddressRefused, NetworkPolicy

log = logging.getLogger("monitor.alerts")

DEFAULT_PORTS = {"smtp": 587, "smtps": 465, "smtp+plain": 25}
ANSWER_CHARS = 500  # of a server's answer, kept in the result


@dataclass(frozen=True)
class SmtpServer:
    """Where and how an email destination sends: from its URL. ``password`` is a credential."""

    scheme: str  # smtp (STARTTLS), smtps (implicit TLS) or smtp+plain
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)  # never in a log line or a traceback

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """The server an ``smtp://``, ``smtps://`` or ``smtp+plain://`` URL names; ValueError (never quoting it)."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise ValueError("the email destination's URL is malformed") from None
        if parts.scheme not in DEFAULT_PORTS or not host:
            raise ValueError("the email destination's URL is not smtp://, smtps:// or smtp+plain://HOST")
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], user, password)


class _SmtpError(Exception):
    """A step of the exchange failed: the server's code (if it answered) and what it said."""

    def __init__(self, stage: str, code: int | None, answer: str):
        super().__init__(answer)
        self.stage, self.code, self.answer = stage, code, answer


class _Client(smtplib.SMTP):
    """An SMTP client that connects only where its policy allows, every socket watched by its deadline."""

    policy: NetworkPolicy | None = None
    watchdog: Deadline | None = None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        failure: OSError | None = None
        for address in _addresses(host, port, self.policy):
            try:
                sock = socket.create_connection((address, port), timeout)
            except OSError as error:
                failure = error
                continue
            self._watch(sock)
            return sock
        raise failure or OSError("no address to connect to")

    def _watch(self, sock: Any) -> None:
        if self.watchdog is not None:
            self.watchdog.watch(sock)

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        answer = super().starttls(*args, **kwargs)
        self._watch(self.sock)  # the TLS socket that replaced the watched one
        return answer


class _TlsClient(smtplib.SMTP_SSL, _Client):
    """``_Client`` speaking TLS from the first byte (``SMTP_SSL`` wraps what ``_Client`` connects)."""

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> tuple[int, bytes]:
        answer = super().connect(host, port, source_address)
        self._watch(self.sock)
        return answer


def _addresses(host: str, port: int, policy: NetworkPolicy | None) -> list[str]:
    """The addresses of ``host`` that ``policy`` allows (AddressRefused if none), resolved once, here."""
    if policy is None or policy.trusts(host):
        return [host]
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return policy.allowed_addresses(host, list(dict.fromkeys(str(info[4][0]) for info in found)))


def send_mail(
    server: SmtpServer,
    message: EmailMessage,
    recipients: Sequence[str],
    timeout: float,
    policy: NetworkPolicy | None = None,
) -> HttpResult:
    """Hand ``message`` to ``server`` for ``recipients`` within ``timeout`` seconds in all; never raises for trouble."""
    envelope_to = [parseaddr(address)[1] for address in recipients]
    envelope_from = parseaddr(str(message["From"]))[1]
    stage = "connect"
    status: int | None = None
    answer = ""
    error: str | None = None
    refused = accepted = False
    deferred: tuple[str, ...] = ()
    with deadline(timeout) as limit:
        client: _Client = (
            _TlsClient(local_hostname=_local_name(), timeout=timeout, context=ssl.create_default_context())
            if server.scheme == "smtps"
            else _Client(local_hostname=_local_name(), timeout=timeout)
        )
        client.policy, client.watchdog = policy, limit
        client._host = server.host  # type: ignore[attr-defined]  # what TLS verifies; set only by __init__(host)
        try:
            code, greeting = client.connect(server.host, server.port)
            if code != 220:
                raise _SmtpError("connect", code, _text(greeting))
            stage = "helo"
            client.ehlo_or_helo_if_needed()
            if server.scheme == "smtp":
                stage = "tls"
                if not client.has_extn("starttls"):
                    raise _SmtpError("tls", None, "the server does not offer STARTTLS: nothing was sent in clear text")
                code, said = client.starttls(context=ssl.create_default_context())
                if code != 220:  # smtplib returns this refusal rather than raising: carrying on would be in clear
                    raise _SmtpError("tls", code, _text(said))
                stage = "helo"
                client.ehlo_or_helo_if_needed()
            if server.user is not None:
                stage = "login"
                client.login(server.user, server.password or "")
            stage = "send"
            rejected = client.send_message(message, from_addr=envelope_from, to_addrs=envelope_to)
            status, answer, accepted = 250, "", True
            if rejected:
                answer = _refusals(rejected)
                deferred = _deferred(recipients, rejected)
                log.warning("email accepted for some recipients only; refused: %s", answer[:ANSWER_CHARS])
            stage = "quit"
            _quietly_quit(client)
        except _SmtpError as failure:
            stage, status, answer = failure.stage, failure.code, failure.answer
        except smtplib.SMTPRecipientsRefused as failure:
            stage = "rcpt"
            codes = [code for code, _ in failure.recipients.values()]
            deferred = _deferred(recipients, failure.recipients)
            permanent = next((code for code in codes if code >= 500), codes[0] if codes else None)
            # Refused for now, some of them: a retry is owed to those; for good, all of them: dead.
            status = next((code for code in codes if code < 500), None) if deferred else permanent
            if len(deferred) == len(recipients):
                deferred = ()  # every recipient may take it later: the message is retried as it is
            answer = _refusals(failure.recipients)
        except smtplib.SMTPResponseException as failure:
            if isinstance(failure, smtplib.SMTPSenderRefused):
                stage = "mail"
            elif isinstance(failure, smtplib.SMTPDataError):
                stage = "data"
            status, answer = failure.smtp_code, _text(failure.smtp_error)
        except AddressRefused as failure:
            error, refused = f"refused: {failure}", True
        except (smtplib.SMTPException, OSError, ValueError) as failure:
            error = _describe(failure)
        finally:
            client.close()
    seconds = time.monotonic() - limit.started
    if accepted and deferred:  # taken for some: the code that refused the others for now
        code = min(code for code, _ in rejected.values())
        return HttpResult(code, answer[:ANSWER_CHARS], {}, None, seconds, stage="rcpt", deferred=deferred)
    if accepted:  # the server took it: a goodbye cut short by the deadline changes nothing
        return HttpResult(250, answer[:ANSWER_CHARS], {}, None, seconds, stage="send")
    if limit.expired and not refused:
        status, error = None, f"no complete answer within the {timeout:g} s deadline (at {stage})"
    elif status is not None and not 200 <= status < 300:
        error = None  # the server answered: policy.judge reads the code and the answer
    elif status is None and error is None:
        error = answer or "no answer"
    return HttpResult(status, answer[:ANSWER_CHARS], {}, error, seconds, refused, stage=stage, deferred=deferred)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{who}: {code} {_text(text)}" for who, (code, text) in refused.items())


def _deferred(recipients: Sequence[str], refused: dict[str, tuple[int, bytes]]) -> tuple[str, ...]:
    """Of ``recipients`` (as configured, names and all), those the server refused for now (4xx)."""
    return tuple(
        address for address in recipients if (code := refused.get(parseaddr(address)[1], (0, b""))[0]) and code < 500
    )


def _quietly_quit(client: smtplib.SMTP) -> None:
    """Say goodbye; the message was accepted already, so a server that hangs up first changes nothing."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.quit()


def _local_name() -> str:
    """The name to greet the server with; never a DNS lookup (``getfqdn`` can stall for seconds)."""
    name = socket.gethostname()
    return name if name and name.isascii() else "localhost"


def _text(answer: bytes | str) -> str:
    value = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return " ".join(value.split())


def _describe(error: BaseException) -> str:
    """A one-line description of a failure that never quotes the login."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS error: the server's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS error ({error.reason or 'handshake failed'})"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"not supported by the server: {' '.join(str(error).split())}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return f"the server's name does not resolve ({error.strerror})"
    if isinstance(error, OSError) and error.strerror:
        return f"connection failed ({error.strerror})"
    return type(error).__name__
