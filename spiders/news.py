"""The ``news`` spider: crawls one source from rules.yaml (feed, sitemap, listing page or site).

It only fetches and follows links; ``monitor.ingest.session.CrawlSession`` analyses,
stores and records. A ``site`` source starts from the site's robots.txt and reads
the sitemaps its ``Sitemap:`` lines name (else ``/sitemap.xml``). Links an index
dates older than the source's ``max_age`` are never fetched. Index requests are
revalidated with conditional GET (``spiders.middlewares``): an unchanged one comes
back flagged ``cached`` and is not read again. Run it as
``scrapy crawl news -a source=NAME`` or through ``monitor run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urljoin

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import task
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from monitor.extract import (
    DiscoveryError,
    Link,
    fresh_links,
    links_from_feed,
    links_from_listing,
    links_from_sitemap,
    site_root,
    sitemaps_from_robots,
)
from monitor.extract.article import canonicalize_url
from monitor.extract.discovery import DEFAULT_SITEMAP_PATH
from monitor.ingest import Analyser, CrawlSession, may_be_relevant
from monitor.models import Page, SourceRunSummary
from monitor.rules import RuleSet
from monitor.store import Store
from spiders.middlewares import INDEX, InternalAddressRefused
from spiders.settings import from_config, httpcache_dir, loaded_config

HTML_TYPES = (b"text/html", b"application/xhtml+xml")
RECEIVED = "monitor_body_bytes"  # request meta: the bytes of its response body received so far
PROGRESS_SECONDS = 2.0  # how often a run's counters are written while it goes on
LINK_BATCH = 500  # links looked up in the store at a time: a 100,000-item feed stops at max_pages, not at its end


class NewsSpider(scrapy.Spider):
    """One source per spider instance; the source's type decides how its index is read."""

    name = "news"
    # Set by from_crawler, which has the configuration and the store.
    session: CrawlSession
    ruleset: RuleSet | None  # the rules the link prefilter reads; None when the source does not prefilter
    max_pages: int
    max_bytes: int  # DOWNLOAD_MAXSIZE, the size cap of a response body
    max_index_depth: int  # how deep sitemap indexes may nest below the source's own
    max_indexes: int  # feeds, sitemaps and listing pages requested per run

    def __init__(self, source: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        if not source:
            raise ValueError("pass the source to crawl: scrapy crawl news -a source=NAME")
        self.source_name = source
        self.queued = 0
        # indexes whose links were not all fetched: forgotten by the HTTP cache so the next run reads them
        self.incomplete_indexes: set[str] = set()
        self.indexes_requested = 0
        self.indexes_read: set[str] = set()  # indexes some of whose articles were requested
        self.limits_hit: set[str] = set()  # the bounds (depth, count) reached this run, each recorded once
        self.progress: task.LoopingCall | None = None
        self.summary: SourceRunSummary | None = None  # set when the spider closes; spiders.crawl reports it

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        config = loaded_config(settings)
        settings.set("MONITOR_LOADED_CONFIG", config, priority="spider")  # for from_crawler: read the file once
        settings.setdict(from_config(config), priority="spider")
        if settings.getpriority("HTTPCACHE_DIR") in (None, 0):  # not set by whoever runs the crawl
            settings.set("HTTPCACHE_DIR", httpcache_dir(settings.get("MONITOR_DB")), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        spider: NewsSpider = super().from_crawler(crawler, *args, **kwargs)
        config = loaded_config(crawler.settings)
        source = config.source(spider.source_name)
        analyser = crawler.settings.get("MONITOR_ANALYSER") or Analyser(
            config.rules, config.alerts.threshold, config.crawl.workers, config.alerts.max_age_seconds
        )
        store = Store.open(crawler.settings.get("MONITOR_DB"))
        spider.session = CrawlSession(config, source, store, analyser)
        spider.ruleset = analyser.ruleset if source.prefilter else None
        spider.max_pages = source.max_pages
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.bytes_received, signal=signals.bytes_received)
        spider.max_bytes = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        spider.max_index_depth = config.crawl.max_index_depth
        spider.max_indexes = config.crawl.max_indexes
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.progress = task.LoopingCall(self.session.save_progress)
        self.progress.start(PROGRESS_SECONDS, now=False)
        source = self.session.source
        if source.type == "site":
            yield scrapy.Request(
                urljoin(site_root(source.url), "/robots.txt"),
                callback=self.parse_robots,
                errback=self.robots_failed,
                dont_filter=True,
                meta={INDEX: True},
            )
        else:
            for request in self.follow_indexes([source.url], source.type, 0):
                yield request

    def index_request(self, url: str, kind: str, depth: int = 0) -> scrapy.Request:
        """A request for a feed, sitemap or listing page: cached for conditional GET, its failure fatal."""
        return scrapy.Request(
            url,
            callback=self.parse_index,
            errback=self.index_failed,
            cb_kwargs={"kind": kind, "depth": depth},
            meta={INDEX: True},
        )

    def follow_indexes(self, urls: list[str], kind: str, depth: int, parent: str = "") -> Iterator[scrapy.Request]:
        """Requests for ``urls``, indexes ``depth`` levels below the source's own, within the run's bounds."""
        if urls and depth > self.max_index_depth:
            self._limit(
                "depth",
                parent or urls[0],
                f"sitemap index nested more than crawl.max_index_depth ({self.max_index_depth}) levels deep:"
                f" its {len(urls)} sitemap(s) not read, the first {urls[0]}",
            )
            return
        for number, url in enumerate(urls):
            if self.indexes_requested >= self.max_indexes:
                self._limit(
                    "count",
                    parent or url,
                    f"more than crawl.max_indexes ({self.max_indexes}) feeds and sitemaps in one run:"
                    f" {len(urls) - number} sitemap(s) not read, the first {url}",
                )
                return
            self.indexes_requested += 1
            yield self.index_request(url, kind, depth)

    def _limit(self, bound: str, url: str, message: str) -> None:
        """Record the first time a bound stops discovery this run; log the others."""
        if bound in self.limits_hit:
            self.logger.info("source %s: %s", self.source_name, message)
            return
        self.limits_hit.add(bound)
        self.session.error(url, "limit", message)

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        """A site source: read the sitemaps robots.txt names, else the conventional /sitemap.xml."""
        self.session.fetched()
        text = response.text if isinstance(response, TextResponse) else ""
        sitemaps = sitemaps_from_robots(text, response.url)
        if not sitemaps:
            self.logger.info(
                "source %s: robots.txt names no sitemap, trying %s", self.source_name, DEFAULT_SITEMAP_PATH
            )
            sitemaps = [urljoin(response.url, DEFAULT_SITEMAP_PATH)]
        yield from self.follow_indexes(sitemaps, "sitemap", 0, response.url)

    def robots_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        """No robots.txt (a 404, say) is no reason to give up: try the conventional sitemap."""
        if not _check(failure, HttpError):
            self._failed(failure, fatal=True)
            return
        self.session.fetched()
        yield from self.follow_indexes(
            [urljoin(site_root(self.session.source.url), DEFAULT_SITEMAP_PATH)], "sitemap", 0
        )

    def parse_index(self, response: Response, kind: str, depth: int = 0) -> Iterator[scrapy.Request]:
        """Read a feed, sitemap or listing page and request the articles not seen before."""
        self.session.fetched()
        unchanged = "cached" in response.flags  # revalidated with a 304: read in full by an earlier run
        if unchanged and kind != "sitemap":
            self.logger.info("source %s: %s unchanged (304), not read again", self.source_name, response.url)
            return
        try:
            if kind in ("rss", "atom"):
                links = links_from_feed(response.body, response.url)
            elif kind == "sitemap":
                content = links_from_sitemap(response.body, response.url)
                sitemaps, old = fresh_links(content.sitemaps, datetime.now(UTC), self.session.source.max_age_seconds)
                if old:
                    self.logger.info("source %s: %d sitemaps older than max_age skipped", self.source_name, len(old))
                # a sitemap index: its children may have changed even if it has not
                yield from self.follow_indexes(
                    [sitemap.url for sitemap in sitemaps], "sitemap", depth + 1, response.url
                )
                if unchanged:
                    self.logger.info("source %s: %s unchanged (304), not read again", self.source_name, response.url)
                    return
                links = content.links
            else:
                if not isinstance(response, TextResponse):
                    raise DiscoveryError("listing page is not text")
                links = links_from_listing(response.text, response.url, self.session.source.link_pattern or "")
        except DiscoveryError as problem:
            self.session.error(response.url, "index", str(problem), fatal=True)
            return
        yield from self.article_requests(links, response.url)

    def article_requests(self, links: list[Link], index_url: str) -> Iterator[scrapy.Request]:
        """Requests for the links not seen before and not older than the source's max_age, up to the page limit."""
        fresh, old = fresh_links(links, datetime.now(UTC), self.session.source.max_age_seconds)
        if old:
            self.logger.info(
                "source %s: %d links older than max_age not fetched (%s)", self.source_name, len(old), index_url
            )
        if self.session.source.prefilter and self.ruleset is not None:
            relevant = [link for link in fresh if may_be_relevant(self.ruleset, link, self.source_name)]
            if len(relevant) < len(fresh):
                self.logger.info(
                    "source %s: %d links whose index title and keywords match no rule not fetched",
                    self.source_name,
                    len(fresh) - len(relevant),
                )
            fresh = relevant
        by_url = {link.url: link for link in fresh}
        for start in range(0, len(fresh), LINK_BATCH):
            batch = [
                (link.url, canonicalize_url(link.url), link.published) for link in fresh[start : start + LINK_BATCH]
            ]
            for url in self.session.to_fetch(batch, datetime.now(UTC)):
                if self.queued >= self.max_pages:
                    self.logger.info("source %s: page limit %d reached", self.source_name, self.max_pages)
                    self.incomplete_indexes.add(index_url)
                    return
                self.queued += 1
                self.indexes_read.add(index_url)
                link = by_url[url]
                yield scrapy.Request(
                    url,
                    callback=self.parse_article,
                    errback=self.article_failed,
                    cb_kwargs={"hint_title": link.title, "hint_published": link.published},
                    meta={"index_url": index_url},
                )

    def parse_article(
        self, response: Response, hint_title: str | None, hint_published: datetime | None
    ) -> Iterator[Page]:
        """Turn an HTML response into a Page for the pipeline; refuse anything else."""
        self.session.fetched()
        content_type = (response.headers.get(b"Content-Type") or b"").split(b";")[0].strip().lower()
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

    def bytes_received(self, data: bytes, request: scrapy.Request) -> None:
        """Count a response's body as it arrives: a download cancelled at the size cap says nothing of its own."""
        request.meta[RECEIVED] = request.meta.get(RECEIVED, 0) + len(data)

    def request_dropped(self, request: scrapy.Request) -> None:
        """The scheduler drops a URL it has already seen; after a redirect that means a loop."""
        if request.meta.get("redirect_times"):
            urls = " -> ".join([*request.meta.get("redirect_urls", []), request.url])
            self.session.error(request.url, "redirect", f"redirect loop: {urls}")

    def index_failed(self, failure: Failure) -> None:
        self._failed(failure, fatal=True)

    def article_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        if request is not None and request.meta.get("index_url") and _transient(failure):
            self.incomplete_indexes.add(request.meta["index_url"])  # worth another try next run
        self._failed(failure, fatal=False)

    def _failed(self, failure: Failure, *, fatal: bool) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else None
        if _check(failure, HttpError):
            response = _http_error(failure).response
            message = f"HTTP {response.status}"
            retry_after = response.request.meta.get("retry_after") if response.request is not None else None
            if retry_after is not None:
                message += f" (Retry-After {retry_after:.0f} s; not retried this run)"
            self.session.error(response.url, "http", message, fatal=fatal)
            return
        ignored = _check(failure, IgnoreRequest)
        if ignored:
            message = str(failure.value)
        elif _check(failure, DownloadCancelledError, CancelledError) and not failure.getErrorMessage():
            message = self._cancelled(request)
        else:
            assert failure.type is not None  # Twisted makes no Failure without an exception
            message = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        self.session.error(
            url,
            "internal-address" if _check(failure, InternalAddressRefused) else _error_kind(message, ignored=ignored),
            message or "request ignored",
            fatal=fatal,
        )

    def _cancelled(self, request: scrapy.Request | None) -> str:
        """Why a download was cancelled without a word: a body without a Content-Length that passed the size cap."""
        received = request.meta.get(RECEIVED, 0) if request is not None else 0
        cap = request.meta.get("download_maxsize", self.max_bytes) if request is not None else self.max_bytes
        if cap and received > cap:
            return (
                f"body over the max size of {cap} bytes ({received} received before it was cut off):"
                " no Content-Length announced it, an endless or unsized body"
            )
        return f"download cancelled after {received} bytes of body, before the body ended"

    def closed(self, reason: str) -> None:
        if self.progress is not None and self.progress.running:
            self.progress.stop()
        if reason == "closespider_timeout":
            deadline = self.crawler.settings.getfloat("CLOSESPIDER_TIMEOUT")
            self.session.error(
                None,
                "deadline",
                f"the run's deadline ({deadline:.0f} s, crawl.run_deadline) passed before the crawl ended:"
                " stopped; what it did not fetch is fetched next run",
                fatal=True,
            )
        if reason != "finished":  # stopped early: articles still queued must be found again next run
            self.incomplete_indexes |= self.indexes_read
        self.summary = self.session.finish()
        self.session.store.close()


def _transient(failure: Failure) -> bool:
    """A failure that may not happen again: a 5xx or 429, a timeout, a refused connection; not a 404 or robots.txt."""
    if _check(failure, HttpError):
        status = int(_http_error(failure).response.status)
        return status >= 500 or status == 429
    return not _check(failure, IgnoreRequest)


def _check(failure: Failure, *kinds: type[Exception]) -> bool:
    """Whether ``failure`` is one of ``kinds``: ``Failure.check``, which Twisted leaves unannotated."""
    check = cast(Callable[..., type[Exception] | None], failure.check)
    return check(*kinds) is not None


def _http_error(failure: Failure) -> HttpError:
    """The HttpError of a failure ``_check`` found to be one (Twisted types ``Failure.value`` as any exception)."""
    return cast(HttpError, failure.value)


def _error_kind(message: str, *, ignored: bool) -> str:
    """Name a failed fetch so run errors can be grouped: robots, size, ignored or fetch."""
    if "robots.txt" in message:
        return "robots"
    if "max size" in message or "DOWNLOAD_MAXSIZE" in message:
        return "size"
    return "ignored" if ignored else "fetch"
