"""When an article was published and last updated: every signal gathered, the most trustworthy kept, with its source.

Publication signals, most trusted first:

* ``json-ld``: ``datePublished`` of the page's JSON-LD (article types before others);
* ``meta``: publication-time ``<meta>`` tags and ``itemprop="datePublished"`` markup;
* ``index``: the date the feed or sitemap entry gave for the link;
* ``url``: a ``/2022/01/12/`` date in the URL's path;
* ``text``: a ``<time>`` inside the article's own container;
* ``dateline``: a short visible dateline inside the article's container ("Published 5 March 2024");
* ``page``: the date htmldate found in the page (trafilatura's metadata pass).

Comments, sidebars, related lists and the page header are never read (``pagemeta.is_own``),
and a date marked as a modification ("Updated …", ``dateModified``, ``article:modified_time``)
is the ``updated`` time, never the publication time.

The URL cannot be edited after publication, so when it carries a full date and the most
trusted signal is more than a day away from it, the first signal that agrees with the URL
wins (else the URL's own day). A winner without a time of day takes the time of a later
signal on the same day. A time given only in UTC, within hours of midnight, is shown in the
offset that puts it on the local day the page shows (its dateline or URL). Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from dateutil import parser as date_parser

from monitor.extract.pagemeta import is_furniture, is_own, short_text

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
# <meta> names and properties that state the last modification.
MODIFIED_NAMES = frozenset(
    {
        "article:modified_time",
        "og:updated_time",
        "datemodified",
        "last-modified",
        "dc.date.modified",
        "dcterms.modified",
        "modified",
        "lastmod",
    }
)
_META_RANK = {name: rank for rank, name in enumerate(META_NAMES)}
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](0?[1-9]|1[0-2])[/-](0?[1-9]|[12]\d|3[01])(?:[/_.-]|$)")
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}")
_HAS_YEAR = re.compile(r"\d{4}")
_HAS_DIGIT = re.compile(r"\d")
_FIRST_YEAR, _LAST_YEAR = 1995, 2100
# A date said to be a modification: "Updated", "Last modified", "edited", "revised".
_UPDATED_CUE = re.compile(r"\b(?:updated?|modified|edited|revised|aktualisiert|mis à jour|actualizado)\b", re.I)
_UPDATED_MARK = re.compile(r"updat|modif|revis", re.I)
_DATELINE_CHARS = 90
_STATED_XPATH = ".//time | .//*[@itemprop='datePublished' or @itemprop='dateModified']"
# Text that may hold a year: only its elements are read as datelines.
_YEAR_TEXT_XPATH = ".//text()[contains(., '19') or contains(., '20')]"
# What the extensive search leaves out of the container: prose and lists mention dates that are not the article's.
_PROSE_TAGS = frozenset({"ul", "ol", "table", "blockquote", "figure", "pre", "code"})
_PROSE_WORDS = 25
_NOT_DATELINES = frozenset({"script", "style", "noscript", "template", "svg", "img", "figure", "figcaption"})
MONTHS = (  # a month's name, full or short, as a regex alternation (bylines stops at one, too)
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
# Day month year, month day year, or ISO: a dateline, never a bare year or a month and a year.
_VISIBLE_DATE = re.compile(
    rf"\b(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?P<m1>{MONTHS})\.?,?\s+(?P<y1>(?:19|20)\d\d)"
    rf"|(?P<m2>{MONTHS})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>(?:19|20)\d\d)"
    r"|(?P<y3>(?:19|20)\d\d)-(?P<m3>[01]\d)-(?P<d3>[0-3]\d))\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b(?P<h>[01]?\d|2[0-3])[:.](?P<mi>[0-5]\d)\s*(?P<ampm>[ap]\.?m\.?)?(?!\d)", re.IGNORECASE)
_MONTH_NUMBER = {
    name: n
    for n, name in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
# A UTC time this close to midnight may fall on another local day than the one the page shows.
_LOCAL_HOURS = 10


@dataclass(frozen=True, slots=True)
class Candidate:
    """One statement of the publication time, and where it came from."""

    value: datetime  # timezone-aware, in the offset the source gave
    signal: str  # "json-ld", "meta", "index", "url", "text", "dateline" or "page"
    precise: bool  # has a time of day


@dataclass(frozen=True, slots=True)
class Dates:
    """When the page says it was published and last updated, and which signal gave the publication time."""

    published: datetime | None
    published_from: str | None
    updated: datetime | None


def page_dates(
    tree: Any,
    url: str,
    jsonld: list[dict[str, Any]],
    container: Any,
    headline: Any | None = None,
    extracted_date: str | None = None,
    hint: datetime | None = None,
) -> Dates:
    """The publication and update times of the page, from every signal, reconciled."""
    stated, visible, updated = _container_dates(container, headline)
    found = candidates(tree, url, jsonld, extracted_date, hint, stated + visible)
    modified = _modified(tree, jsonld) + updated
    last_update = max((c.value for c in modified), default=None)
    # htmldate's own pick may be the modification it found; a date marked as one is never the publication.
    modified_days = {c.value.date() for c in modified}
    found = [c for c in found if not (c.signal == "page" and c.value.date() in modified_days)]
    if not found and container is not None:
        found = _searched(container, headline)
    when, signal = reconcile(found)
    if when is not None:
        # the day readers are shown: the dateline's when it names one day, else the URL's
        days = {c.value.date() for c in visible}
        local_day = next(iter(days)) if len(days) == 1 else None if days else url_date(url)
        when = localise(when, local_day, next((c for c in visible if c.precise), None))
    if last_update is not None and when is not None and last_update < when:
        last_update = None  # an "update" before publication is another date mislabelled
    return Dates(when, signal, last_update)


def candidates(
    tree: Any,
    url: str,
    jsonld: list[dict[str, Any]],
    extracted_date: str | None,
    hint: datetime | None,
    in_container: list[Candidate] | None = None,
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
    found += in_container or []
    found += _parsed([extracted_date], "page")
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


def localise(value: datetime, local_day: date | None, local_clock: Candidate | None = None) -> datetime:
    """``value`` in the offset that puts it on ``local_day`` when the source gave only UTC and the days differ.

    The offset is the one the page's visible clock time implies when it shows one, else the
    smallest whole number of hours that reaches the local day. The instant never changes.
    """
    if local_day is None or value.utcoffset() != timedelta(0) or value.date() == local_day:
        return value
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return value  # a bare day written as midnight UTC: no time to reconcile
    if abs((value.date() - local_day).days) != 1:
        return value
    if local_clock is not None and local_clock.value.date() == local_day:
        shown = local_clock.value.replace(tzinfo=UTC)
        offset = timedelta(minutes=round((shown - value).total_seconds() / 900) * 15)
        if abs(offset) <= timedelta(hours=_LOCAL_HOURS) and (value + offset).date() == local_day:
            return value.astimezone(timezone(offset))
    for hours in range(1, _LOCAL_HOURS + 1):
        offset = timedelta(hours=hours if local_day > value.date() else -hours)
        if (value + offset).date() == local_day:
            return value.astimezone(timezone(offset))
    return value


def url_date(url: str) -> date | None:
    """The date in a URL path like ``/2022/01/12/`` or ``/2022-01-12-``, if it is a real date."""
    match = _URL_DATE.search(url.split("?", 1)[0])
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def visible_dates(text: str) -> list[tuple[datetime, bool]]:
    """Each date a visible dateline shows ("March 4, 2024, 7:30 PM"; naive), and whether the words before it
    call it an update ("Last updated 7 March 2024")."""
    found: list[tuple[datetime, bool]] = []
    previous_end = 0
    for match in _VISIBLE_DATE.finditer(text):
        groups = match.groupdict()
        year, month = groups["y1"] or groups["y2"] or groups["y3"], groups["m1"] or groups["m2"]
        day = groups["d1"] or groups["d2"] or groups["d3"]
        number = _MONTH_NUMBER[month[:3].lower()] if month else int(groups["m3"])
        is_update = _UPDATED_CUE.search(text[previous_end : match.start()]) is not None
        previous_end = match.end()
        try:
            value = datetime(int(year), number, int(day))
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


def _container_dates(container: Any, headline: Any | None) -> tuple[list[Candidate], list[Candidate], list[Candidate]]:
    """Publication times the article's container states in ``<time>``, those its datelines show, and its updates."""
    stated: list[Candidate] = []
    visible: list[Candidate] = []
    updated: list[Candidate] = []
    if container is None:
        return stated, visible, updated
    for element in container.xpath(_STATED_XPATH):
        if not is_own(element, container, headline):
            continue
        raw = element.get("datetime") or element.get("content") or ""
        is_update = element.get("itemprop") == "dateModified" or _marked_updated(element)
        value = parse_date(raw) if raw else None
        if value is not None:
            (updated if is_update else stated).append(Candidate(value, "text", bool(_HAS_TIME.search(raw))))
    seen: set[Any] = set()  # elements, not id()s: lxml's proxies die and their ids are reused
    for node in container.xpath(_YEAR_TEXT_XPATH):
        element = node.getparent()
        if element is None or (node.is_tail and (element := element.getparent()) is None):
            continue
        line = short_text(element, _DATELINE_CHARS) if element.tag not in _NOT_DATELINES else None
        if line is None or element in seen:
            continue
        # the outermost short element around the date: "By Ann Lee · <span>4 March</span> 2024"
        while element is not container and (parent := element.getparent()) is not None:
            wider = short_text(parent, _DATELINE_CHARS) if parent is not container else None
            if wider is None:
                break
            element, line = parent, wider
        if element in seen or not is_own(element, container, headline):
            continue
        seen.add(element)
        seen.update(element.iterdescendants())
        for shown, is_update in visible_dates(line):
            candidate = Candidate(shown.replace(tzinfo=UTC), "dateline", bool(shown.hour or shown.minute))
            (updated if is_update or _marked_updated(element) else visible).append(candidate)
    return stated, visible, updated


