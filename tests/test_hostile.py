"""Hostile and broken sites: each page is refused or survived, recorded, and the run goes on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.demo.sites import LocalSite, Route
from monitor.runs import run_crawl
from monitor.store import Store
from tests.sitekit import config_text, write

pytestmark = pytest.mark.slow

ARTICLE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
    + "<p>{body} The talks in Brussels went on for four hours and ended without agreement.</p>" * 8
    + "</article></body></html>"
)


class SlowServer:
    """A raw TCP server on 127.0.0.1: 'hang' sends part of a body and stops; 'trickle' sends a byte a second."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/page.html"

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000000\r\n\r\n<html>")
            while not self.stop.is_set():
                if self.mode == "trickle":
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        return
                time.sleep(1.0)

    def __enter__(self) -> SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite("hostile") as local:
        yield local


def crawl(site: LocalSite, links: list[str], tmp_path: Path, timeout: str = "3s") -> tuple[dict, dict[str, str]]:
    items = "".join(f"<item><title>t</title><link>{link}</link></item>" for link in links)
    site.routes["/feed.xml"] = Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>H</title>{items}</channel></rss>'.encode(),
        "application/rss+xml",
    )
    site.routes.setdefault("/robots.txt", Route(b"User-agent: *\nAllow: /\n", "text/plain"))
    sources = f"  - name: hostile\n    type: rss\n    url: {site.base}/feed.xml\n    max_pages: 200\n"
    text = config_text(sources).replace("  timeout: 5s\n", f"  timeout: {timeout}\n")
    config = write(tmp_path / "rules.yaml", text)
    [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    with Store.open(tmp_path / "m.db") as store:
        errors = {
            row["url"]: row["kind"] + ": " + row["message"]
            for row in store.query("SELECT url, kind, message FROM run_errors WHERE url IS NOT NULL")
        }
    return report, errors


def test_a_body_that_never_ends_and_a_trickle_are_cut_at_the_timeout(site: LocalSite, tmp_path: Path) -> None:
    good = ARTICLE.format(title="NATO talks end", body="NATO and Russia met.")
    site.routes["/good.html"] = Route(good.encode())
    with SlowServer("hang") as hang, SlowServer("trickle") as trickle:
        hang_url, trickle_url = hang.url, trickle.url
        started = time.monotonic()
        report, errors = crawl(site, [hang_url, trickle_url, site.base + "/good.html"], tmp_path)
        elapsed = time.monotonic() - started
    assert report["new_articles"] == 1 and report["status"] == "ok"
    # Their robots.txt hangs too: the page is given up when robots.txt times out, or on its own timeout.
    for url in (hang_url, trickle_url):
        assert errors[url].startswith(("fetch:", "ignored:")) and "took longer than 3.0 seconds" in errors[url]
    assert elapsed < 30


def test_missing_and_wrong_charsets_are_survived_and_utf8_without_a_label_reads_right(
    site: LocalSite, tmp_path: Path
) -> None:
    body = ARTICLE.format(title="Україна і НАТО", body="Переговори про безпеку в Брюсселі.")
    site.routes["/unlabelled.html"] = Route(body.encode("utf-8"), "text/html")  # no charset anywhere
    site.routes["/mislabelled.html"] = Route(body.encode("utf-8"), "text/html; charset=iso-8859-1")
    site.routes["/bogus.html"] = Route(body.encode("utf-8"), "text/html; charset=no-such-charset")
    report, errors = crawl(
        site, [site.base + p for p in ("/unlabelled.html", "/mislabelled.html", "/bogus.html")], tmp_path
    )
    assert report["status"] == "ok" and report["new_articles"] == 3 and errors == {}
    with Store.open(tmp_path / "m.db") as store:
        titles = {
            row["fetched_url"].rsplit("/", 1)[1]: row["title"]
            for row in store.query("SELECT fetched_url, title FROM articles")
        }
    assert titles["unlabelled.html"] == "Україна і НАТО"
    assert titles["bogus.html"] == "Україна і НАТО"  # an unknown label is ignored, the bytes decide


def test_a_storm_of_403_404_410_and_500_is_recorded_page_by_page_and_the_run_goes_on(
    site: LocalSite, tmp_path: Path
) -> None:
    links = []
    for index in range(40):
        status = (403, 404, 410, 500)[index % 4]
        site.routes[f"/storm/{index}.html"] = Route(b"no", status=status)
        links.append(f"{site.base}/storm/{index}.html")
    site.routes["/good.html"] = Route(ARTICLE.format(title="Still here", body="A normal story.").encode())
    report, errors = crawl(site, [*links, site.base + "/good.html"], tmp_path)
    assert report["status"] == "ok" and report["new_articles"] == 1
    assert len(errors) == 40 and all(kind.startswith("http: HTTP ") for kind in errors.values())
    assert {kind.split()[-1] for kind in errors.values()} == {"403", "404", "410", "500"}
