"""``fetch_page`` (``monitor score URL``): one deadline for the whole fetch, headers included, and the crawl's limits."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from monitor.config import CrawlSpec
from monitor.errors import FetchError
from monitor.extract import fetch_page
from tests.receivers import Receiver, Reply, closed_port

PAGE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n\r\n<html><title>slow</title>"


class TrickleServer:
    """A raw TCP server on 127.0.0.1 that answers from byte ``start`` of ``PAGE`` on, one byte a second."""

    def __init__(self, start: int):
        self.start = start
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/page.html"

    def serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return  # closed before anyone came
        with conn:
            conn.recv(65536)
            conn.sendall(PAGE[: self.start])
            for byte in PAGE[self.start :]:
                if self.stop.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up, as it should

    def __enter__(self) -> TrickleServer:
        threading.Thread(target=self.serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("start", [0, PAGE.index(b"<html>")], ids=["trickle-status-line", "trickle-body"])
def test_a_trickling_server_is_cut_off_at_the_timeout(start: int) -> None:
    # A byte a second never trips the 1.5 s per-read timeout: only the overall deadline can end these.
    with TrickleServer(start) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"took longer than 1\.5 s; stopped$"):
            fetch_page(server.url, CrawlSpec(timeout_seconds=1.5))
        elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 2.5
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer)]  # no watchdog left behind


def test_redirects_are_followed_and_the_page_decoded_by_its_charset() -> None:
    page = "<html><title>Україна</title></html>".encode("windows-1251")
    with (
        Receiver(default=Reply(200, page, {"Content-Type": "text/html; charset=windows-1251"})) as target,
        Receiver(Reply(redirect=target.url("/final.html"))) as first,
    ):
        final_url, text = fetch_page(first.url("/start.html"), CrawlSpec(timeout_seconds=5))
    assert final_url == target.url("/final.html")
    assert "<title>Україна</title>" in text


def test_a_wrong_status_an_oversized_page_and_a_refused_connection_are_fetch_errors() -> None:
    with Receiver(Reply(404, "gone"), Reply(200, b"x" * 2000)) as receiver:
        with pytest.raises(FetchError, match=r": HTTP 404$"):
            fetch_page(receiver.url("/missing.html"), CrawlSpec(timeout_seconds=5))
        with pytest.raises(FetchError, match="larger than 1000 bytes; refused"):
            fetch_page(receiver.url("/big.html"), CrawlSpec(timeout_seconds=5, max_page_bytes=1000))
    with pytest.raises(FetchError, match=r": ConnectionError$"):
        fetch_page(f"http://127.0.0.1:{closed_port()}/page.html", CrawlSpec(timeout_seconds=5))


@pytest.mark.parametrize("allowed", [(), ("127.0.0.0/8",)])
def test_a_redirect_to_another_internal_host_is_refused_unless_allowed(allowed: tuple[str, ...]) -> None:
    """The URL the operator gave may be internal; where its page redirects is a stranger's choice."""
    with (
        Receiver(default=Reply(200, b"<html><title>secret</title></html>", {"Content-Type": "text/html"})) as inside,
        Receiver(Reply(redirect=inside.url("/admin").replace("127.0.0.1", "localhost"))) as first,
    ):
        crawl = CrawlSpec(timeout_seconds=5, allow_private_networks=allowed)
        if allowed:
            assert "secret" in fetch_page(first.url("/start.html"), crawl)[1]
        else:
            with pytest.raises(FetchError, match="refused"):
                fetch_page(first.url("/start.html"), crawl)
            assert inside.requests == []  # nothing was sent to it
