"""Endless discovery stops at its bounds, every run has a deadline and shows its counters while it runs,
a tracking variant of a known link is not fetched again, and a trickling page costs one timeout a run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.localserver import LocalServer, QuietHandler
from monitor.runs import run_crawl
from monitor.store import Store
from tests.sitekit import config_text, write

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
    + "<p>Ministers met in Brussels on Tuesday and talked for four hours without reaching any agreement.</p>" * 8
    + "</article></body></html>"
)
SITEMAP_INDEX = (
    '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>'
)
Answer = tuple[int, str, bytes]


class Site(LocalServer):
    """A site on 127.0.0.1 whose answers a function makes up per path (with an ETag); ``trickle`` ones send a byte a second."""

    def __init__(self, answer: Callable[[str], Answer | None], trickle: tuple[str, ...] = ()):
        self.answer = answer
        self.trickle = trickle
        self.requests: list[str] = []
        self.statuses: list[tuple[str, int]] = []  # what each answered request got (ETag: a 304 when unchanged)
        self.stopping = threading.Event()
        super().__init__(self._handler(), thread_name="bounds-site", report_errors=False)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.requests.append(self.path)
                if self.path in site.trickle:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    while not site.stopping.is_set():  # until the crawler hangs up
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(1.0)
                    return
                if self.path.startswith("/drop"):  # a connection that dies before any answer
                    self.close_connection = True
                    return
                status, kind, body = site.answer(self.path) or (404, "text/html", b"<html>not found</html>")
                tag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                if status == 200 and self.headers.get("If-None-Match") == tag:
                    status, body = 304, b""
                site.statuses.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", tag)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def count(self, path: str) -> int:
        return self.requests.count(path)

    def stop(self) -> None:
        self.stopping.set()
        super().stop()


def sitemap(body: str) -> Answer:
    return 200, "application/xml", body.encode()


def feed(links: list[str]) -> Answer:
    items = "".join(f"<item><title>t</title><link>{link}</link></item>" for link in links)
    return (
        200,
        "application/rss+xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode(),
    )


def page(title: str) -> Answer:
    return 200, "text/html; charset=utf-8", ARTICLE.format(title=title).encode()


def endless_chain(base: Callable[[], str]) -> Callable[[str], Answer | None]:
    """``/sm/gen1`` is a sitemap index naming ``/sm/gen2``, which names ``/sm/gen3``, and so on for ever."""

    def answer(path: str) -> Answer | None:
        if not path.startswith("/sm/gen"):
            return None
        following = int(path.removeprefix("/sm/gen")) + 1
        return sitemap(SITEMAP_INDEX.format(f"<sitemap><loc>{base()}/sm/gen{following}</loc></sitemap>"))

    return answer


@pytest.fixture
def chain() -> Iterator[Site]:
    holder: list[Site] = []
    with Site(endless_chain(lambda: holder[0].base)) as site:
        holder.append(site)
        yield site


def sitemap_source(url: str) -> str:
    return f"  - name: chain\n    type: sitemap\n    url: {url}\n"


def run_rows(db: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    with Store.open(db) as store:
        return store.query("SELECT * FROM runs"), store.query("SELECT kind, url, message FROM run_errors")


def test_an_endless_chain_of_sitemap_indexes_stops_at_the_default_depth(chain: Site, tmp_path: Path) -> None:
    config = write(tmp_path / "rules.yaml", config_text(sitemap_source(chain.base + "/sm/gen1")))
    started = time.monotonic()
    [report] = run_crawl(config, str(tmp_path / "m.db"), timeout=30).sources
    assert time.monotonic() - started < 30
    # gen1 is the source's own sitemap (depth 0); gen2, gen3 and gen4 are nested 1, 2 and 3 deep (the default bound).
    assert [p for p in chain.requests if p.startswith("/sm/")] == ["/sm/gen1", "/sm/gen2", "/sm/gen3", "/sm/gen4"]
    assert report["status"] == "ok" and report["pages"] == 4 and report["errors"] == 1
    [run], errors = run_rows(tmp_path / "m.db")
    assert run["status"] == "ok"
    assert [(e["kind"], e["url"]) for e in errors] == [("limit", chain.base + "/sm/gen4")]
    assert "crawl.max_index_depth (3)" in str(errors[0]["message"])


def test_a_sitemap_index_of_thousands_of_sitemaps_is_read_only_up_to_max_indexes(tmp_path: Path) -> None:
    holder: list[Site] = []

    def answer(path: str) -> Answer | None:
        if path == "/index.xml":
            children = "".join(f"<sitemap><loc>{holder[0].base}/s/{n}.xml</loc></sitemap>" for n in range(3000))
            return sitemap(SITEMAP_INDEX.format(children))
        if path.startswith("/s/"):
            return sitemap('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>')
        return None

    with Site(answer) as site:
        holder.append(site)
        text = config_text(sitemap_source(site.base + "/index.xml"), extra_crawl="  max_indexes: 10\n")
        [report] = run_crawl(write(tmp_path / "rules.yaml", text), str(tmp_path / "m.db"), timeout=30).sources
    sitemaps = [p for p in site.requests if p.endswith(".xml")]
    assert len(sitemaps) == 10 and sitemaps[0] == "/index.xml"  # the index and nine of its sitemaps
    assert report["status"] == "ok"
    _, errors = run_rows(tmp_path / "m.db")
    [limit] = [e for e in errors if e["kind"] == "limit"]
    assert "crawl.max_indexes (10)" in str(limit["message"]) and "2991 sitemap(s) not read" in str(limit["message"])


def test_a_feed_of_100000_items_stops_at_max_pages(tmp_path: Path) -> None:
    holder: list[Site] = []

    def answer(path: str) -> Answer | None:
        if path == "/feed.xml":
            return feed([f"{holder[0].base}/a/{n}.html" for n in range(100_000)])
        return page("An article") if path.startswith("/a/") else None

    with Site(answer) as site:
        holder.append(site)
        source = f"  - name: big\n    type: rss\n    url: {site.base}/feed.xml\n    max_pages: 5\n"
        text = config_text(source, extra_crawl="  max_page_bytes: 20000000\n")
        [report] = run_crawl(write(tmp_path / "rules.yaml", text), str(tmp_path / "m.db"), timeout=90).sources
    assert sorted(p for p in site.requests if p.startswith("/a/")) == sorted(f"/a/{n}.html" for n in range(5))
    assert report["status"] == "ok" and report["pages"] == 6


def test_monitor_run_stops_at_its_deadline_and_its_counters_show_while_it_runs(chain: Site, tmp_path: Path) -> None:
    unbounded = "  max_index_depth: 1000000\n  max_indexes: 1000000\n  run_deadline: 4s\n"
    config = write(tmp_path / "rules.yaml", config_text(sitemap_source(chain.base + "/sm/gen1"), extra_crawl=unbounded))
    db = tmp_path / "m.db"
    started = time.monotonic()
    command = [sys.executable, "-m", "monitor", "--config", config, "--db", str(db), "run", "--no-send"]
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen_running: list[int] = []  # the run row's page counter, read while the run was still running
    while process.poll() is None and time.monotonic() - started < 90:
        if db.exists():
            with Store.open(db) as store:
                rows = store.query("SELECT status, pages FROM runs")
            seen_running += [int(r["pages"]) for r in rows if r["status"] == "running"]
        time.sleep(0.2)
    out, err = process.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert process.returncode == 1, err  # its only source failed: it did not finish
    assert elapsed < 4 + 30, elapsed  # the deadline, the crawl process starting, and closing its spider
    assert max(seen_running, default=0) > 0, seen_running  # progress was visible before the end
    [run], errors = run_rows(db)
    assert run["status"] == "failed" and run["finished_at"] and int(str(run["pages"])) > 10
    assert [e["kind"] for e in errors] == ["deadline"], errors
    assert "crawl.run_deadline" in str(errors[0]["message"])
    assert "chain" in out.decode() and "failed" in out.decode()


def test_articles_a_deadline_left_unfetched_are_fetched_next_run_though_their_feed_is_unchanged(
    tmp_path: Path,
) -> None:
    holder: list[Site] = []

    def answer(path: str) -> Answer | None:
        if path == "/feed.xml":
            return feed([f"{holder[0].base}/a/{n}.html" for n in range(60)])
        return page(f"Article {path}") if path.startswith("/a/") else None

    with Site(answer) as site:
        holder.append(site)
        source = f"  - name: news\n    type: rss\n    url: {site.base}/feed.xml\n    max_pages: 100\n"
        slow = config_text(source).replace("download_delay: 0", "download_delay: 0.2")
        # Closing at the deadline lets the requests the downloader already holds (16 at most) finish, no more.
        first = run_crawl(write(tmp_path / "slow.yaml", slow), str(tmp_path / "m.db"), timeout=2)
        second = run_crawl(write(tmp_path / "rules.yaml", config_text(source)), str(tmp_path / "m.db"), timeout=60)
    [cut] = first.sources
    assert cut["status"] == "failed" and 0 < cut["new_articles"] < 60  # the deadline came first
    # The feed did not change, but the cache forgot it: read in full, not a 304 that would hide the rest.
    assert [status for path, status in site.statuses if path == "/feed.xml"] == [200, 200]
    assert cut["new_articles"] + second.total("new_articles") == 60
    with Store.open(tmp_path / "m.db") as store:  # every article stored once, and each run's record counts its own
        [stored] = store.query("SELECT count(*) AS n FROM articles")
        recorded = [int(r["new_articles"]) for r in store.query("SELECT new_articles FROM runs ORDER BY id")]
    assert stored["n"] == 60 and recorded == [cut["new_articles"], second.total("new_articles")]


def test_a_link_with_tracking_parameters_is_not_fetched_again(tmp_path: Path) -> None:
    links: list[str] = []
    holder: list[Site] = []

    def answer(path: str) -> Answer | None:
        if path == "/feed.xml":
            return feed([holder[0].base + link for link in links])
        return page("Talks in Brussels " + path) if path.startswith("/world/") else None

    with Site(answer) as site:
        holder.append(site)
        config = write(
            tmp_path / "rules.yaml", config_text(f"  - name: news\n    type: rss\n    url: {site.base}/feed.xml\n")
        )
        links[:] = ["/world/a.html", "/world/b.html?utm_source=rss", "/world/b.html?utm_source=twitter&utm_medium=x"]
        first = run_crawl(config, str(tmp_path / "m.db"), timeout=60)
        links[:] = ["/world/a.html?utm_source=rss&utm_campaign=daily", "/world/b.html"]
        second = run_crawl(config, str(tmp_path / "m.db"), timeout=60)
    fetched = sorted(p for p in site.requests if p.startswith("/world/"))
    # Each canonical article once: b's second tracking variant is the same article, and so is every link of run 2.
    assert fetched == ["/world/a.html", "/world/b.html?utm_source=rss"]
    assert first.total("new_articles") == 2 and second.total("pages") == 1


def test_a_trickling_page_costs_one_timeout_a_run_and_is_tried_again_next_run(tmp_path: Path) -> None:
    holder: list[Site] = []

    def answer(path: str) -> Answer | None:
        if path == "/feed.xml":
            return feed([holder[0].base + p for p in ("/slow.html", "/broken.html", "/drop.html", "/good.html")])
        if path == "/broken.html":
            return 500, "text/html", b"<html>oops</html>"
        return page("A good page") if path == "/good.html" else None

    with Site(answer, trickle=("/slow.html",)) as site:
        holder.append(site)
        text = config_text(f"  - name: news\n    type: rss\n    url: {site.base}/feed.xml\n")
        text = text.replace("  retries: 0\n  timeout: 5s\n", "  retries: 2\n  timeout: 1s\n")
        config = write(tmp_path / "rules.yaml", text)
        started = time.monotonic()
        [report] = run_crawl(config, str(tmp_path / "m.db"), timeout=60).sources
        elapsed = time.monotonic() - started
        assert site.count("/slow.html") == 1  # a timeout is not retried at once ...
        # ... a 5xx or a lost connection is (Twisted itself tries a lost one twice on a reused connection)
        assert site.count("/broken.html") == 3 and site.count("/drop.html") >= 3
        run_crawl(config, str(tmp_path / "m.db"), timeout=60)
        assert site.count("/slow.html") == 2  # ... and the page is tried again on the next run
    assert report["new_articles"] == 1 and report["status"] == "ok"
    assert elapsed < 20, elapsed
    _, errors = run_rows(tmp_path / "m.db")
    slow = [e for e in errors if str(e["url"]).endswith("/slow.html")]
    assert len(slow) == 2 and all("took longer than 1.0 seconds" in str(e["message"]) for e in slow)


def test_the_default_deadline_is_four_times_the_longest_interval_and_at_least_an_hour() -> None:
    sources = (
        "sources:\n  - name: fast\n    type: rss\n    url: https://x.org/f\n    interval: 5m\n"
        "  - name: slow\n    type: rss\n    url: https://x.org/g\n    interval: 2h\nrules: []\n"
    )
    config = parse_config(sources, "rules.yaml", {})
    assert config.run_deadline() == 4 * 7200
    assert config.run_deadline(["fast"]) == 3600
    assert parse_config("crawl:\n  run_deadline: 10m\n" + sources, "rules.yaml", {}).run_deadline(["slow"]) == 600
