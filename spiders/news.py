"""The ``news`` spider: crawls sources from rules.yaml (feed, sitemap, listing page or site), many at once.

It only fetches and follows links; ``monitor.ingest.session.CrawlSession`` chooses
links, analyses, stores and records. One spider lives as long as its crawl engine
(``spiders.engine``) and crawls every source-run the engine starts, so sources that
share a host share one downloader slot and its politeness. Each run is a
``SourceRun``: its requests carry it in their meta, it counts the requests it still
waits for, and it ends when that count reaches zero or its deadline passes.

A ``site`` source starts from the site's robots.txt and reads the sitemaps its
``Sitemap:`` lines name (else ``/sitemap.xml``). Index requests are revalidated with
conditional GET (``spiders.middlewares``): an unchanged one comes back flagged
``cached`` and is not read again. ``scrapy crawl news -a source=NAME`` crawls one
source with the rules of ``MONITOR_CONFIG`` into ``MONITOR_DB``.

In a cluster worker's engine, a run hands the article pages it chooses out to every
worker (``RunLedger.hand_out``), and ``fetch_page`` fetches one page some run handed
out, as a run of its own that ends with that page.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urljoin

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.dupefilters import BaseDupeFilter
from scrapy.exceptions import DontCloseSpider, DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import task
from twisted.internet.base import DelayedCall
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from monitor.config import Config
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
from monitor.extract.discovery import DEFAULT_SITEMAP_PATH
from monitor.ingest import Analyser, CrawlSession, PageOrder, RunClaim, RunLedger, StoreLedger
from monitor.models import Page, SourceRunSummary
from monitor.store import Store
from monitor.store.runs import close_left_open
from spiders.middlewares import INDEX, RUN, SOURCE_URL, InternalAddressRefused, run_finished
from spiders.settings import from_config, httpcache_dir, loaded_config

HTML_TYPES = (b"text/html", b"application/xhtml+xml")
RECEIVED = "monitor_body_bytes"  # request meta: the bytes of its response body received so far
PROGRESS_SECONDS = 2.0  # how often the runs' counters are written while they go on


class SourceRun:
    """One run of one source inside the spider: its session, its bounds, and the requests it still waits for."""

    def __init__(self, session: CrawlSession, on_finished: Callable[[SourceRun], None] | None = None):
        self.session = session
        self.name = session.source.name
        self.on_finished = on_finished
        self.pending = 0  # requests made and not yet answered, failed or dropped
        self.seen: set[bytes] = set()  # fingerprints of this run's requests: each URL once a run
        # indexes whose links were not all fetched: forgotten by the HTTP cache so the next run reads them
        self.incomplete_indexes: set[str] = set()
        self.indexes_requested = 0
        self.indexes_read: set[str] = set()  # indexes some of whose articles were requested
        self.limits_hit: set[str] = set()  # the bounds (depth, count) reached this run, each recorded once
        self.deadline_call: DelayedCall | None = None
        self.deadline: float | None = None
        self.deadline_at: float | None = None  # the same, as wall-clock time (for the pages it hands out)
        self.summary: SourceRunSummary | None = None  # set when the run ends

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def done(self) -> bool:
        """It takes no more pages: finished, or ended early and closing once its saves in flight land."""
        return self.finished or self.session.closing


class RunDupeFilter(BaseDupeFilter):
    """Scrapy's duplicate filter, per source-run: a URL is fetched once a run, and again next run."""

    def __init__(self, fingerprint: Callable[[scrapy.Request], bytes]):
        self.fingerprint = fingerprint
        self.unowned: set[bytes] = set()  # requests of no run (none the spider makes)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunDupeFilter:
        assert crawler.request_fingerprinter is not None
        return cls(crawler.request_fingerprinter.fingerprint)

    def log(self, request: scrapy.Request, spider: scrapy.Spider) -> None:
        """Nothing to log: the spider records a dropped request (``request_dropped``) when it matters."""

    def request_seen(self, request: scrapy.Request) -> bool:
        run = request.meta.get(RUN)
        seen = run.seen if isinstance(run, SourceRun) else self.unowned
        fingerprint = self.fingerprint(request)
        if fingerprint in seen:
            return True
        seen.add(fingerprint)
        return False


