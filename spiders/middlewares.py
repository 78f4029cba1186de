"""Downloader middlewares for safety, politeness and cost: no internal addresses, ``Retry-After``, conditional GET.

* ``NetworkPolicyMiddleware`` with ``GuardedResolver``: feeds, pages and redirects are
  strangers' input, so a request to an internal address (loopback, private, link-local
  like the metadata service at 169.254.169.254, multicast, reserved; see
  ``monitor.netpolicy``) is refused before anything is sent and recorded as an
  ``internal-address`` error, unless it goes to the host of the source's own URL (when the
  operator wrote it as an internal address or localhost) or to ``crawl.allow_private_networks``.
  The middleware sees every request, each redirect hop and robots.txt included; it
  resolves names through the reactor's resolver, ``GuardedResolver``, which every
  connection also resolves through and which refuses a name that resolves to an internal
  address: the address checked is the address connected to, even if the name's DNS
  answers differently the second time (rebinding). IP literals and ``localhost`` need no
  DNS and are judged by the middleware, which knows the request's source.
  Through a proxy, the proxy resolves names: then the middleware's check is all there is.

* ``RetryAfterMiddleware``: a 429 or 503 that says ``Retry-After`` is retried after
  that wait (the ``retries`` budget applies), never sooner; one asking for more than
  ``MONITOR_RETRY_AFTER_MAX`` seconds is given up for this run rather than retried at once.
  One that names no wait is retried after ``MONITOR_RETRY_BACKOFF`` seconds, doubled on
  each retry (2 s, 4 s, ...), not at once. Either way the whole site waits, not only that request.
* ``IndexCacheMiddleware`` with ``IndexCachePolicy`` and ``IndexCacheStorage``: Scrapy's
  HTTP cache, restricted to index requests (feeds, sitemaps, listing pages, robots.txt of a
  ``site`` source) and made to revalidate every time, so an unchanged index costs one
  ``304 Not Modified``. A server that sends no validators (or ignores them) answers in
  full: an answer byte-identical to the stored copy counts as unchanged too, and is
  stored, so the validators it carries are sent next time. Either way the spider sees
  the stored copy flagged ``cached`` and skips it.
  A stored copy never stands in for a failure (a dead feed stays dead). A new copy is
  stored only when its run ends having read the index in full: an index whose articles
  were not all fetched (the page limit, a transient error, a deadline) is forgotten, and
  a run cut short by a dead engine stores nothing, so the next run reads it in full.
* ``ExpiringRobotsTxtMiddleware``: Scrapy's robots.txt middleware, reading a host's
  robots.txt again once it is an hour old, since the crawl engine lives for days.
* ``EndedRunMiddleware``: drops, unsent, the requests still queued for a run that ended.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, cast
from urllib.request import getproxies

from scrapy import Request, Spider
from scrapy.core import downloader as scrapy_downloader
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.extensions.httpcache import FilesystemCacheStorage, RFC2616Policy
from scrapy.http import Response
from scrapy.resolver import CachingThreadedResolver
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet import task
from twisted.internet.base import ReactorBase
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from monitor.errors import MonitorError
from monitor.netpolicy import Address, AddressRefused, NetworkPolicy, host_of, is_loopback_name, parse_ip
from monitor.retryafter import retry_after_seconds
from spiders.cluster import SharedRobotsTxt
from spiders.settings import loaded_config

log = logging.getLogger(__name__)

# Request meta key marking an index request (feed, sitemap, listing page): the only ones cached.
INDEX = "monitor_index"
# Request meta keys: the source-run a request belongs to (``spiders.news.SourceRun``), and its source's URL.
RUN = "monitor_run"
SOURCE_URL = "monitor_source_url"
# Signal the spider sends when a run ends, with the indexes it did not read in full (``incomplete``).
run_finished = object()
RETRY_AFTER_CODES = frozenset({429, 503})


class InternalAddressRefused(IgnoreRequest):
    """A request to an internal address that nobody allowed: refused before anything was sent."""


class _ResolvedInternal(DNSLookupError):
    """A name resolved to an internal address that nobody allowed: no connection is made to it."""

    def __init__(self, refused: AddressRefused):
        self.refused = refused
        super().__init__(str(refused))


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, which fails a name that resolves to an internal address not allowed."""

    def __init__(self, reactor: ReactorBase, cache_size: int, timeout: float, policy: NetworkPolicy):
        super().__init__(reactor, cache_size, timeout)
        self.policy = policy
        # The operator's own proxies (the environment's, which Scrapy uses) may be on an internal network.
        self.proxies = {
            host_of(url if "://" in url else f"http://{url}") for kind, url in getproxies().items() if kind != "no"
        }

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"), NetworkPolicy.of(allowed_networks(settings)))

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        resolved = super().getHostByName(name, timeout)
        # An IP literal is not looked up, and localhost means this machine: the middleware judges both per source.
        if parse_ip(name) is None and not is_loopback_name(name) and name.lower() not in self.proxies:
            resolved.addCallback(self._checked, name)
        return resolved

    def _checked(self, address: str, name: str) -> str:
        found = parse_ip(address)
        if found is not None:
            try:
                self.policy.check(name, found)
            except AddressRefused as refused:
                raise _ResolvedInternal(refused) from None
        return address


