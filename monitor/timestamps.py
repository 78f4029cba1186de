"""Moments as the monitor keeps them: timezone-aware, in UTC, to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, timezone-aware, to the second (the store's resolution)."""
    return datetime.now(UTC).replace(microsecond=0)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware datetime: a naive one is taken to be UTC already."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """A datetime as the store writes it: ISO 8601 in UTC, so text order is time order."""
    if moment is None:
        return None
    return as_utc(moment).astimezone(UTC).isoformat(timespec="seconds")
