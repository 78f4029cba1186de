"""A small threaded HTTP server on 127.0.0.1, run in a daemon thread: the health endpoint's and the demo's.

A subclass passes its request handler class (usually built in a closure over
itself) and gets start/stop, its port and base URL, and use as a context manager.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["LocalServer", "QuietHandler"]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing: no access line per request on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the service's, the demo's and the tests' output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, report_errors: bool):
        self.report_errors = report_errors
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.report_errors:
            super().handle_error(request, client_address)


class LocalServer:
    """A threaded ``http.server`` on 127.0.0.1 (port 0 picks a free one), serving from a daemon thread."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        thread_name: str = "local-server",
        report_errors: bool = True,
    ):
        self.server = _Server((host, port), handler, report_errors=report_errors)
        self._thread = threading.Thread(target=self.server.serve_forever, name=thread_name, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, when asked for port 0)."""
        return int(self.server.server_address[1])

    @property
    def base(self) -> str:
        """Its base URL, like ``http://127.0.0.1:8123``."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Start serving in the background; returns the server itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