def allowed_networks(settings: BaseSettings) -> tuple[str, ...]:
    """``crawl.allow_private_networks``: as the engine hands it over, else from the ``MONITOR_CONFIG`` file."""
    handed = settings.get("MONITOR_ALLOW_PRIVATE_NETWORKS")
    if handed is not None:
        return tuple(handed)
    try:
        return tuple(loaded_config(settings).crawl.allow_private_networks)
    except MonitorError as error:  # ``scrapy shell`` and the like, with no usable rules.yaml
        log.warning("no configuration (%s): no internal network is allowed", error)
        return ()


class EndedRunMiddleware:
    """Drop, unsent, the requests still queued for a run that has ended (its deadline, a stop)."""

    async def process_request(self, request: Request) -> None:
        run = request.meta.get(RUN)
        if run is not None and getattr(run, "done", False):  # finished, or ended early and closing
            raise IgnoreRequest("its run has ended")


class NetworkPolicyMiddleware:
    """Refuse a request to an internal address its source may not reach, unsent: every hop, robots.txt too."""

    def __init__(self, networks: Sequence[str]):
        self.networks = tuple(networks)
        self._policies: dict[str | None, NetworkPolicy] = {}
        # Hosts a run's request was let through to: robots.txt requests (of no run) may follow it there.
        self._passed: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkPolicyMiddleware:
        return cls(allowed_networks(crawler.settings))

    def policy(self, own_url: str | None) -> NetworkPolicy:
        """The allowed networks, and the host of the source's own URL when it is internal."""
        policy = self._policies.get(own_url)
        if policy is None:
            policy = self._policies[own_url] = NetworkPolicy.of(self.networks, own_url)
        return policy

    async def process_request(self, request: Request) -> None:
        host = host_of(request.url)
        own = request.meta.get(SOURCE_URL)
        if host is not None and own is None and host in self._passed:
            return  # Scrapy's robots.txt request for a host a run's request was let through to
        policy = self.policy(own if isinstance(own, str) else None)
        if host is None or policy.trusts(host):
            self._remember(host)
            return
        try:
            address = parse_ip(host)
            if address is None:
                address = await _resolve(host)
            if address is not None:
                policy.check(host, address)
        except AddressRefused as refused:
            hops = request.meta.get("redirect_urls") or []
            via = f" (redirected from {' -> '.join(hops)})" if hops else ""
            raise InternalAddressRefused(f"refused {request.url}{via}: {refused}") from None
        self._remember(host)

    def _remember(self, host: str | None) -> None:
        if host is not None and len(self._passed) < 100_000:
            self._passed.add(host)


