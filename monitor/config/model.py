"""The validated configuration, as plain frozen dataclasses (not to be confused with Scrapy's settings).

``monitor.config.load`` builds these from ``rules.yaml``; everything else only reads them.
A rule's spec (``RuleSpec``) belongs to the rules engine, which the configuration builds on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.rules import RuleSpec

SOURCE_TYPES = ("rss", "atom", "sitemap", "listing", "site")
DESTINATION_TYPES = ("slack", "webhook", "discord", "teams", "email", "apprise")
EMAIL_SCHEMES = ("smtp", "smtps", "smtp+plain")  # STARTTLS, implicit TLS, clear text (loopback or no login)
DELIVERY_MODES = ("immediate", "digest", "both")
# Messages a second per destination when rules.yaml sets no rate_limit (None: unpaced). Slack
# documents one a second per webhook, Teams about four; Discord allows 30 a minute per channel.
# Apprise reaches chat and push services whose limits differ: one a second suits the strictest (Telegram).
DEFAULT_RATE_LIMITS: dict[str, float | None] = {
    "slack": 1.0,
    "discord": 0.5,
    "teams": 4.0,
    "webhook": None,
    "email": None,
    "apprise": 1.0,
}
# The shortest default deadline of a crawl (Config.run_deadline): a slow but healthy first crawl is not cut short.
MIN_DEFAULT_RUN_DEADLINE = 3600.0


@dataclass(frozen=True)
class SourceSpec:
    """A place to crawl: a feed, a sitemap, a listing page with a link pattern, or a site (its robots.txt sitemaps)."""

    name: str
    type: str  # one of SOURCE_TYPES
    url: str
    interval_seconds: int = 900
    link_pattern: str | None = None  # listing pages only: a regex the article URLs match
    max_pages: int = 100  # per run
    enabled: bool = True
    line: int = 0
    max_age_seconds: int | None = None  # links the index dates older than this are not fetched
    cron: str | None = None  # a crontab expression (UTC) instead of the interval
    prefilter: bool = False  # skip links whose index title and keywords match no rule

    def trigger(self, start: Any = None, jitter: int | None = None) -> Any:
        """When ``monitor serve`` runs this source: its cron expression, or every ``interval_seconds``."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron:
            return CronTrigger.from_crontab(self.cron, timezone="UTC")
        return IntervalTrigger(seconds=self.interval_seconds, jitter=jitter, start_date=start)


@dataclass(frozen=True)
class DestinationSpec:
    """Where alerts go. The URL and secret come from the environment and are never printed."""

    name: str
    type: str  # one of DESTINATION_TYPES
    url: str = field(repr=False)  # a credential: kept out of reprs, hence out of tracebacks and logs
    secret: str | None = field(default=None, repr=False)  # webhook signing key (Standard Webhooks, "whsec_...")
    timeout_seconds: float = 15.0
    line: int = 0
    rate_limit: float | None = None  # messages a second; None: the type's default (DEFAULT_RATE_LIMITS)
    mode: str = "immediate"  # one of DELIVERY_MODES
    digest_every_seconds: int | None = None  # digests every so often (aligned to UTC multiples) ...
    digest_at: tuple[str, ...] = ()  # ... or at these "HH:MM" times of day in ``timezone``
    timezone: str = "UTC"
    immediate_limit: int = 3  # mode "both": alerts sent at once per digest window; the rest wait for the digest
    max_attempts: int | None = None  # None: alerts.max_attempts
    allow_private_networks: tuple[str, ...] = ()  # crawl.allow_private_networks, which alerts obey too
    mail_from: str = ""  # email: the From address ("Monitor <monitor@example.org>")
    mail_to: tuple[str, ...] = ()  # email: the recipients
    reply_to: tuple[str, ...] = ()  # email: Reply-To, if any

    @property
    def enabled(self) -> bool:
        """A destination whose URL expanded to nothing is switched off, not an error."""
        return bool(self.url)

    @property
    def messages_per_second(self) -> float | None:
        """The pace of sends to this destination: its ``rate_limit`` or its type's default; None for unpaced."""
        return self.rate_limit if self.rate_limit is not None else DEFAULT_RATE_LIMITS.get(self.type)


@dataclass(frozen=True)
class CrawlSpec:
    """How politely and how far the crawl goes."""

    user_agent: str = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
    obey_robots_txt: bool = True
    timeout_seconds: float = 30.0
    max_page_bytes: int = 5 * 1024 * 1024
    concurrent_requests_per_domain: int = 2
    download_delay_seconds: float = 0.5
    retries: int = 2
    workers: int = 0  # extraction processes; 0 means one per CPU core
    max_retry_after_seconds: float = 120.0  # a 429/503 asking to wait longer is given up until the next run
    allow_private_networks: tuple[str, ...] = ()  # CIDRs of internal addresses crawls and alerts may reach
    max_index_depth: int = 3  # sitemap indexes nested deeper below a source's own sitemap are not followed
    max_indexes: int = 500  # feeds, sitemaps and listing pages read per source and run
    run_deadline_seconds: float | None = None  # a crawl is stopped after this long; None: see Config.run_deadline
    engine_max_runs: int = 1000  # serve's crawl engine is replaced by a fresh one after this many runs
    engine_max_memory_bytes: int = 1024 * 2**20  # ... or when it grows past this (0: no ceiling)


@dataclass(frozen=True)
class AlertsSpec:
    """When an article alerts, and where alerts go."""

    threshold: float = 3.0
    destinations: tuple[DestinationSpec, ...] = ()
    max_attempts: int = 8
    max_age_seconds: int | None = None  # default recency gate for rules without their own max_age


@dataclass(frozen=True)
class Config:
    """The whole validated configuration file."""

    path: str
    sources: tuple[SourceSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    crawl: CrawlSpec = field(default_factory=CrawlSpec)
    alerts: AlertsSpec = field(default_factory=AlertsSpec)

    def source(self, name: str) -> SourceSpec:
        """The source called ``name``; KeyError if there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def run_deadline(self, names: Sequence[str] = ()) -> float:
        """How long a crawl of ``names`` (all if empty) may take: ``crawl.run_deadline``, else 4 longest intervals."""
        if self.crawl.run_deadline_seconds is not None:
            return self.crawl.run_deadline_seconds
        wanted = set(names)
        intervals = [s.interval_seconds for s in self.sources if not wanted or s.name in wanted]
        return max(MIN_DEFAULT_RUN_DEADLINE, 4.0 * max(intervals, default=0))
