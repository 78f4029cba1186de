"""The validated configuration, as plain frozen dataclasses.

``monitor.config`` builds these from ``rules.yaml``; everything else only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_TYPES = ("rss", "atom", "sitemap", "listing")
DESTINATION_TYPES = ("slack", "webhook")


@dataclass(frozen=True)
class RuleSpec:
    """A keyword rule: words and exact phrases, each whole-word and case-insensitive."""

    name: str
    terms: tuple[str, ...]
    weight: float = 1.0
    line: int = 0  # where the rule starts in rules.yaml, for messages


@dataclass(frozen=True)
class SourceSpec:
    """A place to crawl: a feed, a sitemap, or a listing page with a link pattern."""

    name: str
    type: str  # one of SOURCE_TYPES
    url: str
    interval_seconds: int = 900
    link_pattern: str | None = None  # listing pages only: a regex the article URLs match
    max_pages: int = 100  # per run
    enabled: bool = True
    line: int = 0


@dataclass(frozen=True)
class DestinationSpec:
    """Where alerts go. The URL and secret come from the environment and are never printed."""

    name: str
    type: str  # one of DESTINATION_TYPES
    url: str
    secret: str | None = None  # webhook signing key (Standard Webhooks, "whsec_...")
    timeout_seconds: float = 15.0
    line: int = 0

    @property
    def enabled(self) -> bool:
        """A destination whose URL expanded to nothing is switched off, not an error."""
        return bool(self.url)


@dataclass(frozen=True)
class CrawlSettings:
    """How politely and how far the crawl goes."""

    user_agent: str = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
    obey_robots_txt: bool = True
    timeout_seconds: float = 30.0
    max_page_bytes: int = 5 * 1024 * 1024
    concurrent_requests_per_domain: int = 2
    download_delay_seconds: float = 0.5
    retries: int = 2
    workers: int = 0  # extraction processes; 0 means one per CPU core


@dataclass(frozen=True)
class AlertSettings:
    """When an article alerts, and where alerts go."""

    threshold: float = 3.0
    destinations: tuple[DestinationSpec, ...] = ()
    max_attempts: int = 8


@dataclass(frozen=True)
class Config:
    """The whole validated configuration file."""

    path: str
    sources: tuple[SourceSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def source(self, name: str) -> SourceSpec:
        """The source called ``name``; KeyError if there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)
