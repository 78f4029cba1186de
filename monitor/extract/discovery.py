"""Find article links in feeds, sitemaps, robots.txt and listing pages. Pure: bytes in, links out.

A feed or sitemap whose prolog declares XML entities is refused before any parser
sees it, however long the prolog and whatever its encoding; parsers never load DTDs
or touch the network, so a hostile feed cannot expand a billion laughs or read a
local file. Google News sitemaps give each link its publication time, title,
keywords and language, so ``fresh_links`` can drop old articles before anything
is fetched.
"""

from __future__ import annotations

import calendar
import codecs
import gzip
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import lxml.etree
import lxml.html
from dateutil import parser as dateparser

from monitor.errors import MonitorError
from monitor.timestamps import as_utc

MAX_XML_BYTES = 50 * 1024 * 1024
NEWS_NAMESPACE = "http://www.google.com/schemas/sitemap-news/0.9"
# Where a site keeps its sitemap when robots.txt names none (the sitemaps.org convention).
DEFAULT_SITEMAP_PATH = "/sitemap.xml"
_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
# In a prolog: a comment, a PI, a DOCTYPE, or the root element's start ('<' and a letter or '_', no later than
# feedparser's own cut). A prolog of more steps than any real feed's is taken to run to the end.
_PROLOG_MARK = re.compile(rb"<(?:!--|\?|!doctype|[A-Za-z_])", re.IGNORECASE)
_PROLOG_STEPS = 10_000
_ENTITY_DECLARATION = re.compile(rb"<!entity", re.IGNORECASE)
# Inside a DOCTYPE: text and closed literals, an unclosed literal, a comment or PI opening, brackets, or '>'.
# Possessive, so a 50 MB run costs one pass and no backtracking.
_DOCTYPE_TOKEN = re.compile(
    rb"""(?:[^"'\[\]<>]++|<(?!!--|\?)|"[^"]*+"|'[^']*+')++|"[^"]*+|'[^']*+|<!--|<\?|\[++|\]++|>++"""
)
# Encodings whose bytes the scan reads as they are: ASCII where ASCII is, one byte per other character.
_ASCII_AS_IS = ("utf-8", "ascii", "iso8859-1", "cp1252")
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
# How a document announces a wide encoding before any declaration (XML 1.0 appendix F, as feedparser reads it).
_ENCODING_MARKS = (
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # '<?xm' in EBCDIC
)


class DiscoveryError(MonitorError):
    """A feed, sitemap or listing page that cannot be read."""


@dataclass(frozen=True, slots=True)
class Link:
    """A candidate article URL, with what the index said about it."""

    url: str
    title: str | None = None
    published: datetime | None = None
    keywords: tuple[str, ...] = ()  # Google News sitemaps' news:keywords
    language: str | None = None  # Google News sitemaps' news:language (ISO 639)


@dataclass(frozen=True, slots=True)
class SitemapContent:
    """A parsed sitemap: article links, or (for a sitemap index) more sitemaps to read, with their lastmod."""

    links: list[Link]
    sitemaps: list[Link]


def is_fetchable(url: str) -> bool:
    """Only http(s) links are ever followed: never file:, data:, ftp: or javascript:."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def links_from_feed(body: bytes, base_url: str) -> list[Link]:
    """Entries of an RSS or Atom feed, newest first as the feed lists them."""
    _refuse_entities(body, "feed")
    parsed = feedparser.parse(io.BytesIO(body), resolve_relative_uris=False, sanitize_html=False)
    if parsed.bozo and not parsed.entries:
        raise DiscoveryError(f"not a readable feed: {parsed.get('bozo_exception')}")
    links: list[Link] = []
    for entry in parsed.entries:
        href = entry.get("link") or ""
        url = urljoin(base_url, href.strip())
        if not href or not is_fetchable(url):
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        links.append(Link(url=url, title=(entry.get("title") or None), published=published))
    return links


def links_from_sitemap(body: bytes, base_url: str) -> SitemapContent:
    """URLs of a sitemap (with lastmod or Google News dates), or the child sitemaps of an index."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body)
    _refuse_entities(body, "sitemap")
    parser = lxml.etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        recover=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        load_dtd=False,
    )
    try:
        root = lxml.etree.fromstring(body, parser=parser)
    except lxml.etree.XMLSyntaxError as error:
        raise DiscoveryError(f"not a readable sitemap: {error}") from None
    if root is None:
        raise DiscoveryError("not a readable sitemap: empty document")
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise DiscoveryError(f"not a sitemap: root element is <{kind}>")
    links: list[Link] = []
    sitemaps: list[Link] = []
    for element in root:
        # <loc> and <lastmod> are the entry's own children (an image:loc is not); news: fields sit deeper
        fields = {_local(child.tag): child for child in element if _namespace(child.tag) != NEWS_NAMESPACE}
        news = {_local(child.tag): child for child in element.iter() if _namespace(child.tag) == NEWS_NAMESPACE}
        loc = (fields["loc"].text or "").strip() if "loc" in fields else ""
        url = urljoin(base_url, loc)
        if not loc or not is_fetchable(url):
            continue
        if kind == "sitemapindex":
            sitemaps.append(Link(url=url, published=_parse_date(_text(fields.get("lastmod")))))
            continue
        date_text = _text(news.get("publication_date")) or _text(fields.get("lastmod"))
        keywords = tuple(k.strip() for k in (_text(news.get("keywords")) or "").split(",") if k.strip())
        language = _text(news.get("language"))
        links.append(
            Link(
                url=url,
                title=_text(news.get("title")),
                published=_parse_date(date_text),
                keywords=keywords,
                language=language.lower() if language else None,
            )
        )
    return SitemapContent(links=links, sitemaps=sitemaps)


