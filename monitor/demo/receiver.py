"""A local alert receiver on 127.0.0.1: it records every POST, like Slack or a webhook consumer would."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from monitor.localserver import LocalServer, QuietHandler


@dataclass(frozen=True)
class Received:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver(LocalServer):
    """Answers 200 to every POST and keeps it; a context manager."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        super().__init__(self._handler(), thread_name="receiver")

    def posts(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle and delayed ACKs
            # add ~40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        return Handler
