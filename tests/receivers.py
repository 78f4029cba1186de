"""A scriptable HTTP receiver on 127.0.0.1 for tests of the network edges.

    with Receiver(Reply(500), Reply(200)) as receiver:
        ...post to receiver.url("/hook")...
        assert [r.path for r in receiver.requests] == ["/hook", "/hook"]

It records every request (method, path, headers, body, when it arrived) and answers
with the scripted replies in order, then with ``default`` for good. A reply can be
delayed, hang until the receiver closes, trickle its headers or its body one byte at
a time, or redirect. Closing the receiver wakes every hanging or trickling handler,
so a test never waits on it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes | str = b"ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    hang: bool = False  # never answer; the connection stays open until the receiver closes
    trickle: str | None = None  # "headers" or "body": send that part one byte every `interval` seconds
    interval: float = 1.0
    redirect: str | None = None  # a Location; the status defaults to 302 then
    # Called with the request before answering; if it returns True, no answer is sent at all
    # (the test killed the sender, say, or wants the connection dropped).
    before: Callable[[Request], bool] | None = None

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Request:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # the receiver's stamp() when the request was read

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Receiver:
    """A threaded HTTP server on 127.0.0.1 (a free port), used as a context manager."""

    def __init__(
        self,
        *replies: Reply,
        default: Reply | None = None,
        stamp: Callable[[], float] = time.monotonic,
        port: int = 0,
    ):
        self._replies = list(replies)
        self._port = port  # 0: any free port; a given one lets a test bring a "down" receiver back
        self.default = default or Reply()
        self.stamp = stamp
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self.closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and inspection -------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue more replies after the ones not used yet."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def port(self) -> int:
        assert self._server is not None, "the receiver is not running"
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def unique(self, header: str = "webhook-id") -> list[str]:
        """What a receiver that deduplicates on ``header`` kept: each value once, in order of first arrival."""
        seen: dict[str, None] = {}
        for request in self.requests:
            value = request.header(header)
            if value is not None:
                seen.setdefault(value, None)
        return list(seen)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        """The requests once there are at least ``count`` of them (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.requests
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            return self._replies.pop(0) if self._replies else self.default

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(_Handler):
            owner = receiver

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    owner: Receiver
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles after a test
    timeout = 5  # a client that connects and sends nothing cannot hold a thread for long

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``Receiver.requests`` instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, self.path, headers, body, self.owner.stamp())
        reply = self.owner._next(request)
        closing = self.owner.closing
        if reply.before is not None and reply.before(request):
            return
        if reply.delay and closing.wait(reply.delay):
            return
        if reply.hang:
            closing.wait(30)
            return
        status = reply.status if reply.redirect is None or reply.status != 200 else 302
        payload = reply.payload()
        extra = dict(reply.headers)
        if reply.redirect is not None:
            extra.setdefault("Location", reply.redirect)
        head = f"HTTP/1.0 {status} {self.responses.get(status, ('Status',))[0]}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        if not any(name.lower() == "content-type" for name in extra):
            head += "Content-Type: text/plain; charset=utf-8\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        try:
            if reply.trickle == "headers":
                self._trickle(head.encode("latin-1"), reply.interval)
                self.wfile.write(payload)
            elif reply.trickle == "body":
                self.wfile.write(head.encode("latin-1"))
                self._trickle(payload, reply.interval)
            else:
                self.wfile.write(head.encode("latin-1") + payload)
            self.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: that is what the trickling tests want

    def _trickle(self, data: bytes, interval: float) -> None:
        for index in range(len(data)):
            if self.owner.closing.is_set():
                return
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
            if self.owner.closing.wait(interval):
                return


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
