"""Politeness across a cluster's workers: one delay and one concurrency budget per host, one robots.txt per host.

* ``ClusterPolitenessMiddleware``: before a request is downloaded it takes one of the
  host's ``crawl.concurrent_requests_per_domain`` slots in Redis (``monitor:busy:HOST``,
  a sorted set of the requests in flight, each lapsing after the download timeout, and
  freed sooner when their worker stops heartbeating, so a dead worker's slots come back
  within seconds), then the host's delay token (``monitor:polite:HOST``,
  ``SET NX PX delay``). The slot is given back when the response (or the failure) comes.
  So across every worker a host sees at most that many requests at once, and at most one
  per ``crawl.download_delay``. A worker's engine sets its own slot delay to 0 and
  AutoThrottle off, so nothing reorders requests after their turn; each worker's own
  per-host concurrency still applies. While Redis is unreachable each worker spaces its
  own requests to a host by the delay instead (logged once): the crawl does not stop,
  politeness degrades to one machine's.
* ``SharedRobotsTxt``: a host's robots.txt as one worker fetched it, kept in Redis for
  ``MONITOR_ROBOTS_MAX_AGE`` (``monitor:robots:SCHEME://HOST``), so the cluster reads it
  once per host per period, not once per worker. One worker fetches it (a short lock);
  the others wait a moment for its copy, then fetch their own. A robots.txt that could
  not be fetched is kept as an empty one: the worker that tried allows all (Scrapy's
  rule), and so do the others, without waiting out its lock.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from redis.exceptions import RedisError
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from monitor.cluster.bus import ALIVE, BUSY, POLITE, ROBOTS
from monitor.netpolicy import host_of

log = logging.getLogger(__name__)

SLOT = "monitor_cluster_slot"  # request meta: the request's member in its host's set of requests in flight
SLOT_POLL_SECONDS = 0.02
ROBOTS_LOCK_SECONDS = 30.0  # how long the others wait for the worker fetching a host's robots.txt
# Take a slot if fewer than ARGV[1] are held, on Redis's clock (workers' clocks may disagree): 1 or 0.
# When the host looks full, the slots of workers no longer alive (ARGV[4] + name lapsed: no heartbeat
# for a few seconds) are freed first: their requests died with them, and would hold the host until
# their hold lapses (the download timeout and more).
TAKE_SLOT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
        local worker = string.match(member, '^(.*):%d+$')
        if worker and redis.call('EXISTS', ARGV[4] .. worker) == 0 then
            redis.call('ZREM', KEYS[1], member)
        end
    end
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
"""


def _client(url: str) -> Any:
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


class ClusterPolitenessMiddleware:
    """In a cluster, one concurrency budget and one download delay per host for all workers (see the module)."""

    def __init__(self, url: str, delay: float, concurrency: int, hold: float, worker: str):
        self.client = _client(url)
        self.delay_ms = int(delay * 1000)  # 0: no delay, only the concurrency budget
        self.concurrency = concurrency
        self.hold_ms = max(1000, int(hold * 1000))
        self.worker = worker
        self.take_slot = self.client.register_script(TAKE_SLOT)
        self.numbers = itertools.count()
        self.unreachable = False
        self.local_turns: dict[str, float] = {}  # host -> when its next request may go, while Redis is down

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ClusterPolitenessMiddleware:
        settings = crawler.settings
        url = settings.get("MONITOR_CLUSTER")
        if not url:  # one machine; no message, or Scrapy warns of it on every crawl
            raise NotConfigured
        return cls(
            url,
            settings.getfloat("MONITOR_CLUSTER_DELAY"),
            settings.getint("MONITOR_CLUSTER_CONCURRENCY") or settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
            settings.getfloat("DOWNLOAD_TIMEOUT") + 30,
            settings.get("MONITOR_WORKER_NAME") or "worker",
        )

    async def process_request(self, request: Request) -> None:
        host = host_of(request.url)
        if host is None:
            return
        try:
            member = f"{self.worker}:{next(self.numbers)}"
            slot = [self.concurrency, self.hold_ms, member, ALIVE]
            while not await self.take_slot(keys=[BUSY + host], args=slot):
                await asyncio.sleep(SLOT_POLL_SECONDS)
            request.meta[SLOT] = (host, member)
            if self.delay_ms:
                key = POLITE + host
                while not await self.client.set(key, self.worker, nx=True, px=self.delay_ms):
                    wait_ms = await self.client.pttl(key)
                    await asyncio.sleep(max(wait_ms, 5) / 1000)
        except (OSError, RedisError) as error:
            await self._alone(host, error)
            return
        if self.unreachable:
            log.warning("cluster politeness: Redis is back")
            self.unreachable = False

    async def process_response(self, request: Request, response: Response) -> Response:
        await self._release(request)
        return response

    async def process_exception(self, request: Request, exception: Exception) -> None:
        await self._release(request)

    async def _release(self, request: Request) -> None:
        slot = request.meta.pop(SLOT, None)
        if slot is None:
            return
        host, member = slot
        try:
            await self.client.zrem(BUSY + host, member)
        except (OSError, RedisError) as error:  # it lapses after the download timeout
            log.debug("cluster politeness: slot of %s not given back: %s", host, error)

    async def _alone(self, host: str, error: Exception) -> None:
        """Redis is unreachable: space this worker's own requests to ``host`` by the delay."""
        if not self.unreachable:
            log.warning("cluster politeness: Redis unreachable (%s); this worker's own delay applies", error)
        self.unreachable = True
        now = time.monotonic()
        turn = max(now, self.local_turns.get(host, now))
        self.local_turns[host] = turn + self.delay_ms / 1000
        await asyncio.sleep(turn - now)


class SharedRobotsTxt:
    """Hosts' robots.txt as some worker of the cluster fetched it, for ``max_age`` seconds (see the module)."""

    def __init__(self, url: str, max_age: float, worker: str):
        self.client = _client(url)
        self.max_age_ms = max(1000, int(max_age * 1000))
        self.worker = worker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedRobotsTxt | None:
        url = crawler.settings.get("MONITOR_CLUSTER")
        if not url:
            return None
        max_age = crawler.settings.getfloat("MONITOR_ROBOTS_MAX_AGE", 3600.0)
        return cls(url, max_age, crawler.settings.get("MONITOR_WORKER_NAME") or "worker")

    async def get(self, robots_url: str) -> bytes | None:
        """The copy another worker fetched, waiting a moment if one is fetching it now; None: fetch it here."""
        key = ROBOTS + robots_url
        try:
            deadline = time.monotonic() + ROBOTS_LOCK_SECONDS
            while True:
                body = await self.client.get(key)
                if body is not None:
                    return bytes(body)
                if await self.client.set(key + ":fetching", self.worker, nx=True, px=int(ROBOTS_LOCK_SECONDS * 1000)):
                    return None  # this worker fetches it
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(0.1)
        except (OSError, RedisError) as error:
            log.debug("robots.txt of %s not read from Redis: %s", robots_url, error)
            return None

    async def put(self, robots_url: str, body: bytes) -> None:
        """Keep the copy just fetched for the other workers."""
        key = ROBOTS + robots_url
        try:
            await self.client.set(key, body, px=self.max_age_ms)
            await self.client.delete(key + ":fetching")
        except (OSError, RedisError) as error:
            log.debug("robots.txt of %s not kept in Redis: %s", robots_url, error)