async def _resolve(host: str) -> Address | None:
    """The address the crawl's resolver gives ``host`` (AddressRefused if internal), None if it does not resolve."""
    from twisted.internet import reactor

    try:
        address = await maybe_deferred_to_future(cast(ReactorBase, reactor).resolve(host))
    except _ResolvedInternal as internal:
        raise internal.refused from None
    except DNSLookupError:
        return None  # it fails again when fetched, and is recorded as a fetch error then
    return parse_ip(address)


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

    def should_cache_response(self, response: Response, request: Request) -> bool:
        if super().should_cache_response(response, request):
            return True
        # An index without validators or expiry is kept too: the next answer is compared with it byte for byte.
        return response.status == 200 and b"no-store" not in self._parse_cachecontrol(response)

    def is_cached_response_fresh(self, cachedresponse: Response, request: Request) -> bool:
        # A heuristic freshness (10% of the Last-Modified age) would skip a feed for hours: always ask,
        # with the validators the stored copy came with.
        for validator, condition in ((b"ETag", b"If-None-Match"), (b"Last-Modified", b"If-Modified-Since")):
            value = cachedresponse.headers.get(validator)
            if value:
                request.headers[condition] = value
        return False

    def is_cached_response_valid(self, cachedresponse: Response, response: Response, request: Request) -> bool:
        # "Unchanged" is a 304, or a full answer byte-identical to the stored copy (a server without validators,
        # or one ignoring them). RFC 2616 would also serve the old copy over a 5xx, hiding the failure.
        return response.status == 304 or (response.status == 200 and response.body == cachedresponse.body)


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
    held: dict[int, list[tuple[Response, Request]]]

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        stored = request.meta.get("cached_response")
        result = super().process_response(request, response)
        if stored is not None and result is stored and response.status == 200:
            # Unchanged, answered in full: the new answer replaces the stored one, so its validators are used next.
            self._cache_response(response, request)
        return result

    def process_exception(self, request: Request, exception: Exception) -> None:  # type: ignore[override]
        # HttpCacheMiddleware would answer a dead server with the stored copy: a dead feed must look dead.
        request.meta.pop("cached_response", None)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = super().from_crawler(crawler)
        # Copies of the indexes each run read, stored only when the run ends having read them in full:
        # a run cut short by a dead engine must not leave behind a copy that says "nothing new here".
        middleware.held = {}
        crawler.signals.connect(middleware.forget_incomplete, signal=run_finished)
        return middleware

    def _cache_response(self, response: Response, request: Request) -> None:
        run = request.meta.get(RUN)
        if run is None:
            super()._cache_response(response, request)
            return
        self.held.setdefault(id(run), []).append((response, request))

    def forget_incomplete(self, incomplete: frozenset[str], spider: Spider, run: Any = None) -> None:
        """A run ended: the indexes it did not read in full are fetched unconditionally next run."""
        for response, request in self.held.pop(id(run), []):
            if request.url not in incomplete:
                super()._cache_response(response, request)
        forget = getattr(self.storage, "forget", None)
        for url in sorted(incomplete):
            if forget is not None:
                forget(spider, Request(url))
                log.info("index %s was not read in full: it will be fetched unconditionally next run", url)


def _robots_url(request: Request) -> str:
    """The robots.txt of the host ``request`` goes to: the key its shared copy is kept under."""
    url = urlparse_cached(request)
    return f"{url.scheme}://{url.netloc}/robots.txt"


class ExpiringRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, whose parsed robots.txt of a host is fetched again once it is old.

    The crawl engine lives for days: without this, a site's robots.txt would be read once
    for the engine's whole life, and a site that forbids its pages later would be crawled on.
    In a cluster worker's engine, a copy another worker fetched within the period is used
    (``spiders.cluster.SharedRobotsTxt``): a host's robots.txt is read once per cluster.
    """

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.max_age = crawler.settings.getfloat("MONITOR_ROBOTS_MAX_AGE", 3600.0)
        self._fetched: dict[str, float] = {}  # host -> when its robots.txt was asked for (monotonic)
        self.shared = SharedRobotsTxt.from_crawler(crawler)

    async def robot_parser(self, request: Request) -> Any:
        url = urlparse_cached(request)
        netloc = url.netloc
        now = time.monotonic()
        parser = self._parsers.get(netloc)
        stale = now - self._fetched.get(netloc, now) > self.max_age
        if netloc in self._parsers and not isinstance(parser, Deferred) and stale:
            del self._parsers[netloc]
        if netloc in self._parsers:
            return await super().robot_parser(request)
        self._fetched[netloc] = now
        if self.shared is None:
            return await super().robot_parser(request)
        # Requests to the host that come meanwhile wait on this, as on Scrapy's own fetch.
        waiting: Deferred[Any] = Deferred()
        self._parsers[netloc] = waiting
        robots_url = _robots_url(request)
        body = await self.shared.get(robots_url)
        found: Any
        if body is not None:
            found = build_from_crawler(self._parserimpl, self.crawler, body)
            self._parsers[netloc] = found
        else:
            del self._parsers[netloc]
            found = await super().robot_parser(request)
            if found is None:  # not fetched (Scrapy then allows all): the others do the same, not wait out the lock
                await self.shared.put(robots_url, b"")
        waiting.callback(found)
        return found

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        await super()._parse_robots(response, netloc, request)
        if self.shared is not None:
            await self.shared.put(_robots_url(request), response.body)
