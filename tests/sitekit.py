"""Helpers for tests that crawl local sites: configs pointing at them, and a site that keeps every request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from monitor.localserver import LocalServer, QuietHandler

RULES = """
rules:
  - name: nato
    terms: [NATO, North Atlantic Treaty Organization, Stoltenberg]
  - name: ukraine
    terms: [Ukraine, Kyiv]
  - name: sanctions
    terms: [sanctions]
  - name: armed-conflict
    terms: [armed conflict]
    weight: 0.5
"""


def config_text(sources: str, *, destinations: str = "", workers: int = 1, extra_crawl: str = "") -> str:
    """A rules.yaml for local sites: no delays, no retries, the four default topics."""
    alerts = (
        f"alerts:\n  threshold: 3.0\n  destinations:\n{destinations}" if destinations else "alerts:\n  threshold: 3.0\n"
    )
    return (
        "version: 1\n"
        "crawl:\n  user_agent: 'monitor-test/0.1 (+https://example.org/contact)'\n  download_delay: 0\n"
        f"  retries: 0\n  timeout: 5s\n  workers: {workers}\n{extra_crawl}"
        f"{alerts}sources:\n{sources}{RULES}"
    )


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@dataclass
class Seen:
    """A request a ``RecordingSite`` answered: its path, its headers (lower-cased names), the status, when."""

    path: str
    headers: dict[str, str]
    status: int
    at: float


class RecordingSite(LocalServer):
    """An HTTP/1.1 site on 127.0.0.1 that answers each GET with ``answer`` and keeps every request in ``seen``."""

    def __init__(self, thread_name: str = "recording-site") -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        super().__init__(self._handler(), thread_name=thread_name, report_errors=False)

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a GET of ``path``."""
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, body = site.answer(self.path, headers)
                with site._lock:
                    site.seen.append(Seen(self.path, headers, status, time.monotonic()))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
