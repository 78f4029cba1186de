"""Turn a fetched HTML page into an Article: the main text and its metadata, offline.

Boilerplate removal is trafilatura's job; this module picks its options and checks
its output against what else the page says:

* the body comes from trafilatura's precise mode; when that keeps less than half of
  what the page's paragraphs, its text outside links and navigation, or its JSON-LD
  ``articleBody`` hold, a second pass with trafilatura's defaults (its readability and
  jusText fallbacks included) is tried; a full JSON-LD ``articleBody`` then vouches for
  the text line by line (``_with_article_body``);
* the fuller pass is taken only when what it adds is prose, not links and repeated lines;
* a page with a title or a date but no body is still an article: empty text, ``text_missing``;
* the title is the headline the page shows when a title tag agrees with it, else the
  candidate (JSON-LD headline, og:title, <title>, trafilatura's) that the page confirms,
  site and section names cut off (``monitor.extract.pagemeta``);
* the publication and update times are reconciled from JSON-LD, <meta>, the feed or sitemap,
  the URL and the article's own visible datelines, and the signal that won is kept
  (``monitor.extract.published``);
* the authors are the people the page names, agencies kept apart (``monitor.extract.authors``);
* the canonical URL is ``rel=canonical`` when it stays on the site, tracking parameters removed.

Nothing here touches the network: trafilatura parses the string it is given, and
its URL helpers (courlan, which uses the ``tld`` package) read the Public Suffix
List bundled with ``tld``. The canonical-URL check below is a plain host-suffix test.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from w3lib.url import canonicalize_url as w3lib_canonicalize_url
from w3lib.url import url_query_cleaner

from monitor.errors import ExtractionError
from monitor.extract.authors import page_authors
from monitor.extract.pagemeta import (
    article_body,
    article_container,
    article_headline,
    headline_element,
    is_own,
    jsonld_objects,
    meta_titles,
    resolve_title,
)
from monitor.extract.published import page_dates
from monitor.models import Article

# Query parameters that only say where a click came from, never which page it is.
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "ref", "ocid", "cmpid"})
TRACKING_PREFIXES = ("utm_",)
# The reason an article is kept with an empty body: the page had a title or a date but no text.
NO_TEXT = "no article text found"
# A text shorter than this share of another reading of the page is taken to be cut short.
RESCUE_RATIO = 0.5
# Below this many characters a precise extraction is always checked against a fuller one.
SHORT_TEXT_CHARS = 500
# A fuller pass counts only if one of its lines has this many words (menus and link lists do not).
PROSE_WORDS = 12
# The fuller pass is refused when more than this share of what it adds is link text or repeated lines.
LINK_DENSITY = 0.5
# JSON-LD articleBody vouches line by line only when it holds this share of the text's 4-grams.
COVERAGE = 0.7
GRAM = 4

_SNIFF_CHARS = 65536
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKUP = re.compile(
    r"<(?:!doctype\s+html|html|head|body|title|meta|article|main|section|div|span|p|a|h[1-6]|br|table)\b",
    re.IGNORECASE,
)
_LANG_CODE = re.compile(r"^([a-z]{2})(?:[-_]|$)", re.IGNORECASE)
_HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_WORD = re.compile(r"\w+")
# Elements whose text is never article prose: what ``_prose_chars`` skips.
_NOT_PROSE = frozenset(
    {"script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form", "a", "button"}
    | {"select", "option", "label", "figcaption", "title", "head"}
)
# Subheadings trafilatura's precise pass may drop, put back before the paragraph they head.
_SUBHEADINGS = ("h2", "h3", "h4")
_SUBHEADING_CHARS = 200
_START_CHARS = 60  # a paragraph is known by its first characters
# A <header> inside <main> or <article> introduces the content, and some templates put the whole article in
# one: only the page's own header (outside them) is left out.
_BODY_PARAGRAPHS = (
    "//p[not(ancestor::nav or ancestor::footer or ancestor::aside"
    " or ancestor::header[not(ancestor::main or ancestor::article)])]"
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
    """Extract the main text and metadata of one article page.

    A page with a title or a date but no body text is an article with empty ``text`` and
    ``text_missing`` saying why; ExtractionError only for what is not a document at all.
    """
    if not looks_like_html(html):
        raise ExtractionError(f"not HTML (binary, control characters or no markup): {url}")
    # Imported here: trafilatura takes 0.13 s to import, and the CLI and the store load this
    # package (for URLs and story signatures) without extracting anything.
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:
        raise ExtractionError(f"HTML could not be parsed into a document: {url}")
    jsonld = jsonld_objects(tree)
    meta = trafilatura.extract_metadata(tree, default_url=url, extensive=False)
    headline = headline_element(tree)
    container = article_container(tree, headline)
    title = (
        resolve_title(tree, meta.title, [article_headline(jsonld), *meta_titles(tree)], meta.sitename, url)
        or (hint_title or "").strip()
    )
    text = _drop_leading_title(_body_text(tree, url, article_body(jsonld), container, headline), title)
    dates = page_dates(tree, url, jsonld, container, headline, meta.date, hint_published)
    if not text and not title and dates.published is None:
        raise ExtractionError(f"no article text, title or date found: {url}")
    authors, organisations = page_authors(tree, jsonld, container, headline, meta.author, meta.sitename)
    return Article(
        url=url,
        canonical_url=canonicalize_url(_canonical_link(tree, url)),
        title=title,
        text=text,
        published=dates.published,
        authors=authors,
        language=_language(tree, meta.language),
        source=source,
        published_from=dates.published_from,
        updated=dates.updated,
        organisations=organisations,
        text_missing=None if text else NO_TEXT,
    )


def _body_text(tree: Any, url: str, ld_body: str, container: Any | None, headline: Any | None) -> str:
    """The article text: trafilatura's precise pass, a fuller pass if that looks cut short, checked against JSON-LD."""
    precise = _trafilatura_text(tree, url, precise=True)
    text = ""
    page_chars = max(_paragraph_chars(tree), _prose_chars(tree), len(ld_body))
    if len(precise) < max(SHORT_TEXT_CHARS, RESCUE_RATIO * page_chars):
        # favor_precision sometimes drops most of a real article (or all of it): ask again with
        # trafilatura's defaults, its readability and jusText fallbacks included
        fuller = _trafilatura_text(tree, url, precise=False)
        if len(precise) < RESCUE_RATIO * len(fuller) and _has_prose(fuller) and _adds_prose(precise, fuller, tree):
            text = fuller
    text = text or _with_subheadings(precise, container, headline)
    return _with_article_body(text, ld_body) if ld_body else text


