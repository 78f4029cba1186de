"""Durations as people write them (``90s``, ``15m``, ``2h``, ``7d``, ``1w`` or seconds), and times of day."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from monitor.errors import MonitorError
from monitor.timestamps import as_utc

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


class DurationError(MonitorError):
    """A duration that cannot be read."""


def parse_duration(value: object) -> int:
    """Seconds in ``value`` (an int, or a string like "15m"); DurationError if unreadable or not positive."""
    if isinstance(value, bool):
        raise DurationError(f"must be a duration like 30s, 15m, 2h or 1d, not {value!r}")
    if isinstance(value, (int, float)):
        seconds = int(value)
    else:
        match = _PATTERN.match(str(value)) if isinstance(value, str) else None
        if match is None:
            raise DurationError(f"must be a duration like 30s, 15m, 2h or 1d, not {value!r}")
        seconds = int(float(match.group(1)) * _UNITS[match.group(2) or "s"])
    if seconds <= 0:
        raise DurationError(f"must be longer than 0 seconds, not {value!r}")
    return seconds


def since(value: str, now: datetime | None = None) -> datetime:
    """The moment ``value`` ago (a duration) or the ISO date/time ``value`` itself, timezone-aware."""
    now = now or datetime.now(UTC)
    try:
        return now - timedelta(seconds=parse_duration(value))
    except DurationError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DurationError(f"must be a duration like 7d or a date like 2026-01-31, not {value!r}") from None
    return as_utc(moment)


def parse_time_of_day(text: str) -> time:
    """``"08:00"`` as a time; ValueError unless it is HH:MM on a 24-hour clock."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2 or len(hours) > 2:
        raise ValueError(f"must be a time of day like 08:00 or 17:30, not {text!r}")
    return time(int(hours), int(minutes))  # ValueError for 25:00 or 08:61
