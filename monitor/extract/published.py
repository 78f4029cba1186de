"""When an article was published and last updated: every signal gathered, the most trustworthy kept, with its source.

Publication signals, most trusted first:

* ``json-ld``: ``datePublished`` of the page's JSON-LD (article types before others);
* ``meta``: publication-time ``<meta>`` tags and ``datePublished`` microdata or RDFa (not a teaser card's);
* ``index``: the date the feed or sitemap entry gave for the link;
* ``url``: a ``/2022/01/12/`` date in the URL's path;
* ``text``: a ``<time>`` inside the article's own container;
* ``dateline``: a short visible dateline beside the headline (its header, inside the container or not),
  then inside the article's container ("Published 5 March 2024", "2025.12.17", "2/24/2026");
* ``page``: the date htmldate found in the page (trafilatura's metadata pass).

Comments, sidebars, related lists and the page header are never read (``pagemeta.is_own``),
and a date marked as a modification ("Updated …", ``dateModified``, ``article:modified_time``)
is the ``updated`` time, never the publication time.

The URL cannot be edited after publication, so when it carries a full date and the most
trusted signal is more than a day away from it, the first signal that agrees with the URL
wins (else the URL's own day). A publication time in markup on the day of a modification may
be the CMS's last save: an earlier dateline in the article's header then wins. A winner
without a time of day takes the time of a later signal on the same day. A time given only in
UTC takes the offset another signal states the same instant in; else, within hours of
midnight, the offset that puts it on the local day the page shows (its dateline or URL).
Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from monitor.extract.datetext import UPDATED_CUE, VISIBLE_DATE, aware, parse_date, visible_dates
from monitor.extract.pagemeta import is_furniture, is_inside, is_own, short_text

# <meta> names and properties that state the publication time, most specific first.
META_NAMES = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "article:published",
    "published_time",
    "publish_date",
    "published_date",
    "date_published",
    "published",
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
_META_XPATH = "//meta[@content] | //*[@itemprop='datePublished' or @property='datePublished']"
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}")
_HAS_DIGIT = re.compile(r"\d")
_FIRST_YEAR, _LAST_YEAR = 1995, 2100
_UPDATED_MARK = re.compile(r"updat|modif|revis", re.I)
_DATELINE_CHARS = 90
_BARE_DATE_WORDS = 3
# How much text either side of the headline is its header: a kicker and a date above, a byline and a date below.
_HEADER_BEFORE_CHARS = 150
_HEADER_AFTER_CHARS = 450
_HEADER_NODES = 40
_BEFORE_HEADLINE = f"preceding::text()[normalize-space()][position() <= {_HEADER_NODES}]"
_AFTER_HEADLINE = f"following::text()[normalize-space()][position() <= {_HEADER_NODES}]"
_WORD = re.compile(r"\w+")
_STATED_XPATH = (
    ".//time | .//*[@itemprop='datePublished' or @itemprop='dateModified']"
    " | .//*[@property='datePublished' or @property='dateModified']"
)
# Text that may hold a year: only its elements are read as datelines.
_YEAR_TEXT_XPATH = ".//text()[contains(., '19') or contains(., '20')]"
# What the extensive search leaves out of the container: prose and lists mention dates that are not the article's.
_PROSE_TAGS = frozenset({"ul", "ol", "table", "blockquote", "figure", "pre", "code"})
_PROSE_WORDS = 25
_NOT_DATELINES = frozenset({"script", "style", "noscript", "template", "svg", "img", "figure", "figcaption"})
# A UTC time this close to midnight may fall on another local day than the one the page shows.
_LOCAL_HOURS = 10
# Signals that state a publication time in markup: a CMS may stamp them with the last save.
_STATED_SIGNALS = frozenset({"json-ld", "meta"})


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
    header, header_updated = _header_dates(headline, container)
    visible = header + [c for c in visible if c not in header]
    found = candidates(tree, url, jsonld, extracted_date, hint, stated + visible, headline)
    modified = _modified(tree, jsonld) + updated + header_updated
    last_update = max((c.value for c in modified), default=None)
    # htmldate's own pick may be the modification it found; a date marked as one is never the publication.
    modified_days = {c.value.date() for c in modified}
    found = [c for c in found if not (c.signal == "page" and c.value.date() in modified_days)]
    if not found and container is not None:
        found = _searched(container, headline)
    when, signal = reconcile(found)
    if when is not None and signal in _STATED_SIGNALS and when.date() in modified_days:
        # a publication time on the day of a modification may be the last save: the article's own earlier dateline wins
        shown = header[:1]
        if shown and shown[0].value.date() < when.date():
            when, signal = reconcile(shown + [c for c in found if c.value.date() == shown[0].value.date()])
    if when is not None:
        when = _in_stated_offset(when, found)
        # the day readers are shown: the dateline's when it names one day, else the URL's
        days = {c.value.date() for c in visible}
        local_day = next(iter(days)) if len(days) == 1 else url_date(url)
        when = localise(when, local_day, next((c for c in visible if c.precise), None))
    if last_update is not None and when is not None and last_update < when:
        last_update = None  # an "update" before publication is another date mislabelled
    return Dates(when, signal, last_update)


def _in_stated_offset(value: datetime, found: list[Candidate]) -> datetime:
    """``value``, given in UTC, in the offset another signal states the same instant in (a <time>'s "-08:00")."""
    if value.utcoffset() != timedelta(0):
        return value
    for other in found:
        if other.precise and other.value == value and other.value.utcoffset() != timedelta(0):
            return value.astimezone(other.value.tzinfo)
    return value


def candidates(
    tree: Any,
    url: str,
    jsonld: list[dict[str, Any]],
    extracted_date: str | None,
    hint: datetime | None,
    in_container: list[Candidate] | None = None,
    headline: Any | None = None,
) -> list[Candidate]:
    """Every parseable publication time on the page and from its index, most trusted signal first."""
    found: list[Candidate] = []
    found += _parsed((obj.get("datePublished") for obj in jsonld), "json-ld")
    found += _parsed(_meta_values(tree, headline), "meta")
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
        is_update = "dateModified" in (element.get("itemprop"), element.get("property")) or _marked_updated(element)
        value = parse_date(raw) if raw else None
        if value is not None:
            (updated if is_update else stated).append(Candidate(value, "text", bool(_HAS_TIME.search(raw))))
    found_visible, found_updated = _datelines(container.xpath(_YEAR_TEXT_XPATH), container, headline, set())
    return stated, visible + found_visible, updated + found_updated


def _header_dates(headline: Any | None, container: Any) -> tuple[list[Candidate], list[Candidate]]:
    """Datelines just above and below the headline, inside the container or not: the article's header.

    Reading only a few lines either side keeps out the page's other dates (teasers, event dates in the text).
    """
    if headline is None:
        return [], []
    before = [n for n in headline.xpath(_BEFORE_HEADLINE) if _is_shown(n)]
    after = [n for n in headline.xpath(_AFTER_HEADLINE) if _is_shown(n)]
    nodes: list[Any] = []
    budget = _HEADER_BEFORE_CHARS
    for node in reversed(before):
        budget -= len(node.strip())
        if budget < 0:
            break
        nodes.insert(0, node)
    budget = _HEADER_AFTER_CHARS
    for node in after:
        budget -= len(node.strip())
        if budget < 0:
            break
        nodes.append(node)
    # the body's classes describe the page ("has-sidebar"), not a part of it
    scope = container if is_inside(headline, container) else next(headline.iterancestors("body"), None)
    return _datelines([n for n in nodes if _HAS_DIGIT.search(n)], scope, headline, set())


def _is_shown(node: Any) -> bool:
    parent = node.getparent()
    owner = parent.getparent() if node.is_tail and parent is not None else parent
    return owner is not None and owner.tag not in _NOT_DATELINES


def _datelines(
    nodes: list[Any], scope: Any | None, headline: Any | None, seen: set[Any]
) -> tuple[list[Candidate], list[Candidate]]:
    """The publication dates and the updates that short visible lines around these text nodes show."""
    visible: list[Candidate] = []
    updated: list[Candidate] = []
    # ``seen`` holds elements, not id()s: lxml's proxies die and their ids are reused
    for node in nodes:
        element = node.getparent()
        if element is None or (node.is_tail and (element := element.getparent()) is None):
            continue
        if element.tag in _NOT_DATELINES or element in seen:
            continue
        line = short_text(element, _DATELINE_CHARS)
        if line is None:
            # a date written straight into a larger block: "<div>…<h1>…</h1>20 December 2025<p>…"
            bare = " ".join(str(node).split())
            if element.tag != "p" and _is_bare_date(bare) and is_own(element, scope, headline):
                for shown, is_update in visible_dates(bare):
                    (updated if is_update else visible).append(Candidate(shown.replace(tzinfo=UTC), "dateline", False))
            continue
        # the outermost short element around the date: "By Ann Lee · <span>4 March</span> 2024"
        while element is not scope and (parent := element.getparent()) is not None:
            wider = short_text(parent, _DATELINE_CHARS) if parent is not scope else None
            if wider is None:
                break
            element, line = parent, wider
        if element in seen or not is_own(element, scope, headline):
            continue
        seen.add(element)
        seen.update(element.iterdescendants())
        for shown, is_update in visible_dates(line):
            candidate = Candidate(shown.replace(tzinfo=UTC), "dateline", bool(shown.hour or shown.minute))
            (updated if is_update or _marked_updated(element) else visible).append(candidate)
    return visible, updated


def _is_bare_date(text: str) -> bool:
    """True for a short text that is a date and at most a few words ("Posted 20 December 2025")."""
    if len(text) > _DATELINE_CHARS or not VISIBLE_DATE.search(text):
        return False
    return len(_WORD.findall(VISIBLE_DATE.sub(" ", text))) <= _BARE_DATE_WORDS


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
    return bool(UPDATED_CUE.search(before[-40:]))


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
    return len(text) <= _DATELINE_CHARS * 2 and bool(UPDATED_CUE.search(text)) and bool(_HAS_DIGIT.search(text))


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


def _of_another_item(element: Any, headline: Any | None) -> bool:
    """True for microdata of a teaser (a related article's card): in page furniture, in an item without the headline."""
    if not any(map(is_furniture, element.iterancestors())):
        return False
    item = next((a for a in element.iterancestors() if a.get("itemscope") is not None or a.get("typeof")), None)
    return item is None or headline is None or not is_inside(headline, item)


def _meta_values(tree: Any, headline: Any | None = None) -> list[str]:
    """Publication times stated in <meta> tags and ``datePublished`` microdata or RDFa, best names first."""
    ranked: list[tuple[int, str]] = []
    for element in tree.xpath(_META_XPATH):
        if (element.get("itemprop") or element.get("property")) and _of_another_item(element, headline):
            continue
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
