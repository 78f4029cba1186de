"""An unchanged feed costs one request even from a server that sends no validators: its bytes are compared.

The server here sends no ``ETag`` nor ``Last-Modified`` unless a test gives it one,
and records every request with its headers. Each crawl runs in its own process, as
``monitor run`` does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.demo.sites import Story, rss_feed
from monitor.runs import run_crawl
from tests.sitekit import RecordingSite, Seen, config_text, write

pytestmark = pytest.mark.slow

PUBLISHED = datetime(2022, 1, 12, 12, 0, tzinfo=UTC)
GALLERY = "/gallery.html"  # listed in the feed, a headline and no body text: stored with empty text


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)  # none by default: no validators


class PlainSite(RecordingSite):
    """Pages with no validators; a page given an ``ETag`` answers a matching ``If-None-Match`` with a 304."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        super().__init__(thread_name="plain-site")

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            page = self.pages.get(path)
        if page is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        etag = page.headers.get("ETag")
        if etag is not None and headers.get("if-none-match") == etag:
            return 304, dict(page.headers), b""
        return 200, {"Content-Type": page.content_type, **page.headers}, page.body

    def since(self, mark: int) -> list[Seen]:
        """The requests after the first ``mark``, robots.txt left out (each crawl process reads it once)."""
        with self._lock:
            return [s for s in self.seen[mark:] if s.path != "/robots.txt"]


@pytest.fixture
def site() -> Iterator[PlainSite]:
    with PlainSite() as server:
        yield server


def article_html(title: str) -> bytes:
    paragraph = (
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms and now limits the largest ferries.</p>"
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{paragraph * 4}</article></body></html>"
    ).encode()


def publish(site: PlainSite, count: int, **feed_headers: str) -> None:
    """``count`` stories and a photo gallery, and an RSS feed listing them all."""
    stories = [
        Story(f"/story-{i}.html", f"Harbour story {i}", PUBLISHED - timedelta(minutes=i), "summary", "")
        for i in range(count)
    ]
    stories.append(Story(GALLERY, "Harbour in pictures", PUBLISHED - timedelta(hours=1), "photos", ""))
    for story in stories[:-1]:
        site.pages[story.path] = Page(article_html(story.title))
    site.pages[GALLERY] = Page(b"<!DOCTYPE html><html><head><title>Harbour in pictures</title></head><body>"
                               b"<div class='gallery'><img src='/1.jpg'><img src='/2.jpg'></div></body></html>")  # fmt: skip
    feed = rss_feed("Harbour", site.base, stories).encode()
    site.pages["/feed.xml"] = Page(feed, "application/rss+xml; charset=utf-8", dict(feed_headers))


def crawl(config_path: str, tmp_path: Path) -> dict[str, Any]:
    [report] = run_crawl(config_path, str(tmp_path / "m.db")).sources
    return report


def store_contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``runs`` (the run record, which every run writes)."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'runs'")]
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}


def run_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def config(tmp_path: Path, site: PlainSite) -> str:
    source = f"  - name: harbour\n    type: rss\n    url: {site.base}/feed.xml\n"
    return write(tmp_path / "rules.yaml", config_text(source))


def test_a_feed_without_validators_unchanged_costs_one_request_and_no_store_write(
    site: PlainSite, tmp_path: Path
) -> None:
    publish(site, 3)
    cfg, db = config(tmp_path, site), tmp_path / "m.db"
    first = crawl(cfg, tmp_path)
    assert first["new_articles"] == 4 and first["errors"] == 0  # the gallery too, with no text and a reason
    assert not any(k.lower() in ("etag", "last-modified") for k in site.pages["/feed.xml"].headers)
    before, mark = store_contents(db), len(site.seen)

    second = crawl(cfg, tmp_path)
    assert [(s.path, s.status) for s in site.since(mark)] == [("/feed.xml", 200)]  # one request, answered in full
    assert second["status"] == "ok" and second["pages"] == 1 and second["errors"] == 0
    assert second["new_articles"] == second["updated_articles"] == second["unchanged_articles"] == 0
    assert store_contents(db) == before  # no last_seen moved, no error recorded: only the run record is new
    assert run_count(db) == 2

    publish(site, 4)  # a new story: the feed's bytes change
    mark = len(site.seen)
    third = crawl(cfg, tmp_path)
    paths = [s.path for s in site.since(mark)]
    assert paths[0] == "/feed.xml" and "/story-3.html" in paths  # read again, the new story fetched
    assert third["new_articles"] == 1


def test_an_unchanged_answer_in_full_is_stored_so_its_new_validators_are_sent_next_time(
    site: PlainSite, tmp_path: Path
) -> None:
    publish(site, 2)
    cfg = config(tmp_path, site)
    crawl(cfg, tmp_path)
    publish(site, 2, ETag='"harbour-1"')  # the same bytes, now with a validator
    mark = len(site.seen)
    second = crawl(cfg, tmp_path)
    assert [(s.path, s.status) for s in site.since(mark)] == [("/feed.xml", 200)]
    assert second["pages"] == 1 and second["errors"] == 0
    mark = len(site.seen)
    third = crawl(cfg, tmp_path)
    [feed] = site.since(mark)
    assert feed.headers.get("if-none-match") == '"harbour-1"' and feed.status == 304
    assert third["pages"] == 1 and third["errors"] == 0


def test_a_new_store_beside_an_old_http_cache_reads_every_index_in_full(site: PlainSite, tmp_path: Path) -> None:
    """The cache lives beside the store and may outlive it: its copies say nothing to a store that never read them."""
    publish(site, 2)
    cfg, db = config(tmp_path, site), tmp_path / "m.db"
    assert crawl(cfg, tmp_path)["new_articles"] == 3  # two stories and the gallery
    for leftover in tmp_path.glob("m.db*"):  # the store deleted, its folder's httpcache/ kept
        if leftover.is_file():
            leftover.unlink()
    again = crawl(cfg, tmp_path)
    assert again["new_articles"] == 3 and again["status"] == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 3
