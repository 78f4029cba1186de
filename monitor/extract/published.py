"""When an article was published: every signal gathered, the most trustworthy kept, and which one it was.

Signals, most trusted first:

* ``json-ld``: ``datePublished`` of the page's JSON-LD (article types before others);
* ``meta``: publication-time ``<meta>`` tags and ``itemprop="datePublished"`` markup;
* ``index``: the date the feed or sitemap entry gave for the link;
* ``url``: a ``/2022/01/12/`` date in the URL's path;
* ``text``: a ``<time>`` in the article, else the date trafilatura's htmldate found in the page.

The URL cannot be edited after publication, so when it carries a full date and the most
trusted signal is more than a day away from it, the first signal that agrees with the URL
wins (else the URL's own day). A winner without a time of day takes the time of a later
signal on the same day. Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timezone
from typing import Any

from dateutil import parser as date_parser

# <meta> names and properties that state the publication time, most specific first.
META_NAMES = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "parsely-pub-date",
    "sailthru.date",
    "publish-date",
    "publishdate",
    "pubdate",
    "dc.date.issued",
    "dcterms.issued",
    "dcterms.created",
    "dc.date",
    "date",
)
_META_RANK = {name: rank for rank, name in enumerate(META_NAMES)}
# Visible datelines: the <time> element is only trusted inside the article, where sidebars cannot add theirs.
_TEXT_XPATHS = (
    "//time[@pubdate or contains(concat(' ', normalize-space(@class), ' '), ' published ')]/@datetime",
    "//article//time/@datetime",
)
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](0?[1-9]|1[0-2])[/-](0?[1-9]|[12]\d|3[01])(?:[/_.-]|$)")
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}")
_HAS_YEAR = re.compile(r"\d{4}")
_FIRST_YEAR, _LAST_YEAR = 1995, 2100


@dataclass(frozen=True, slots=True)
class Candidate:
    """One statement of the publication time, and where it came from."""

    value: datetime  # timezone-aware, in the offset the source gave
    signal: str  # "json-ld", "meta", "index", "url" or "text"
    precise: bool  # has a time of day


def published(
    tree: Any,
    url: str,
    jsonld: list[dict[str, Any]],
    extracted_date: str | None = None,
    hint: datetime | None = None,
) -> tuple[datetime | None, str | None]:
    """The publication time of the page and the signal it came from, or (None, None)."""
    return reconcile(candidates(tree, url, jsonld, extracted_date, hint))


def candidates(
    tree: Any, url: str, jsonld: list[dict[str, Any]], extracted_date: str | None, hint: datetime | None
) -> list[Candidate]:
    """Every parseable publication time on the page and from its index, most trusted signal first."""
    found: list[Candidate] = []
    found += _parsed((obj.get("datePublished") for obj in jsonld), "json-ld")
    found += _parsed(_meta_values(tree), "meta")
    if hint is not None:
        found.append(Candidate(aware(hint), "index", True))
    url_day = url_date(url)
    if url_day is not None:
        found.append(Candidate(datetime(url_day.year, url_day.month, url_day.day, tzinfo=UTC), "url", False))
    found += _parsed((str(v) for xpath in _TEXT_XPATHS for v in tree.xpath(xpath)), "text")
    found += _parsed([extracted_date], "text")
    return [c for c in found if _FIRST_YEAR <= c.value.year <= _LAST_YEAR]


def reconcile(found: list[Candidate]) -> tuple[datetime | None, str | None]:
    """Pick from candidates (most trusted first): the URL's day overrules, a same-day time refines."""
    if not found:
        return None, None
    winner = found[0]
    by_url = next((c for c in found if c.signal == "url"), None)
    if by_url is not None and abs((winner.value.date() - by_url.value.date()).days) > 1:
        winner = next((c for c in found if abs((c.value.date() - by_url.value.date()).days) <= 1), by_url)
    if not winner.precise:
        for other in found:
            if other.precise and other.value.date() == winner.value.date():
                return other.value, other.signal
    return winner.value, winner.signal


def url_date(url: str) -> date | None:
    """The date in a URL path like ``/2022/01/12/`` or ``/2022-01-12-``, if it is a real date."""
    match = _URL_DATE.search(url.split("?", 1)[0])
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


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


def _parsed(values: Any, signal: str) -> list[Candidate]:
    result = []
    for raw in values:
        if isinstance(raw, str) and (value := parse_date(raw)) is not None:
            result.append(Candidate(value, signal, bool(_HAS_TIME.search(raw))))
    return result


def _meta_values(tree: Any) -> list[str]:
    """Publication times stated in <meta> tags and ``itemprop="datePublished"`` markup, best names first."""
    ranked: list[tuple[int, str]] = []
    for element in tree.xpath("//meta[@content] | //*[@itemprop='datePublished']"):
        if element.tag != "meta":
            value = element.get("datetime") or element.get("content")
            if value:
                ranked.append((_META_RANK["datepublished"], str(value)))
            continue
        for attribute in ("property", "name", "itemprop"):
            rank = _META_RANK.get(str(element.get(attribute) or "").strip().lower())
            if rank is not None:
                ranked.append((rank, str(element.get("content"))))
                break
    ranked.sort(key=lambda item: item[0])
    return [value for _, value in ranked]