def _marked_updated(element: Any) -> bool:
    """True when a <time> (or its parent) is labelled as a modification by class, itemprop or the words before it."""
    parent = element.getparent()
    for node in (element, parent):
        if node is None:
            continue
        marks = f"{node.get('class') or ''} {node.get('id') or ''} {node.get('itemprop') or ''}"
        if _UPDATED_MARK.search(marks):
            return True
    before = (parent.text or "") if parent is not None else ""
    previous = element.getprevious()
    if previous is not None:
        before += " " + (previous.tail or "")
    return bool(_UPDATED_CUE.search(before[-40:]))


def _modified(tree: Any, jsonld: list[dict[str, Any]]) -> list[Candidate]:
    """Modification times from JSON-LD ``dateModified`` and modification <meta> tags."""
    found = _parsed((obj.get("dateModified") for obj in jsonld), "json-ld")
    values = []
    for element in tree.iter("meta"):
        for attribute in ("property", "name", "itemprop"):
            if str(element.get(attribute) or "").strip().lower() in MODIFIED_NAMES and element.get("content"):
                values.append(str(element.get("content")))
                break
    return found + _parsed(values, "meta")


def _searched(container: Any, headline: Any | None) -> list[Candidate]:
    """The date htmldate's extensive search finds in the article's container, furniture and long prose removed.

    Only run when no other signal gave a date: it is the slowest. A day-less answer (htmldate
    makes "2024-03-01" of "March 2024") is no publication date.
    """
    import htmldate

    copy = deepcopy(container)
    for element in list(copy.iter()):
        parent = element.getparent()
        if parent is None or not isinstance(element.tag, str):
            continue
        if is_furniture(element) or element.tag in _PROSE_TAGS or _is_long_paragraph(element) or _is_update(element):
            parent.remove(element)
    found = htmldate.find_date(copy, extensive_search=True, original_date=True)
    if not found or found.endswith("-01"):
        return []
    return _parsed([found], "page")


def _is_update(element: Any) -> bool:
    """True for an element marked as an update, or a short one whose text calls a date one ("Updated May 4")."""
    if _marked_updated(element):
        return True
    text = element.text_content()
    return len(text) <= _DATELINE_CHARS * 2 and bool(_UPDATED_CUE.search(text)) and bool(_HAS_DIGIT.search(text))


def _is_long_paragraph(element: Any) -> bool:
    return element.tag == "p" and len(element.text_content().split()) > _PROSE_WORDS


def _parsed(values: Any, signal: str) -> list[Candidate]:
    result = []
    for raw in values:
        if isinstance(raw, str) and (value := parse_date(raw)) is not None:
            # "T00:00:00" is how many sites write a bare day
            precise = bool(_HAS_TIME.search(raw)) and (value.hour, value.minute, value.second) != (0, 0, 0)
            result.append(Candidate(value, signal, precise))
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
