"""What the charts draw: plain values, no store and no report shape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleDay:
    """How many matches one rule had on one UTC day (``YYYY-MM-DD``)."""

    day: str
    rule: str
    matches: int


@dataclass(frozen=True)
class StoryReach:
    """A story (its headline) and how many outlets carried it."""

    title: str
    outlets: int
    sources: str = ""


@dataclass(frozen=True)
class SourceActivity:
    """A source's new articles and failed runs over the period."""

    source: str
    articles: int
    failures: int


@dataclass(frozen=True)
class LatencyCount:
    """How many alerts to one destination were delivered within one latency bucket."""

    destination: str
    bucket: str
    alerts: int


@dataclass(frozen=True)
class ChartData:
    """Everything the report's charts show, for one period.

    ``days`` is the time axis of the matches chart (every day of the period, so gaps show);
    ``latency_buckets`` the buckets of the latency chart, in order.
    """

    days: tuple[str, ...] = ()
    rule_days: tuple[RuleDay, ...] = ()
    stories: tuple[StoryReach, ...] = ()
    sources: tuple[SourceActivity, ...] = ()
    latency_buckets: tuple[str, ...] = ()
    latency: tuple[LatencyCount, ...] = ()
