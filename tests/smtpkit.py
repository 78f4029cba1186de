"""Real SMTP servers on 127.0.0.1 for tests of email delivery: aiosmtpd, scripted.

    with MailServer(data=["451 4.3.0 try again later"]) as server:
        ...send to server.url()...
        assert server.messages[0].message["Message-ID"] == ...

``MailServer`` is aiosmtpd in a thread of its own: it records every message it
accepts (envelope and parsed message) and answers with scripted replies at MAIL,
RCPT or DATA (each scripted list used in order, then the normal answer), checks a
login, speaks STARTTLS or TLS from the first byte with a self-signed certificate
(``certificate``), and can hang in DATA. ``RawServer`` is a bare socket that greets
with a canned line (a 421, say) or never greets at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    login: str | None  # who logged in, if anyone


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key: (cert.pem, key.pem) in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, owner: MailServer):
        self.owner = owner

    async def handle_MAIL(self, server: Any, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        answer = self.owner._scripted("mail")
        if answer:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        answer = self.owner.refuse.get(address) or self.owner._scripted("rcpt")
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        raw = bytes(envelope.original_content or b"")
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        owner._record(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw, parsed, login))
        if owner.hang:
            while not owner.closing.is_set():
                await asyncio.sleep(0.05)
            return "421 closing"
        if owner.before is not None:
            await asyncio.get_running_loop().run_in_executor(None, owner.before)
        return owner._scripted("data") or "250 2.0.0 queued"


class MailServer:
    """aiosmtpd on 127.0.0.1 (a free port), used as a context manager."""

    def __init__(
        self,
        *,
        mail: list[str] | None = None,
        rcpt: list[str] | None = None,
        data: list[str] | None = None,
        refuse: dict[str, str] | None = None,
        logins: dict[str, str] | None = None,
        tls: str | None = None,  # "starttls" or "implicit"; needs cert
        cert: tuple[Path, Path] | None = None,
        hang: bool = False,
        before: Callable[[], None] | None = None,  # called in DATA before answering (a test kills the sender)
    ):
        self.script = {"mail": list(mail or []), "rcpt": list(rcpt or []), "data": list(data or [])}
        self.refuse = dict(refuse or {})
        self.logins = logins
        self.tls = tls
        self.cert = cert
        self.hang = hang
        self.before = before
        self.closing = threading.Event()
        self.login_attempts: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self.port = free_port()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.01)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    def url(self, user: str | None = None, password: str | None = None, *, host: str = "127.0.0.1") -> str:
        """The destination URL for this server: smtp+plain://, smtp:// (STARTTLS) or smtps:// by its TLS."""
        scheme = {"starttls": "smtp", "implicit": "smtps", None: "smtp+plain"}[self.tls]
        login = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user is not None else ""
        return f"{scheme}://{login}{host}:{self.port}"

    def _scripted(self, stage: str) -> str | None:
        with self._lock:
            queue = self.script[stage]
            return queue.pop(0) if queue else None

    def _record(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def _authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.logins is None:
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        self.login_attempts.append((user, password))
        success = self.logins.get(user) == password
        return AuthResult(success=success, handled=False, auth_data=data if success else None)

    def __enter__(self) -> MailServer:
        context = None
        if self.tls is not None:
            assert self.cert is not None, "a TLS server needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.cert)
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port, "ready_timeout": 5.0}
        if self.logins is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls == "starttls")
        if self.tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=context)
        self._controller = Controller(_Handler(self), **kwargs)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        if self._controller is not None:
            self._controller.stop()


class RawServer:
    """A bare TCP server on 127.0.0.1: greets each connection with ``greeting`` and hangs up, or never greets."""

    def __init__(self, greeting: str | None = None):
        self.greeting = greeting
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closing = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self) -> str:
        return f"smtp+plain://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.greeting is None:
                self._open.append(conn)  # say nothing; closed when the server closes
                continue
            with conn:
                conn.sendall(self.greeting.encode("ascii") + b"\r\n")
                conn.settimeout(1.0)
                with contextlib.suppress(OSError):
                    conn.recv(1024)  # the client's QUIT, or its hanging up

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(5)
        for conn in self._open:
            conn.close()
        self._listener.close()
