"""Downloader middlewares for politeness and cost: honour ``Retry-After``, revalidate indexes with conditional GET.

* ``RetryAfterMiddleware``: a 429 or 503 that says ``Retry-After`` is retried after
  that wait (the ``retries`` budget applies), never sooner; one asking for more than
  ``MONITOR_RETRY_AFTER_MAX`` seconds is given up for this run rather than retried at once.
  One that names no wait is retried after ``MONITOR_RETRY_BACKOFF`` seconds, doubled on
  each retry (2 s, 4 s, ...), not at once. Either way the whole site waits, not only that request.
* ``IndexCacheMiddleware`` with ``IndexCachePolicy`` and ``IndexCacheStorage``: Scrapy's
  HTTP cache, restricted to index requests (feeds, sitemaps, listing pages, robots.txt of a
  ``site`` source) and made to revalidate every time, so an unchanged index costs one
  ``304 Not Modified``. The spider sees the stored copy flagged ``cached`` and skips it.
  A stored copy never stands in for a failure (a dead feed stays dead), and an index whose
  articles were not all fetched (the page limit, a transient error) is forgotten at the end
  of the run, so the next run reads it in full.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from scrapy import Request, Spider
from scrapy.core import downloader as scrapy_downloader
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.extensions.httpcache import FilesystemCacheStorage, RFC2616Policy
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task

from monitor.retryafter import retry_after_seconds

log = logging.getLogger(__name__)

# Request meta key marking an index request (feed, sitemap, listing page): the only ones cached.
INDEX = "monitor_index"
RETRY_AFTER_CODES = frozenset({429, 503})


class RetryAfterMiddleware:
    """Retry a 429 or 503 only after the ``Retry-After`` wait (or a backoff); give it up when the wait is too long."""

    def __init__(self, crawler: Crawler, max_delay: float, backoff: float = 2.0):
        self.crawler = crawler
        self.max_delay = max_delay
        self.backoff = backoff  # the first wait when the server names none; doubled on each retry

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        if not crawler.settings.getbool("MONITOR_RETRY_AFTER_ENABLED", True):
            raise NotConfigured
        settings = crawler.settings
        max_delay = settings.getfloat("MONITOR_RETRY_AFTER_MAX", 120.0)
        return cls(crawler, max_delay, settings.getfloat("MONITOR_RETRY_BACKOFF", 2.0))

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in RETRY_AFTER_CODES or request.meta.get("dont_retry"):
            return response
        delay = retry_after_seconds(response.headers.get(b"Retry-After"), datetime.now(UTC))
        asked = delay is not None
        if delay is None:
            # No wait asked for: back off anyway (2 s, 4 s, 8 s ...) rather than retry an overloaded server at once.
            delay = min(self.backoff * 2 ** request.meta.get("retry_times", 0), self.max_delay)
        request.meta["retry_after"] = delay
        # The site waits as long as we would wait to retry: a longer wait is given up, not sat out.
        self._pause_site(request, min(delay, self.max_delay))
        if delay > self.max_delay:
            # retrying at once would ignore the server; waiting this long would stall the run
            request.meta["dont_retry"] = True
            log.warning(
                "%s answered %d with Retry-After %.0f s, more than the %.0f s allowed: not retried this run",
                request.url,
                response.status,
                delay,
                self.max_delay,
            )
            return response
        spider = self.crawler.spider
        assert spider is not None
        reason = f"{response.status} Retry-After" if asked else f"{response.status} backoff"
        retry = get_retry_request(request, spider=spider, reason=reason)
        if retry is None:
            request.meta["dont_retry"] = True
            return response
        how = "as asked" if asked else "backing off (no Retry-After)"
        log.info("%s answered %d: retrying after %.1f s, %s", request.url, response.status, delay, how)
        from twisted.internet import reactor

        await maybe_deferred_to_future(task.deferLater(reactor, delay))
        return retry

    def _pause_site(self, request: Request, seconds: float) -> None:
        """Send nothing more to this site for ``seconds``: the wait is the server's, not one request's.

        The downloader spaces a site's requests by its download delay from the last one
        sent; moving that moment ``seconds`` ahead holds back every queued request. With
        ``download_delay: 0`` Scrapy does not space requests, and only the retry waits.
        """
        engine = self.crawler.engine
        downloader = getattr(engine, "downloader", None)
        get_key = getattr(downloader, "get_slot_key", None)
        if downloader is None or get_key is None or seconds <= 0:
            return
        slot = downloader.slots.get(get_key(request))
        if slot is not None:
            slot.lastseen = max(slot.lastseen, _DOWNLOADER_CLOCK() + seconds)


# The clock the downloader keeps slot times with: monotonic() in recent Scrapy, time() in older releases.
_DOWNLOADER_CLOCK = cast(
    Callable[[], float],
    getattr(scrapy_downloader, "monotonic", None) or getattr(scrapy_downloader, "time", time.time),
)


class IndexCachePolicy(RFC2616Policy):
    """RFC 2616 caching for index requests only, always revalidated (ETag / Last-Modified), never trusted stale."""

    def should_cache_request(self, request: Request) -> bool:
        return bool(request.meta.get(INDEX)) and super().should_cache_request(request)

    def is_cached_response_fresh(self, cachedresponse: Response, request: Request) -> bool:
        # A heuristic freshness (10% of the Last-Modified age) would skip a feed for hours: always ask,
        # with the validators the stored copy came with.
        for validator, condition in ((b"ETag", b"If-None-Match"), (b"Last-Modified", b"If-Modified-Since")):
            value = cachedresponse.headers.get(validator)
            if value:
                request.headers[condition] = value
        return False

    def is_cached_response_valid(self, cachedresponse: Response, response: Response, request: Request) -> bool:
        # Only a 304 means "unchanged"; RFC 2616 would also serve the old copy over a 5xx, hiding the failure.
        return response.status == 304


class IndexCacheStorage(FilesystemCacheStorage):
    """The filesystem cache, which survives a full disk and can forget one entry."""

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        try:
            super().store_response(spider, request, response)
        except OSError as error:
            log.warning("could not cache %s (%s): it will be fetched in full next run", request.url, error)

    def forget(self, spider: Spider, request: Request) -> None:
        """Drop the stored response for ``request``, so the next run fetches it unconditionally."""
        shutil.rmtree(Path(self._get_request_path(spider, request)), ignore_errors=True)


class IndexCacheMiddleware(HttpCacheMiddleware):
    """Scrapy's HTTP cache middleware that never hides a failure and forgets incompletely read indexes."""

    storage: Any

    def process_exception(self, request: Request, exception: Exception) -> None:  # type: ignore[override]
        # HttpCacheMiddleware would answer a dead server with the stored copy: a dead feed must look dead.
        request.meta.pop("cached_response", None)

    def spider_closed(self, spider: Spider) -> None:
        forget = getattr(self.storage, "forget", None)
        for url in sorted(getattr(spider, "incomplete_indexes", ())):
            if forget is not None:
                forget(spider, Request(url))
                log.info("index %s was not read in full: it will be fetched unconditionally next run", url)
        super().spider_closed(spider)