def _trafilatura_text(tree: Any, url: str, *, precise: bool) -> str:
    import trafilatura
    from trafilatura.settings import Document

    document = trafilatura.bare_extraction(
        tree,
        url=url,
        # the precise pass alone skips the fallbacks (they trade precision for recall); the fuller
        # pass, taken when that one looks cut short, is where they earn their cost
        fast=precise,
        favor_precision=precise,
        include_comments=False,
        include_tables=True,
        include_images=False,  # drops <figure> and its caption
        include_links=False,
        with_metadata=False,
    )
    return (document.text or "").strip() if isinstance(document, Document) else ""


def _with_subheadings(text: str, container: Any | None, headline: Any | None) -> str:
    """Put back the subheadings trafilatura's precise pass drops: a heading of the article's own container
    goes just before the paragraph that follows it, when that paragraph is in the text."""
    if container is None or not text:
        return text
    lines = text.splitlines()
    starts: dict[str, int] = {}
    for number, line in enumerate(lines):
        starts.setdefault(_start(line), number)
    present = {" ".join(line.split()) for line in lines}
    inserts: dict[int, str] = {}
    for heading in container.iter(*_SUBHEADINGS):
        words = " ".join(str(heading.text_content()).split())
        if not words or words in present or len(words) > _SUBHEADING_CHARS or not is_own(heading, container, headline):
            continue
        after = next((t for s in heading.itersiblings() if (t := " ".join(str(s.text_content()).split()))), "")
        line_number = starts.get(_start(after)) if after else None
        if line_number is not None:
            inserts.setdefault(line_number, words)
    for at in sorted(inserts, reverse=True):
        lines.insert(at, inserts[at])
    return "\n".join(lines)


