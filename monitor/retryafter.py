"""``Retry-After``, as servers send it: delta-seconds or an HTTP date. Used by the crawl and by alert delivery."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from monitor.timestamps import as_utc


def retry_after_seconds(value: bytes | str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait; None if absent or unreadable. A past date means 0."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (as_utc(when) - now).total_seconds())
