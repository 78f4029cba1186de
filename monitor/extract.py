"""Turn a fetched HTML page into an Article: the main text and its metadata, offline.

Boilerplate removal is trafilatura's job; this module picks its options, adds the
few signals it does not give precisely enough (a timezone-aware publication time,
the canonical URL) and turns "nothing usable" into an ExtractionError.

Nothing here touches the network: trafilatura parses the string it is given, and
its URL helpers (courlan, which uses the ``tld`` package) read the Public Suffix
List bundled with ``tld``. The canonical-URL check below is a plain host-suffix test.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import trafilatura
from dateutil import parser as date_parser
from trafilatura.settings import Document
from w3lib.url import canonicalize_url as w3lib_canonicalize_url
from w3lib.url import url_query_cleaner

from monitor.errors import ExtractionError
from monitor.models import Article

# Query parameters that only say where a click came from, never which page it is.
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "ref", "ocid", "cmpid"})
TRACKING_PREFIXES = ("utm_",)

_SNIFF_CHARS = 65536
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKUP = re.compile(
    r"<(?:!doctype\s+html|html|head|body|title|meta|article|main|section|div|span|p|a|h[1-6]|br|table)\b",
    re.IGNORECASE,
)
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}")
_HAS_YEAR = re.compile(r"\d{4}")
_LANG_CODE = re.compile(r"^([a-z]{2})(?:[-_]|$)", re.IGNORECASE)
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " // ")
_HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_JSONLD_ARTICLE_HINTS = ("article", "posting", "report")
# Markup that states the publication time, most specific first; the <time> element
# is only trusted inside the article, where sidebars cannot contribute theirs.
_PUBLISHED_XPATHS = (
    "//meta[@property='article:published_time' or @name='article:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//*[@itemprop='datePublished']/@datetime",
    "//time[@pubdate or contains(concat(' ', normalize-space(@class), ' '), ' published ')]/@datetime",
    "//article//time/@datetime",
)


def looks_like_html(data: bytes | str) -> bool:
    """True when ``data`` is text with HTML markup, not binary data or plain text."""
    sample: bytes | str = data[:_SNIFF_CHARS]
    if isinstance(sample, bytes):
        if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            sample = sample.decode("utf-16", errors="replace")
        else:
            sample = sample.decode("latin-1")  # one char per byte, never fails
    if not sample.strip():
        return False
    if len(_CONTROL_CHARS.findall(sample)) > max(4, len(sample) // 200):
        return False
    return _MARKUP.search(sample) is not None


def canonicalize_url(url: str) -> str:
    """The URL without tracking parameters or fragment, query sorted, scheme and host lowercased."""
    query_keys = {key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    tracking = [
        key for key in query_keys if key.lower() in TRACKING_PARAMS or key.lower().startswith(TRACKING_PREFIXES)
    ]
    if tracking:
        url = url_query_cleaner(url, tracking, remove=True, keep_fragments=False)
    # w3lib also sorts the query, normalises percent-escapes and lowercases scheme and host
    return w3lib_canonicalize_url(url, keep_fragments=False)


def extract_article(
    html: str,
    url: str,
    *,
    hint_title: str | None = None,
    hint_published: datetime | None = None,
    source: str = "",
) -> Article:
    """Extract the main text and metadata of one article page; ExtractionError if there is none."""
    if not looks_like_html(html):
        raise ExtractionError(f"not HTML (binary, control characters or no markup): {url}")
    tree = trafilatura.load_html(html)
    if tree is None:
        raise ExtractionError(f"HTML could not be parsed into a document: {url}")
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=True,  # no readability/jusText fallback: they trade precision for recall
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        include_images=False,  # drops <figure> and its caption
        include_links=False,
        with_metadata=True,
    )
    if not isinstance(document, Document):
        raise ExtractionError(f"no article text found: {url}")
    title = _clean_title(document.title, document.sitename) or (hint_title or "").strip()
    text = _drop_leading_title(document.text or "", title)
    if not text.strip():
        raise ExtractionError(f"no article text found (title only): {url}")
    return Article(
        url=url,
        canonical_url=canonicalize_url(_canonical_link(tree, url)),
        title=title,
        text=text,
        published=_published(tree, document.date, hint_published),
        authors=[name.strip() for name in (document.author or "").split(";") if name.strip()],
        language=_language(tree, document.language),
        source=source,
    )


def _clean_title(title: str | None, sitename: str | None) -> str:
    """The title without a trailing " | Site Name"."""
    title = " ".join((title or "").split())
    if sitename:
        for separator in _TITLE_SEPARATORS:
            suffix = f"{separator}{sitename.strip()}"
            if title.lower().endswith(suffix.lower()) and len(title) > len(suffix):
                return title[: -len(suffix)].strip()
    return title


def _drop_leading_title(text: str, title: str) -> str:
    """The text without a first line that repeats the headline (trafilatura keeps the <h1>)."""
    first, _, rest = text.strip().partition("\n")
    if title and " ".join(first.split()).casefold() == title.casefold():
        return rest.strip()
    return text.strip()


def _canonical_link(tree: Any, url: str) -> str:
    """The page's rel=canonical resolved against ``url`` when it stays on the same site, else ``url``."""
    fetched_host = urlsplit(url).hostname
    for link in tree.iter("link"):
        if "canonical" not in str(link.get("rel") or "").lower().split():
            continue
        href = str(link.get("href") or "").strip()
        if not href:
            continue
        resolved = urljoin(url, href)
        parts = urlsplit(resolved)
        if parts.scheme in ("http", "https") and _same_site(parts.hostname, fetched_host):
            return resolved
        return url
    return url


