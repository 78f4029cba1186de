"""The ``news`` spider: crawls one source from rules.yaml (feed, sitemap or listing page).

It only fetches and follows links; ``monitor.session.CrawlSession`` analyses,
stores and records. Run it as ``scrapy crawl news -a source=NAME`` or through
``monitor run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from monitor.config import load_config
from monitor.discovery import DiscoveryError, Link, links_from_feed, links_from_listing, links_from_sitemap
from monitor.models import Page
from monitor.session import CrawlSession
from monitor.store import Store
from monitor.workers import Analyser
from spiders.settings import from_config

HTML_TYPES = (b"text/html", b"application/xhtml+xml")


class NewsSpider(scrapy.Spider):
    """One source per spider instance; the source's type decides how its index is read."""

    name = "news"
    session: CrawlSession

    def __init__(self, source: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        if not source:
            raise ValueError("pass the source to crawl: scrapy crawl news -a source=NAME")
        self.source_name = source

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        config = load_config(settings.get("MONITOR_CONFIG"))
        settings.setdict(from_config(config), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        spider: NewsSpider = super().from_crawler(crawler, *args, **kwargs)
        config = load_config(crawler.settings.get("MONITOR_CONFIG"))
        source = config.source(spider.source_name)
        analyser = crawler.settings.get("MONITOR_ANALYSER") or Analyser(
            config.rules, config.alerts.threshold, config.crawl.workers
        )
        store = Store.open(crawler.settings.get("MONITOR_DB"))
        spider.session = CrawlSession(config, source, store, analyser)
        spider.max_pages = source.max_pages
        spider.queued = 0
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        source = self.session.source
        yield scrapy.Request(
            source.url,
            callback=self.parse_index,
            errback=self.index_failed,
            cb_kwargs={"kind": source.type},
            dont_filter=True,
        )

    def parse_index(self, response: Response, kind: str) -> Iterator[scrapy.Request]:
        """Read a feed, sitemap or listing page and request the articles not seen before."""
        self.session.fetched()
        try:
            if kind in ("rss", "atom"):
                links = links_from_feed(response.body, response.url)
            elif kind == "sitemap":
                content = links_from_sitemap(response.body, response.url)
                for sitemap in content.sitemaps:
                    yield scrapy.Request(
                        sitemap, callback=self.parse_index, errback=self.index_failed, cb_kwargs={"kind": "sitemap"}
                    )
                links = content.links
            else:
                if not isinstance(response, TextResponse):
                    raise DiscoveryError("listing page is not text")
                links = links_from_listing(response.text, response.url, self.session.source.link_pattern or "")
        except DiscoveryError as problem:
            self.session.error(response.url, "index", str(problem), fatal=True)
            return
        yield from self.article_requests(links)

    def article_requests(self, links: list[Link]) -> Iterator[scrapy.Request]:
        by_url = {link.url: link for link in links}
        for url in self.session.unseen(list(by_url)):
            if self.queued >= self.max_pages:
                self.logger.info("source %s: page limit %d reached", self.source_name, self.max_pages)
                return
            self.queued += 1
            link = by_url[url]
            yield scrapy.Request(
                url,
                callback=self.parse_article,
                errback=self.article_failed,
                cb_kwargs={"hint_title": link.title, "hint_published": link.published},
            )

    def parse_article(
        self, response: Response, hint_title: str | None, hint_published: datetime | None
    ) -> Iterator[Page]:
        """Turn an HTML response into a Page for the pipeline; refuse anything else."""
        self.session.fetched()
        content_type = response.headers.get(b"Content-Type", b"").split(b";")[0].strip().lower()
        if not isinstance(response, TextResponse) or (content_type and content_type not in HTML_TYPES):
            self.session.error(
                response.url, "content-type", f"not an HTML page ({content_type.decode('latin-1') or 'binary'})"
            )
            return
        yield Page(
            source=self.source_name,
            url=response.url,
            html=response.text,
            status=response.status,
            fetched_at=datetime.now(UTC),
            hint_title=hint_title,
            hint_published=hint_published,
        )

    def request_dropped(self, request: scrapy.Request) -> None:
        """The scheduler drops a URL it has already seen; after a redirect that means a loop."""
        if request.meta.get("redirect_times"):
            urls = " -> ".join([*request.meta.get("redirect_urls", []), request.url])
            self.session.error(request.url, "redirect", f"redirect loop: {urls}")

    def index_failed(self, failure: Failure) -> None:
        self._failed(failure, fatal=True)

    def article_failed(self, failure: Failure) -> None:
        self._failed(failure, fatal=False)

    def _failed(self, failure: Failure, *, fatal: bool) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else None
        if failure.check(HttpError):
            response = failure.value.response
            self.session.error(response.url, "http", f"HTTP {response.status}", fatal=fatal)
            return
        message = (
            str(failure.value)
            if failure.check(IgnoreRequest)
            else (f"{failure.type.__name__}: {failure.getErrorMessage()}")
        )
        self.session.error(
            url,
            _error_kind(message, ignored=bool(failure.check(IgnoreRequest))),
            message or "request ignored",
            fatal=fatal,
        )

    def closed(self, reason: str) -> None:
        self.summary = self.session.finish()
        self.session.store.close()


def _error_kind(message: str, *, ignored: bool) -> str:
    """Name a failed fetch so run errors can be grouped: robots, size, ignored or fetch."""
    if "robots.txt" in message:
        return "robots"
    if "max size" in message or "DOWNLOAD_MAXSIZE" in message:
        return "size"
    return "ignored" if ignored else "fetch"
