"""Scrapy settings: safe defaults for crawling strangers' sites, then the user's ``crawl:`` section.

Scrapy's own defaults are tightened here: a 1 GiB size cap, a 180 s timeout,
20 redirects, the ``file://``/``data:`` handlers and the telnet console are not
what a monitor left running for months should have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scrapy.settings import BaseSettings, default_settings

from monitor.config import Config, load_config

BOT_NAME = "monitor"
SPIDER_MODULES = ["spiders.news"]
NEWSPIDER_MODULE = "spiders"

ROBOTSTXT_OBEY = True
USER_AGENT = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
TELNETCONSOLE_ENABLED = False
# Scrapy's remote-control HTTP server: another listening port nobody asked for.
REMOTE_CONTROL_ENABLED = False
COOKIES_ENABLED = False
# Only http(s): a feed that links to file:///etc/passwd or data: gets nothing.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "s3": None, "ftp": None}
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 2
# A download timeout is not retried within the run: a page that trickles a byte a second would cost the
# whole timeout again on every try. It is recorded, never stored, and so fetched again next run.
RETRY_EXCEPTIONS = [
    name for name in default_settings.RETRY_EXCEPTIONS if name != "scrapy.exceptions.DownloadTimeoutError"
]
DNS_TIMEOUT = 10
# Every name the crawl connects to is resolved here, and refused if it is internal (spiders.middlewares).
TWISTED_DNS_RESOLVER = "spiders.middlewares.GuardedResolver"
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# Scrapy's downloader, but one that keeps to CONCURRENT_REQUESTS_PER_DOMAIN without a delay (spiders.downloader).
DOWNLOADER = "spiders.downloader.PoliteDownloader"
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
# One spider crawls many source-runs: a URL is fetched once per run, not once per spider (spiders.news).
DUPEFILTER_CLASS = "spiders.news.RunDupeFilter"
# First in, first out: with runs arriving all the time, Scrapy's default (last in, first out) would
# leave the oldest runs' requests at the bottom of the queue, unfetched, for as long as new ones come.
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
DOWNLOADER_MIDDLEWARES = {
    # a request still queued for a run that has ended (its deadline passed) is dropped unsent
    "spiders.middlewares.EndedRunMiddleware": 10,
    # before robots.txt (100) is fetched for it: a request to an internal address is refused unsent
    "spiders.middlewares.NetworkPolicyMiddleware": 50,
    # Retry-After is read before RetryMiddleware (550) would retry a 429/503 at once
    "spiders.middlewares.RetryAfterMiddleware": 560,
    # robots.txt read again once an hour: the crawl engine lives for days
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "spiders.middlewares.ExpiringRobotsTxtMiddleware": 100,
    # conditional GET for indexes only, never standing in for a failure (see spiders.middlewares)
    "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware": None,
    "spiders.middlewares.IndexCacheMiddleware": 900,
    # a cluster worker's engine: one concurrency budget and delay per host across all workers (off on one machine)
    "spiders.cluster.ClusterPolitenessMiddleware": 950,
}
MONITOR_ROBOTS_MAX_AGE = 3600.0  # seconds a host's robots.txt is trusted before it is fetched again
MONITOR_RETRY_AFTER_ENABLED = True
MONITOR_RETRY_AFTER_MAX = 120.0
MONITOR_RETRY_BACKOFF = 2.0  # seconds before retrying a 429/503 that names no wait; doubled each retry
HTTPCACHE_ENABLED = True
HTTPCACHE_POLICY = "spiders.middlewares.IndexCachePolicy"
HTTPCACHE_STORAGE = "spiders.middlewares.IndexCacheStorage"
HTTPCACHE_EXPIRATION_SECS = 0  # entries never expire by age: each is revalidated on use
LOG_LEVEL = "INFO"
MEMUSAGE_ENABLED = False

# Where the monitor's configuration and store are; ``monitor run`` passes its own.
MONITOR_CONFIG = os.environ.get("MONITOR_CONFIG", "rules.yaml")
MONITOR_DB = os.environ.get("MONITOR_DB", "db/monitor.db")


def from_config(config: Config) -> dict[str, Any]:
    """The Scrapy settings that the ``crawl:`` section of rules.yaml controls."""
    crawl = config.crawl
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "DOWNLOAD_TIMEOUT": crawl.timeout_seconds,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": min(DOWNLOAD_WARNSIZE, crawl.max_page_bytes),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": crawl.download_delay_seconds,
        "AUTOTHROTTLE_START_DELAY": crawl.download_delay_seconds,
        # AutoThrottle would add a delay of its own even where the operator asked for none.
        "AUTOTHROTTLE_ENABLED": crawl.download_delay_seconds > 0,
        "MONITOR_ALLOW_PRIVATE_NETWORKS": list(crawl.allow_private_networks),
        "RETRY_TIMES": crawl.retries,
        "MONITOR_RETRY_AFTER_MAX": crawl.max_retry_after_seconds,
    }


def loaded_config(settings: BaseSettings) -> Config:
    """The configuration of the ``MONITOR_CONFIG`` file, for a crawl the engine did not start (``scrapy crawl``)."""
    return load_config(settings.get("MONITOR_CONFIG"))


def httpcache_dir(db_path: str) -> str:
    """Where validators and copies of indexes are kept: ``httpcache`` next to the store."""
    return str(Path(db_path).resolve().parent / "httpcache")