class NewsSpider(scrapy.Spider):
    """Crawls source-runs: the engine starts each with ``start_run``; the source's type decides how it is read."""

    name = "news"
    max_bytes: int  # DOWNLOAD_MAXSIZE, the size cap of a response body

    def __init__(
        self,
        config: Config | None = None,
        ledger: RunLedger | None = None,
        analyser: Analyser | None = None,
        source: str = "",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if config is None and not source:
            raise ValueError("pass the source to crawl: scrapy crawl news -a source=NAME")
        self.config = config
        self.ledger = ledger  # the store's (StoreLedger), or a cluster's writer's
        self.store: Store | None = None  # ``scrapy crawl``'s own store
        self.analyser = analyser
        self.standalone_source = source  # ``scrapy crawl news -a source=NAME``: that one run, then close
        self.keep_open = config is not None  # an engine's spider waits for runs until it is drained
        self.runs: set[SourceRun] = set()
        self.progress: task.LoopingCall | None = None
        self.summary: SourceRunSummary | None = None  # the standalone run's, when it ends

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if settings.get("MONITOR_ALLOW_PRIVATE_NETWORKS") is None:  # scrapy crawl: not set up by the engine
            settings.setdict(from_config(loaded_config(settings)), priority="spider")
        if settings.getpriority("HTTPCACHE_DIR") in (None, 0):  # not set by whoever runs the crawl
            settings.set("HTTPCACHE_DIR", httpcache_dir(settings.get("MONITOR_DB")), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        spider: NewsSpider = super().from_crawler(crawler, *args, **kwargs)
        if spider.config is None:  # scrapy crawl: the files the settings name
            spider.config = loaded_config(crawler.settings)
            spider.store = Store.open(crawler.settings.get("MONITOR_DB"))
            spider.ledger = StoreLedger(spider.store)
            c = spider.config
            spider.analyser = Analyser(c.rules, c.alerts.threshold, c.crawl.workers, c.alerts.max_age_seconds)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.bytes_received, signal=signals.bytes_received)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        spider.max_bytes = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.progress = task.LoopingCall(self.save_progress)
        self.progress.start(PROGRESS_SECONDS, now=False)
        if self.standalone_source:
            assert self.store is not None
            close_left_open(self.store, [self.standalone_source])
            self.start_run(self.standalone_source, self.crawler.settings.getfloat("CLOSESPIDER_TIMEOUT") or None)
        return
        yield  # an async generator that yields nothing: runs are scheduled with the engine

    def start_run(
        self,
        source: str,
        deadline: float | None = None,
        on_finished: Callable[[SourceRun], None] | None = None,
        on_alerts: Callable[[int], None] | None = None,
        claim: RunClaim | None = None,
    ) -> SourceRun:
        """Open a run of ``source`` (or the one ``claim`` names: record, session); schedule its first requests."""
        assert self.config is not None and self.ledger is not None and self.analyser is not None
        source_spec = self.config.source(source)
        session = CrawlSession(self.config, source_spec, self.ledger, self.analyser, on_alerts, claim)
        run = SourceRun(session, on_finished)
        self.runs.add(run)
        self._set_deadline(run, deadline)
        spec = session.source
        if spec.type == "site":
            self._schedule(
                run,
                urljoin(site_root(spec.url), "/robots.txt"),
                self.parse_robots,
                self.robots_failed,
                dont_filter=True,
                meta={INDEX: True},
            )
        else:
            self.follow_indexes(run, [spec.url], spec.type, 0)
        if run.pending == 0:  # nothing to fetch at all (crawl.max_indexes: 0)
            self.end(run)
        return run

    def fetch_page(
        self,
        source: str,
        claim: RunClaim,
        deadline_at: float | None,
        page: PageOrder,
        on_finished: Callable[[SourceRun], None] | None = None,
    ) -> SourceRun:
        """Fetch one article page a run handed out (``claim`` names the run and the page), as a run of its own."""
        assert self.config is not None and self.ledger is not None and self.analyser is not None
        session = CrawlSession(self.config, self.config.source(source), self.ledger, self.analyser, None, claim)
        run = SourceRun(session, on_finished)
        run.indexes_read.add(page.index_url)  # ended early (the deadline): its index is read in full next run
        self.runs.add(run)
        left = None if deadline_at is None else deadline_at - time.time()
        if left is not None and left <= 0:  # its run's time is up: not fetched, and fetched at the next run
            self.end(run, complete=False)
            return run
        self._set_deadline(run, left)
        self._request_article(run, page)
        return run

    def _set_deadline(self, run: SourceRun, deadline: float | None) -> None:
        if not deadline:
            return
        from twisted.internet import reactor

        run.deadline = deadline
        run.deadline_at = time.time() + deadline
        run.deadline_call = cast(Any, reactor).callLater(deadline, self.expire, run)

    def _schedule(
        self,
        run: SourceRun,
        url: str,
        callback: Callable[..., Any],
        errback: Callable[[Failure], Any],
        *,
        meta: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Hand a request of ``run`` to the engine, counted until it is answered, fails or is dropped."""
        request = scrapy.Request(
            url,
            callback=callback,
            errback=errback,
            meta={**(meta or {}), RUN: run, SOURCE_URL: run.session.source.url},
            **kwargs,
        )
        run.pending += 1
        assert self.crawler.engine is not None
        self.crawler.engine.crawl(request)

    def _settle(self, run: SourceRun) -> None:
        """One of the run's requests is done with; the run ends when none is left."""
        run.pending -= 1
        if run.pending <= 0 and not run.done:  # a run ended early closes once its saves land (close_when_saved)
            self.end(run)

    def follow_indexes(self, run: SourceRun, urls: list[str], kind: str, depth: int, parent: str = "") -> None:
        """Request ``urls``, indexes ``depth`` levels below the source's own, within the run's bounds."""
        crawl = run.session.config.crawl
        if urls and depth > crawl.max_index_depth:
            self._limit(
                run,
                "depth",
                parent or urls[0],
                f"sitemap index nested more than crawl.max_index_depth ({crawl.max_index_depth}) levels deep:"
                f" its {len(urls)} sitemap(s) not read, the first {urls[0]}",
            )
            return
        for number, url in enumerate(urls):
            if run.indexes_requested >= crawl.max_indexes:
                self._limit(
                    run,
                    "count",
                    parent or url,
                    f"more than crawl.max_indexes ({crawl.max_indexes}) feeds and sitemaps in one run:"
                    f" {len(urls) - number} sitemap(s) not read, the first {url}",
                )
                return
            run.indexes_requested += 1
            self._schedule(
                run,
                url,
                self.parse_index,
                self.index_failed,
                cb_kwargs={"kind": kind, "depth": depth},
                meta={INDEX: True},
            )

    def _limit(self, run: SourceRun, bound: str, url: str, message: str) -> None:
        """Record the first time a bound stops discovery this run; log the others."""
        if bound in run.limits_hit:
            self.logger.info("source %s: %s", run.name, message)
            return
        run.limits_hit.add(bound)
        run.session.error(url, "limit", message)

    def parse_robots(self, response: Response) -> None:
        """A site source: read the sitemaps robots.txt names, else the conventional /sitemap.xml."""
        run: SourceRun = response.meta[RUN]
        try:
            if run.done:
                return
            run.session.fetched()
            text = response.text if isinstance(response, TextResponse) else ""
            sitemaps = sitemaps_from_robots(text, response.url)
            if not sitemaps:
                self.logger.info("source %s: robots.txt names no sitemap, trying %s", run.name, DEFAULT_SITEMAP_PATH)
                sitemaps = [urljoin(response.url, DEFAULT_SITEMAP_PATH)]
            self.follow_indexes(run, sitemaps, "sitemap", 0, response.url)
        finally:
            self._settle(run)

    def robots_failed(self, failure: Failure) -> None:
        """No robots.txt (a 404, say) is no reason to give up: try the conventional sitemap."""
        run = _run_of(failure)
        try:
            if run.done:
                return
            if not _check(failure, HttpError):
                self._failed(run, failure, fatal=True)
                return
            run.session.fetched()
            self.follow_indexes(run, [urljoin(site_root(run.session.source.url), DEFAULT_SITEMAP_PATH)], "sitemap", 0)
        finally:
            self._settle(run)

    def parse_index(self, response: Response, kind: str, depth: int = 0) -> None:
        """Read a feed, sitemap or listing page and request the articles not seen before."""
        run: SourceRun = response.meta[RUN]
        try:
            if not run.done:
                self._read_index(run, response, kind, depth)
        finally:
            self._settle(run)

    def _read_index(self, run: SourceRun, response: Response, kind: str, depth: int) -> None:
        session = run.session
        session.fetched()
        # revalidated (a 304, or the same bytes): read in full by an earlier run of this store, unless
        # a page it named was not fetched (in a cluster, by another worker: the ledger knows)
        unchanged = "cached" in response.flags and session.read_before and not self._must_reread(response.url)
        if unchanged and kind != "sitemap":
            self.logger.info("source %s: %s unchanged, not read again", run.name, response.url)
            return
        try:
            if kind in ("rss", "atom"):
                links = links_from_feed(response.body, response.url)
            elif kind == "sitemap":
                content = links_from_sitemap(response.body, response.url)
                sitemaps, old = fresh_links(content.sitemaps, datetime.now(UTC), session.source.max_age_seconds)
                if old:
                    self.logger.info("source %s: %d sitemaps older than max_age skipped", run.name, len(old))
                # a sitemap index: its children may have changed even if it has not
                self.follow_indexes(run, [sitemap.url for sitemap in sitemaps], "sitemap", depth + 1, response.url)
                if unchanged:
                    self.logger.info("source %s: %s unchanged, not read again", run.name, response.url)
                    return
                links = content.links
            else:
                if not isinstance(response, TextResponse):
                    raise DiscoveryError("listing page is not text")
                links = links_from_listing(response.text, response.url, session.source.link_pattern or "")
        except DiscoveryError as problem:
            session.error(response.url, "index", str(problem), fatal=True)
            return
        self.request_articles(run, links, response.url)

    def request_articles(self, run: SourceRun, links: list[Link], index_url: str) -> None:
        """Request the links the session chooses: new or changed, young enough, maybe relevant, within the limit."""
        choice = run.session.choose_links(links, datetime.now(UTC))
        if choice.too_old:
            self.logger.info(
                "source %s: %d links older than max_age not fetched (%s)", run.name, choice.too_old, index_url
            )
        if choice.irrelevant:
            self.logger.info(
                "source %s: %d links whose index title and keywords match no rule not fetched",
                run.name,
                choice.irrelevant,
            )
        if choice.page_limit:
            self.logger.info("source %s: page limit %d reached", run.name, run.session.source.max_pages)
            run.incomplete_indexes.add(index_url)
        if choice.fetch:
            run.indexes_read.add(index_url)
        orders = [PageOrder(link.url, link.title, link.published, index_url) for link in choice.fetch]
        if (
            orders
            and self.ledger is not None
            and self.ledger.hand_out(run.session.claim, run.name, orders, run.deadline_at)
        ):
            return  # fetched by whichever workers are free; the run's writer waits for each of them
        for order in orders:
            self._request_article(run, order)

    def _request_article(self, run: SourceRun, page: PageOrder) -> None:
        """Request an article page, with what its index said of it."""
        self._schedule(
            run,
            page.url,
            self.parse_article,
            self.article_failed,
            cb_kwargs={"hint_title": page.hint_title, "hint_published": page.hint_published},
            meta={"index_url": page.index_url},
        )

    async def parse_article(self, response: Response, hint_title: str | None, hint_published: datetime | None) -> None:
        """Hand an HTML response to the session, which analyses and stores it; refuse anything else."""
        run: SourceRun = response.meta[RUN]
        try:
            if run.done:
                return
            run.session.fetched()
            content_type = (response.headers.get(b"Content-Type") or b"").split(b";")[0].strip().lower()
            if not isinstance(response, TextResponse) or (content_type and content_type not in HTML_TYPES):
                kind = content_type.decode("latin-1") or "binary"
                run.session.error(response.url, "content-type", f"not an HTML page ({kind})")
                return
            page = Page(
                source=run.name,
                url=response.url,
                html=response.text,
                status=response.status,
                fetched_at=datetime.now(UTC),
                hint_title=hint_title,
                hint_published=hint_published,
            )
            if await run.session.process(page) and response.meta.get("index_url"):
                run.incomplete_indexes.add(response.meta["index_url"])  # lost to a dead worker: again next run
        finally:
            self._settle(run)

    def bytes_received(self, data: bytes, request: scrapy.Request) -> None:
        """Count a response's body as it arrives: a download cancelled at the size cap says nothing of its own."""
        request.meta[RECEIVED] = request.meta.get(RECEIVED, 0) + len(data)

    def request_dropped(self, request: scrapy.Request) -> None:
        """The scheduler drops a URL the run has already requested; after a redirect that means a loop."""
        run = request.meta.get(RUN)
        if not isinstance(run, SourceRun) or run.done:
            return
        if request.meta.get("redirect_times"):
            urls = " -> ".join([*request.meta.get("redirect_urls", []), request.url])
            run.session.error(request.url, "redirect", f"redirect loop: {urls}")
        self._settle(run)

    def index_failed(self, failure: Failure) -> None:
        run = _run_of(failure)
        try:
            if not run.done:
                self._failed(run, failure, fatal=True)
        finally:
            self._settle(run)

    def article_failed(self, failure: Failure) -> None:
        run = _run_of(failure)
        try:
            if run.done:
                return
            request = getattr(failure, "request", None)
            if request is not None and request.meta.get("index_url") and _transient(failure):
                run.incomplete_indexes.add(request.meta["index_url"])  # worth another try next run
            self._failed(run, failure, fatal=False)
        finally:
            self._settle(run)

    def _failed(self, run: SourceRun, failure: Failure, *, fatal: bool) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else None
        if _check(failure, HttpError):
            response = _http_error(failure).response
            message = f"HTTP {response.status}"
            retry_after = response.request.meta.get("retry_after") if response.request is not None else None
            if retry_after is not None:
                message += f" (Retry-After {retry_after:.0f} s; not retried this run)"
            run.session.error(response.url, "http", message, fatal=fatal)
            return
        ignored = _check(failure, IgnoreRequest)
        if ignored:
            message = str(failure.value)
        elif _check(failure, DownloadCancelledError, CancelledError) and not failure.getErrorMessage():
            message = self._cancelled(request)
        else:
            assert failure.type is not None  # Twisted makes no Failure without an exception
            message = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        run.session.error(
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

    def expire(self, run: SourceRun) -> None:
        """The run's deadline passed: record it, end the run; what it did not fetch is fetched next run."""
        run.deadline_call = None
        if run.done:
            return
        run.session.error(
            None,
            "deadline",
            f"the run's deadline ({run.deadline or 0:.0f} s, crawl.run_deadline) passed before the crawl ended:"
            " stopped; what it did not fetch is fetched next run",
            fatal=True,
        )
        run.session.close_when_saved(lambda: self.end(run, complete=False))

    def stop_run(self, run: SourceRun, reason: str, *, now: bool = False) -> None:
        """End a run before its crawl is over (the monitor is stopping): recorded as failed, with ``reason``.

        ``now``: close it at once (the crawl itself is closing), not once its saves in flight land.
        """
        if run.finished:
            return
        if not run.session.closing:
            message = f"{reason}: stopped; what it did not fetch is fetched next run"
            run.session.error(None, "stopped", message, fatal=True)
        if now:
            self.end(run, complete=False)
        else:
            run.session.close_when_saved(lambda: self.end(run, complete=False))

    def end(self, run: SourceRun, *, complete: bool = True) -> None:
        """Close the run: its record, the indexes to read in full next time; then tell whoever started it."""
        if run.finished:
            return
        if run.deadline_call is not None and run.deadline_call.active():
            run.deadline_call.cancel()
        if not complete:  # stopped early: articles still queued must be found again next run
            run.incomplete_indexes |= run.indexes_read
        self.crawler.signals.send_catch_log(
            run_finished, incomplete=frozenset(run.incomplete_indexes), spider=self, run=run
        )
        run.summary = run.session.finish(frozenset(run.incomplete_indexes))
        self.runs.discard(run)
        if run.name == self.standalone_source:
            self.summary = run.summary
        if run.on_finished is not None:
            run.on_finished(run)

    def _must_reread(self, index_url: str) -> bool:
        return self.ledger is not None and self.ledger.must_reread(index_url)

    def save_progress(self) -> None:
        for run in list(self.runs):
            run.session.save_progress()

    def idle(self) -> None:
        """An engine's spider waits for more runs; a standalone one closes when its run is done."""
        if self.keep_open:
            raise DontCloseSpider

    def closed(self, reason: str) -> None:
        if self.progress is not None and self.progress.running:
            self.progress.stop()
        for run in list(self.runs):
            self.stop_run(run, f"the crawl closed ({reason})", now=True)
        if self.ledger is not None:  # after the runs' ends: a cluster worker's ledger sends them too
            self.ledger.flush()
        if self.standalone_source:
            if self.analyser is not None:
                self.analyser.close()
            if self.store is not None:
                self.store.close()


def _run_of(failure: Failure) -> SourceRun:
    """The run a failed request belongs to."""
    request = getattr(failure, "request", None)
    run = request.meta.get(RUN) if request is not None else None
    assert isinstance(run, SourceRun), "every request the spider makes carries its run"
    return run


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