def _start(line: str) -> str:
    return " ".join(line.split())[:_START_CHARS]


def _adds_prose(text: str, fuller: str, tree: Any) -> bool:
    """True when what the fuller pass adds to ``text`` is article prose, not navigation.

    An added line is navigation when it is the text of one of the page's links or repeats within
    the pass (menus, "Top stories" lists); at most ``LINK_DENSITY`` of what is added may be.
    """
    kept = set(text.splitlines())
    counts = Counter(fuller.splitlines())
    anchors = {" ".join(str(a.text_content()).split()).casefold() for a in tree.iter("a")}
    added = navigation = 0
    for line in fuller.splitlines():
        if line in kept:
            continue
        added += len(line)
        if counts[line] > 1 or " ".join(line.split()).casefold() in anchors:
            navigation += len(line)
    return added > 0 and navigation <= LINK_DENSITY * added


def _has_prose(text: str) -> bool:
    """True when some line reads like a sentence, not a menu: what a fuller pass must find to be taken."""
    return any(len(line.split()) >= PROSE_WORDS for line in text.splitlines())


def _prose_chars(tree: Any) -> int:
    """Characters of text outside links, navigation, headers, footers, asides and forms.

    Catches the article whose text sits in <div>s, lists or tables rather than <p>s, which
    ``_paragraph_chars`` does not see.
    """
    body = tree.find("body")
    total = 0
    stack = [body] if body is not None else []
    while stack:
        element = stack.pop()
        for child in element:
            if isinstance(child.tag, str) and (
                child.tag not in _NOT_PROSE or (child.tag == "header" and _in_content(child))
            ):
                total += len(child.text.strip()) if child.text else 0
                stack.append(child)
            total += len(child.tail.strip()) if child.tail else 0
    return total


def _in_content(element: Any) -> bool:
    """Whether ``element`` sits inside the page's <main> or an <article>."""
    return any(ancestor.tag in ("main", "article") for ancestor in element.iterancestors())


def _paragraph_chars(tree: Any) -> int:
    """Characters of <p> text outside navigation, headers, footers and asides: a cheap bound on the body."""
    return sum(len(" ".join(str(p.text_content()).split())) for p in tree.xpath(_BODY_PARAGRAPHS))


def _with_article_body(text: str, ld_body: str) -> str:
    """Combine the extracted text with the publisher's own JSON-LD ``articleBody``.

    A body much longer than the extracted text replaces it (a page rendered by script, or an
    extraction cut short). A body that covers the extracted text vouches for it line by line:
    lines it does not contain are page furniture that slipped through (share buttons, teasers).
    A body that is only a summary changes nothing.
    """
    if len(text) < RESCUE_RATIO * len(ld_body):
        return ld_body
    body_grams = _grams(ld_body)
    text_grams = _grams(text)
    if not text_grams or len(text_grams & body_grams) < COVERAGE * len(text_grams):
        return text
    body_words = set(_words(ld_body))
    kept = []
    for line in text.split("\n"):
        words = _words(line)
        grams = _grams(line)
        if (grams & body_grams) if len(words) >= GRAM else all(w in body_words for w in words):
            kept.append(line)
    return "\n".join(kept).strip()


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _grams(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + GRAM]) for i in range(len(words) - GRAM + 1)}


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


def _language(tree: Any, fallback: str | None) -> str | None:
    """The two-letter language code from <html lang>, else from trafilatura's metadata."""
    for candidate in (tree.get("lang"), tree.get("xml:lang"), fallback):
        match = _LANG_CODE.match(str(candidate or "").strip())
        if match:
            return match[1].lower()
    return None
