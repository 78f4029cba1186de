"""Dates as pages write them: visible datelines ("March 4, 2024, 7:30 PM", "2025.12.17") and date strings.

Pure: text in, naive or aware datetimes out. ``visible_dates`` reads what a reader sees
(and whether the words before a date call it an update); ``parse_date`` reads what markup
states (ISO 8601 or free form). ``published`` decides which of them is the article's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timezone

from dateutil import parser as date_parser

_HAS_YEAR = re.compile(r"\d{4}")
# A date said to be a modification: "Updated", "Last modified", "edited", "revised"; glued to a name too
# ("By Alison PlautUpdated on October 21, 2025").
UPDATED_CUE = re.compile(
    r"(?:\b|(?<=[a-z])(?=[A-Z]))(?i:updated?|modified|edited|revised|aktualisiert|mis à jour|actualizado)\b"
)
MONTHS = (  # a month's name, full or short, as a regex alternation (bylines stops at one, too)
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
# Day month year, month day year, year-month-day ("2025-12-17", "2025.12.17") or day and month in either order
# ("24/2/2026", "12.12.2025"): a dateline, never a bare year or a month and a year. Page templates glue words
# together ("PublishedOctober 14, 2025", "April 26, 2024Updated"): a capitalised month may follow a lower-case
# letter, and a year may be followed by a letter.
VISIBLE_DATE = re.compile(
    r"(?:\b|(?<=[a-z])(?=[A-Z]))(?i:"
    rf"(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?P<m1>{MONTHS})\.?,?\s+(?P<y1>(?:19|20)\d\d)"
    rf"|(?P<m2>{MONTHS})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>(?:19|20)\d\d)"
    r"|(?P<y3>(?:19|20)\d\d)(?P<s3>[-./])(?P<m3>[01]?\d)(?P=s3)(?P<d3>[0-3]?\d)"
    r"|(?P<a4>[0-3]?\d)(?P<s4>[-./])(?P<b4>[0-3]?\d)(?P=s4)(?P<y4>(?:19|20)\d\d))(?!\d)"
)
_MONTHS_IN_YEAR = 12
_CLOCK = re.compile(r"\b(?P<h>[01]?\d|2[0-3])[:.](?P<mi>[0-5]\d)\s*(?P<ampm>[ap]\.?m\.?)?(?!\d)", re.IGNORECASE)
_MONTH_NUMBER = {
    name: n
    for n, name in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}


def visible_dates(text: str) -> list[tuple[datetime, bool]]:
    """Each date a visible dateline shows ("March 4, 2024, 7:30 PM"; naive), and whether the words before it
    call it an update ("Last updated 7 March 2024")."""
    found: list[tuple[datetime, bool]] = []
    previous_end = 0
    for match in VISIBLE_DATE.finditer(text):
        is_update = UPDATED_CUE.search(text[previous_end : match.start()]) is not None
        previous_end = match.end()
        parts = _date_parts(match.groupdict())
        if parts is None:
            continue
        try:
            value = datetime(*parts)
        except ValueError:
            continue
        clock = _CLOCK.search(text, match.end())
        if clock is not None and clock.start() - match.end() <= 12:
            hour, ampm = int(clock["h"]), (clock["ampm"] or "").lower().replace(".", "")
            if not ampm or 1 <= hour <= 12:
                hour = hour % 12 + (12 if ampm == "pm" else 0) if ampm else hour
                value = value.replace(hour=hour, minute=int(clock["mi"]))
        found.append((value, is_update))
    return found


def _date_parts(groups: dict[str, str | None]) -> tuple[int, int, int] | None:
    """Year, month and day of a ``VISIBLE_DATE`` match; None when day and month could be either way round."""
    if groups["a4"] and groups["b4"] and groups["y4"]:
        first, second = int(groups["a4"]), int(groups["b4"])
        if first > _MONTHS_IN_YEAR >= second:
            return int(groups["y4"]), second, first
        if second > _MONTHS_IN_YEAR >= first or first == second:
            return int(groups["y4"]), first, second
        return None  # "3/4/2025": March 4th in one country, April 3rd in another
    year = groups["y1"] or groups["y2"] or groups["y3"] or "0"
    month, day = groups["m1"] or groups["m2"], groups["d1"] or groups["d2"] or groups["d3"] or "0"
    number = _MONTH_NUMBER[month[:3].lower()] if month else int(groups["m3"] or 0)
    return int(year), number, int(day)


def parse_date(raw: str) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 or free-form date string; naive means UTC."""
    raw = raw.strip()
    if not _HAS_YEAR.search(raw):
        return None
    try:
        return aware(date_parser.isoparse(raw))
    except (ValueError, OverflowError):
        pass
    try:
        return aware(date_parser.parse(raw))
    except (ValueError, OverflowError):
        return None


def aware(value: datetime) -> datetime:
    """``value`` with a fixed-offset stdlib timezone; naive means UTC."""
    offset = value.utcoffset()
    return value.replace(tzinfo=UTC if offset is None else timezone(offset))