def _same_site(host: str | None, other: str | None) -> bool:
    """True when the hosts are equal or one is a subdomain of the other (www., m. ignored)."""
    if not host or not other:
        return False
    a, b = _strip_host_prefix(host.lower()), _strip_host_prefix(other.lower())
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _strip_host_prefix(host: str) -> str:
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            return host[len(prefix) :]
    return host


def _published(tree: Any, trafilatura_date: str | None, hint: datetime | None) -> datetime | None:
    """The first publication time found, refined by a later, more precise one on the same day."""
    candidates: list[tuple[datetime, bool]] = []
    raw_values = [*_jsonld_dates(tree), *(str(v) for x in _PUBLISHED_XPATHS for v in tree.xpath(x))]
    if trafilatura_date:
        raw_values.append(trafilatura_date)
    for raw in raw_values:
        parsed = _parse_date(raw)
        if parsed is not None:
            candidates.append((parsed, bool(_HAS_TIME.search(raw))))
    if hint is not None:
        candidates.append((_aware(hint), True))
    if not candidates:
        return None
    first, precise = candidates[0]
    if not precise:
        for value, has_time in candidates[1:]:
            if has_time and value.date() == first.date():
                return value
    return first


def _jsonld_dates(tree: Any) -> Iterator[str]:
    """``datePublished`` values of the JSON-LD blocks, article types first."""
    objects: list[dict[str, Any]] = []
    for script in tree.xpath("//script[@type='application/ld+json']"):
        try:
            objects.extend(_walk_json(json.loads(script.text or "", strict=False)))
        except ValueError:
            continue
    objects.sort(key=lambda obj: not _is_article_type(obj.get("@type")))
    for obj in objects:
        value = obj.get("datePublished")
        if isinstance(value, str):
            yield value


def _walk_json(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object nested in ``data``, outermost first."""
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk_json(value)
    elif isinstance(data, list):
        for item in data:
            yield from _walk_json(item)


def _is_article_type(value: Any) -> bool:
    types = value if isinstance(value, list) else [value]
    return any(isinstance(t, str) and any(h in t.lower() for h in _JSONLD_ARTICLE_HINTS) for t in types)


def _parse_date(raw: str) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 or free-form date string; naive means UTC."""
    raw = raw.strip()
    if not _HAS_YEAR.search(raw):
        return None
    try:
        return _aware(date_parser.isoparse(raw))
    except (ValueError, OverflowError):
        pass
    try:
        return _aware(date_parser.parse(raw))
    except (ValueError, OverflowError):
        return None


def _aware(value: datetime) -> datetime:
    """``value`` with a fixed-offset stdlib timezone; naive means UTC."""
    offset = value.utcoffset()
    return value.replace(tzinfo=UTC if offset is None else timezone(offset))


def _language(tree: Any, fallback: str | None) -> str | None:
    """The two-letter language code from <html lang>, else from trafilatura's metadata."""
    for candidate in (tree.get("lang"), tree.get("xml:lang"), fallback):
        match = _LANG_CODE.match(str(candidate or "").strip())
        if match:
            return match[1].lower()
    return None
