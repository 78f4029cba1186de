"""Politeness and cost, against a server on 127.0.0.1 that honours conditional GET and can ask for a wait.

Each crawl runs in its own process, as ``monitor run`` does. The server records
every request with its headers, the status it answered and when.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from monitor.demo.sites import Story, rss_feed
from monitor.retryafter import retry_after_seconds
from monitor.runs import run_crawl
from monitor.store import Store
from tests.sitekit import RULES, RecordingSite, Seen, write

pytestmark = pytest.mark.slow

USER_AGENT = "monitor-test/0.1 (+https://example.org/contact)"


@dataclass
class Answer:
    """One programmed answer: status, headers and body (None: the page's own)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    retry_at_in: float | None = None  # send Retry-After as an HTTP date this many seconds from the answer


class ConditionalSite(RecordingSite):
    """Pages served with an ETag and Last-Modified, answering 304 to a matching conditional request."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, str]] = {}
        self.versions: dict[str, int] = {}
        self.queued: dict[str, list[Answer]] = {}  # answers given before the page itself, first first
        self.modified = datetime(2022, 1, 12, 12, 0, tzinfo=UTC)
        super().__init__(thread_name="conditional-site")

    def put(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        """Serve ``body`` at ``path``; a changed body gets a new ETag."""
        with self._lock:
            self.pages[path] = (body, content_type)
            self.versions[path] = self.versions.get(path, 0) + 1

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            queued = self.queued.get(path)
            if queued:
                answer = queued.pop(0)
                reply = dict(answer.headers)
                if answer.retry_at_in is not None:
                    when = datetime.now(UTC) + timedelta(seconds=answer.retry_at_in)
                    reply["Retry-After"] = format_datetime(when, usegmt=True)
                return answer.status, reply, answer.body or b""
            if path not in self.pages:
                return 404, {}, b"not found"
            body, content_type = self.pages[path]
            etag = f'"v{self.versions[path]}"'
        validators = {"ETag": etag, "Last-Modified": format_datetime(self.modified, usegmt=True)}
        if headers.get("if-none-match") == etag or (
            "if-none-match" not in headers
            and "if-modified-since" in headers
            and parsedate_to_datetime(headers["if-modified-since"]) >= self.modified
        ):
            return 304, validators, b""
        return 200, {"Content-Type": content_type, **validators}, body


@pytest.fixture
def site() -> Iterator[ConditionalSite]:
    with ConditionalSite() as server:
        yield server


def article_html(title: str) -> str:
    """A small article page of its own (its own canonical URL)."""
    paragraph = (
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms and now limits the largest ferries.</p>"
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{paragraph * 4}</article></body></html>"
    )


def news_site(site: ConditionalSite, count: int = 3) -> list[str]:
    """``count`` stories and their RSS feed; returns the stories' paths."""
    published = datetime(2022, 1, 12, 12, 0, tzinfo=UTC)
    stories = [
        Story(f"/story-{i}.html", f"Harbour story {i}", published - timedelta(minutes=i), "summary", "")
        for i in range(count)
    ]
    for story in stories:
        site.put(story.path, article_html(story.title).encode())
    site.put("/feed.xml", rss_feed("Conditional", site.base, stories).encode(), "application/rss+xml")
    return [s.path for s in stories]


def config(tmp_path: Path, site: ConditionalSite, *, retries: int = 0, extra: str = "", source: str = "") -> str:
    sources = source or f"  - name: cond\n    type: rss\n    url: {site.base}/feed.xml\n"
    text = (
        f"version: 1\ncrawl:\n  user_agent: '{USER_AGENT}'\n  download_delay: 0\n  retries: {retries}\n"
        f"  timeout: 5s\n  workers: 1\n{extra}alerts:\n  threshold: 3.0\nsources:\n{sources}{RULES}"
    )
    return write(tmp_path / "rules.yaml", text)


def crawl(config_path: str, tmp_path: Path) -> dict[str, Any]:
    [report] = run_crawl(config_path, str(tmp_path / "m.db")).sources
    return report


# ---------------------------------------------------------------- conditional GET


def test_an_unchanged_feed_costs_one_304_and_no_article_request(site: ConditionalSite, tmp_path: Path) -> None:
    paths = news_site(site)
    cfg = config(tmp_path, site)
    first = crawl(cfg, tmp_path)
    assert first["new_articles"] == 3
    assert (tmp_path / "httpcache").is_dir()  # next to the store
    before = len(site.seen)
    second = crawl(cfg, tmp_path)
    later = [s for s in site.seen[before:] if s.path != "/robots.txt"]
    assert [(s.path, s.status) for s in later] == [("/feed.xml", 304)]
    assert later[0].headers["if-none-match"] == '"v1"' and "if-modified-since" in later[0].headers
    assert second["status"] == "ok" and second["pages"] == 1 and second["errors"] == 0
    assert not any(s.path in paths for s in site.seen[before:])


def test_a_changed_feed_is_read_again_and_article_pages_are_never_cached(site: ConditionalSite, tmp_path: Path) -> None:
    paths = news_site(site, count=2)
    cfg = config(tmp_path, site)
    crawl(cfg, tmp_path)
    before = len(site.seen)
    news_site(site, count=3)  # a new story: the feed changes, so does its ETag
    report = crawl(cfg, tmp_path)
    assert report["new_articles"] == 1
    feed = site.requests_for("/feed.xml")[-1]
    assert feed.status == 200 and feed.headers["if-none-match"] == '"v1"'
    new = [s for s in site.seen[before:] if s.path.startswith("/story-")]
    assert [s.path for s in new] == ["/story-2.html"] and paths == ["/story-0.html", "/story-1.html"]
    assert all("if-none-match" not in s.headers for s in site.seen if s.path.startswith("/story-"))
    assert all(s.headers["user-agent"] == USER_AGENT for s in site.seen)  # the honest User-Agent, everywhere


def test_an_index_not_read_in_full_is_fetched_unconditionally_next_run(site: ConditionalSite, tmp_path: Path) -> None:
    news_site(site, count=3)
    site.queued["/story-1.html"] = [Answer(500)]  # a transient failure on the first run
    cfg = config(
        tmp_path, site, source=f"  - name: cond\n    type: rss\n    url: {site.base}/feed.xml\n    max_pages: 2\n"
    )
    assert crawl(cfg, tmp_path)["new_articles"] == 1  # story-0; story-1 failed; the page limit stopped story-2
    second = crawl(cfg, tmp_path)
    feeds = site.requests_for("/feed.xml")
    assert "if-none-match" not in feeds[1].headers and feeds[1].status == 200
    assert second["new_articles"] == 2  # the failed one and the one the limit held back
    third = crawl(cfg, tmp_path)
    assert site.requests_for("/feed.xml")[2].status == 304 and third["pages"] == 1


def test_a_cached_copy_never_hides_a_dead_or_failing_feed(site: ConditionalSite, tmp_path: Path) -> None:
    news_site(site, count=1)
    cfg = config(tmp_path, site)
    crawl(cfg, tmp_path)
    site.queued["/feed.xml"] = [Answer(500, body=b"oops")]
    failing = crawl(cfg, tmp_path)
    assert failing["status"] == "failed" and failing["errors"] == 1
    site.stop()
    dead = crawl(cfg, tmp_path)
    assert dead["status"] == "failed" and dead["errors"] == 1
    with Store.open(tmp_path / "m.db") as store:
        kinds = [r["kind"] for r in store.query("SELECT kind FROM run_errors ORDER BY id")]
    assert kinds == ["http", "fetch"]


# ---------------------------------------------------------------- Retry-After


def test_retry_after_on_429_is_waited_for(site: ConditionalSite, tmp_path: Path) -> None:
    news_site(site, count=1)
    site.queued["/story-0.html"] = [Answer(429, {"Retry-After": "2"})]
    report = crawl(config(tmp_path, site, retries=2), tmp_path)
    assert report["new_articles"] == 1
    first, second = site.requests_for("/story-0.html")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 2.0


def test_a_429_without_retry_after_is_retried_after_a_doubling_backoff_not_at_once(
    site: ConditionalSite, tmp_path: Path
) -> None:
    news_site(site, count=1)
    site.queued["/story-0.html"] = [Answer(429), Answer(429)]
    report = crawl(config(tmp_path, site, retries=2), tmp_path)
    assert report["new_articles"] == 1
    first, second, third = site.requests_for("/story-0.html")
    assert (first.status, second.status, third.status) == (429, 429, 200)
    assert second.at - first.at >= 2.0  # the first backoff
    assert third.at - second.at >= 4.0  # doubled


def test_after_a_429_the_whole_site_waits_not_only_the_request_that_got_it(
    site: ConditionalSite, tmp_path: Path
) -> None:
    paths = news_site(site, count=3)
    for path in paths:
        site.queued[path] = [Answer(429, {"Retry-After": "1"})]
    polite = Path(config(tmp_path, site, retries=1))
    polite.write_text(
        polite.read_text().replace("download_delay: 0\n", "download_delay: 0.2\n  concurrent_requests_per_domain: 1\n")
    )
    report = crawl(str(polite), tmp_path)
    assert report["new_articles"] == 3
    seen = sorted((s for s in site.seen if s.path in paths), key=lambda s: s.at)
    assert [s.status for s in seen].count(429) == 3 and len(seen) == 6
    for answer, following in pairwise(seen):
        if answer.status == 429:  # nothing at all reaches the site until the wait is over
            assert following.at - answer.at >= 0.95, (answer.path, following.path)


def test_retry_after_as_an_http_date_on_503(site: ConditionalSite, tmp_path: Path) -> None:
    news_site(site, count=1)
    site.queued["/feed.xml"] = [Answer(503, retry_at_in=3)]  # an HTTP date has whole seconds: 2-3 s away
    report = crawl(config(tmp_path, site, retries=1), tmp_path)
    assert report["status"] == "ok" and report["new_articles"] == 1
    first, second = site.requests_for("/feed.xml")
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 1.5


def test_a_wait_longer_than_allowed_is_given_up_for_the_run(site: ConditionalSite, tmp_path: Path) -> None:
    news_site(site, count=2)
    site.queued["/story-0.html"] = [Answer(429, {"Retry-After": "3600"})]
    cfg = config(tmp_path, site, retries=2, extra="  max_retry_after: 10s\n")
    started = time.monotonic()
    report = crawl(cfg, tmp_path)
    assert time.monotonic() - started < 60
    assert len(site.requests_for("/story-0.html")) == 1  # not retried at once either
    assert report["new_articles"] == 1 and report["errors"] == 1
    with Store.open(tmp_path / "m.db") as store:
        [error] = store.query("SELECT kind, message FROM run_errors")
    assert error["kind"] == "http" and "HTTP 429" in error["message"] and "Retry-After 3600" in error["message"]


def test_a_wait_longer_than_allowed_holds_the_site_back_only_as_long_as_allowed(
    site: ConditionalSite, tmp_path: Path
) -> None:
    paths = news_site(site, count=3)
    for path in paths:
        site.queued[path] = [Answer(429, {"Retry-After": "3600"})]
    polite = Path(config(tmp_path, site, retries=1, extra="  max_retry_after: 1s\n"))
    polite.write_text(
        polite.read_text().replace("download_delay: 0\n", "download_delay: 0.2\n  concurrent_requests_per_domain: 1\n")
    )
    started = time.monotonic()
    report = crawl(str(polite), tmp_path)
    assert time.monotonic() - started < 30  # not an hour
    assert report["errors"] == 3  # each page asked for an hour: given up for the run
    seen = sorted((s for s in site.seen if s.path in paths), key=lambda s: s.at)
    assert [s.status for s in seen] == [429, 429, 429]
    for answer, following in pairwise(seen):
        assert following.at - answer.at >= 0.95  # the site still waited the longest wait allowed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Wed, 12 Jan 2022 12:01:30 GMT", 90.0),
        ("Wed, 12 Jan 2022 11:00:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value: bytes | str | None, expected: float | None) -> None:
    now = datetime(2022, 1, 12, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now) == expected


def test_a_host_never_gets_more_requests_at_once_than_its_concurrency(tmp_path: Path) -> None:
    from tests.enginekit import FeedSite, article_html

    with FeedSite(page_delay=0.2) as slow:
        names = ["s0", "s1"]
        for number, name in enumerate(names):
            slow.publish(name, {str(page): article_html(f"{name} {page}", number * 100 + page) for page in range(6)})
        config = slow.config(tmp_path, names, extra_crawl="  concurrent_requests_per_domain: 2\n")
        run_crawl(config, str(tmp_path / "monitor.db"), names)
        assert len([hit for hit in slow.hits if hit.path.endswith(".html")]) == 12
        assert slow.most_in_flight == 2  # without a download delay, Scrapy 2.19 alone sent 6 to 8 at once