def sitemaps_from_robots(text: str, base_url: str) -> list[str]:
    """The sitemaps a robots.txt names in ``Sitemap:`` lines, resolved, http(s) only, once each."""
    found: list[str] = []
    for match in _SITEMAP_LINE.finditer(text):
        url = urljoin(base_url, match[1])
        if is_fetchable(url) and url not in found:
            found.append(url)
    return found


def site_root(url: str) -> str:
    """``scheme://host[:port]/`` of ``url``: the site a ``site`` source names."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def fresh_links(links: list[Link], now: datetime, max_age_seconds: int | None) -> tuple[list[Link], list[Link]]:
    """Split ``links`` into those published within ``max_age_seconds`` of ``now`` (or undated) and older ones."""
    if max_age_seconds is None:
        return links, []
    cutoff = now - timedelta(seconds=max_age_seconds)
    fresh = [link for link in links if link.published is None or link.published >= cutoff]
    return fresh, [link for link in links if link.published is not None and link.published < cutoff]


def links_from_listing(html: str, base_url: str, pattern: str) -> list[Link]:
    """Links on a listing page whose absolute URL matches ``pattern``, in page order, once each."""
    try:
        document = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as error:
        raise DiscoveryError(f"not a readable listing page: {error}") from None
    compiled = re.compile(pattern)
    seen: set[str] = set()
    links: list[Link] = []
    for anchor in document.iter("a"):
        href = (anchor.get("href") or "").strip()
        url = urljoin(base_url, href).split("#", 1)[0]
        if not href or url in seen or not is_fetchable(url) or not compiled.search(url):
            continue
        seen.add(url)
        title = " ".join(anchor.text_content().split()) or None
        links.append(Link(url=url, title=title))
    return links


def _refuse_entities(body: bytes, what: str) -> None:
    """Feeds and sitemaps have no business declaring entities; one whose prolog does is an attack or broken."""
    if any(_ENTITY_DECLARATION.search(view, 0, _prolog_end(view)) for view in _views(body)):
        raise DiscoveryError(f"{what} declares XML entities; refused (entity expansion attack)")


def _views(body: bytes) -> list[bytes]:
    """``body`` as ASCII-readable bytes in every encoding a parser could read it in: as is, its BOM's, its declared."""
    marked = next((encoding for mark, encoding in _ENCODING_MARKS if body.startswith(mark)), None)
    views = [_decoded(body, marked)] if marked else [body]
    line_end = views[0].find(b"\n")
    # libxml2 reads the XML declaration's encoding, feedparser the first line's last one
    declared = _DECLARED_ENCODING.findall(views[0], 0, line_end if line_end >= 0 else len(views[0]))
    for name in dict.fromkeys(declared[:1] + declared[-1:]):
        view = _decoded(body, name.decode("ascii"))
        if view not in views:
            views.append(view)
    return views


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """``body`` decoded from ``encoding`` and encoded as UTF-8; as is when Python has no such text encoding."""
    try:
        if encoding is None or codecs.lookup(encoding).name in _ASCII_AS_IS:
            return body
        return body.decode(encoding, errors="replace").encode("utf-8", errors="replace")
    except (LookupError, ValueError):  # not a text encoding, or one that cannot decode at all
        return body


def _prolog_end(body: bytes) -> int:
    """Where the root element starts: past the XML declaration, comments, PIs and the DOCTYPE, however long."""
    position = 0
    for _ in range(_PROLOG_STEPS):
        mark = _PROLOG_MARK.search(body, position)
        if mark is None:
            break
        text = mark[0].lower()
        if text == b"<!--":
            position = _past(body, b"-->", mark.end())
        elif text == b"<?":
            position = _past(body, b"?>", mark.end())
        elif text == b"<!doctype":
            position = _past_doctype(body, mark.end())
        else:
            return mark.start()
    return len(body)


def _past(body: bytes, end: bytes, start: int) -> int:
    found = body.find(end, start)
    return len(body) if found < 0 else found + len(end)


def _past_doctype(body: bytes, position: int) -> int:
    """Where a DOCTYPE ends: at '>' outside literals, comments, PIs and brackets; the end if it never closes."""
    depth = 0  # '[' nesting: the internal subset, and conditional sections a lenient parser might take
    for _ in range(_PROLOG_STEPS):
        token = _DOCTYPE_TOKEN.match(body, position)
        if token is None:  # only at the end: every byte starts a token
            break
        position = token.end()
        text = token[0]
        if text == b"<!--":
            position = _past(body, b"-->", position)
        elif text == b"<?":
            position = _past(body, b"?>", position)
        elif text[0] == ord("["):
            depth += len(text)
        elif text[0] == ord("]"):
            depth = max(depth - len(text), 0)
        elif text[0] == ord(">") and depth == 0:
            return token.start() + 1
    return len(body)


def _gunzip(body: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        data = stream.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise DiscoveryError(f"sitemap is larger than {MAX_XML_BYTES} bytes unpacked; refused")
    return data


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag: object) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _text(element: lxml.etree._Element | None) -> str | None:
    if element is None or not element.text:
        return None
    return element.text.strip() or None


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = dateparser.isoparse(text)
    except (ValueError, OverflowError):
        return None
    return as_utc(moment)
