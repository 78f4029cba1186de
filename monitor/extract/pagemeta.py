"""What a page says about itself besides its body: JSON-LD objects, the article body they carry, its headline.

Helpers for ``monitor.extract.article``; pure functions of a parsed lxml tree.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import lxml.etree
import lxml.html

_JSONLD_ARTICLE_HINTS = ("article", "posting", "report")
# Saved or XHTML-served pages wrap scripts in CDATA sections, sometimes behind JavaScript comments.
_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>\s*$")
_MARKUP = re.compile(r"</?[a-zA-Z][^>]*>")
_BLOCK_EDGE = re.compile(r"</?(?:p|br|h[1-6]|li|div|blockquote|tr|section)\b[^>]*>", re.IGNORECASE)
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " // ")
_SEPARATOR_CHARS = "|-–—:·/_»"
_MIN_HEADLINE_CHARS = 10


def jsonld_objects(tree: Any) -> list[dict[str, Any]]:
    """Every JSON-LD object on the page, nested ones included, article types first; broken blocks skipped."""
    objects: list[dict[str, Any]] = []
    for script in tree.xpath("//script[@type='application/ld+json']"):
        text = _CDATA.sub("", (script.text or "").strip())
        try:
            objects.extend(_walk_json(json.loads(text, strict=False)))
        except ValueError:
            continue
    objects.sort(key=lambda obj: not is_article_type(obj.get("@type")))
    return objects


def is_article_type(value: Any) -> bool:
    """True for schema.org Article, NewsArticle, BlogPosting, Report and the like."""
    types = value if isinstance(value, list) else [value]
    return any(isinstance(t, str) and any(h in t.lower() for h in _JSONLD_ARTICLE_HINTS) for t in types)


def article_body(objects: list[dict[str, Any]]) -> str:
    """The longest ``articleBody`` of an article-type object, as plain text with one paragraph a line."""
    bodies = [
        obj["articleBody"]
        for obj in objects
        if is_article_type(obj.get("@type")) and isinstance(obj.get("articleBody"), str)
    ]
    return plain_text(max(bodies, key=len)) if bodies else ""


def article_headline(objects: list[dict[str, Any]]) -> str | None:
    """The ``headline`` (else ``name``) of the first article-type object."""
    for obj in objects:
        if is_article_type(obj.get("@type")):
            for key in ("headline", "name"):
                value = obj.get(key)
                if isinstance(value, str) and value.strip():
                    return " ".join(html.unescape(value).split())
    return None


def plain_text(value: str) -> str:
    """Text from a string that may hold HTML markup or entities: one paragraph a line, spaces collapsed."""
    if _MARKUP.search(value):
        marked = _BLOCK_EDGE.sub(lambda m: "\n" + m.group(0) + "\n", value)
        try:
            value = str(lxml.html.fragment_fromstring(marked, create_parent="div").text_content())
        except (lxml.etree.ParserError, ValueError):
            value = _MARKUP.sub(" ", marked)
    else:
        value = html.unescape(value)
    lines = (" ".join(line.split()) for line in value.splitlines())
    return "\n".join(line for line in lines if line)


def resolve_title(tree: Any, extracted: str | None, others: list[str | None], sitename: str | None) -> str:
    """The headline: the extractor's title unless the page contradicts it, the site name cut off.

    An <h1> that is the title less a " | Site" part is the headline. An extracted title that
    no <h1> confirms and no other candidate (JSON-LD headline, og:title, twitter:title,
    <title>) repeats is a stray heading (a teaser's, a promotion's): then the first of the
    others that an <h1> confirms wins.
    """
    headings = _headings(tree, sitename)
    title = " ".join((extracted or "").split())
    candidates = [" ".join(c.split()) for c in others if c and c.strip()]
    if title:
        confirmed = next((h for h in headings if _confirms(h, title)), None)
        if confirmed is not None:
            return confirmed
        norm = _norm(clean_title(title, sitename))
        if any(_norm(clean_title(c, sitename)) == norm for c in candidates):
            return clean_title(title, sitename)
    for candidate in candidates:
        confirmed = next((h for h in headings if _confirms(h, candidate)), None)
        if confirmed is not None:
            return confirmed
    return clean_title(title or (candidates[0] if candidates else ""), sitename)


def meta_titles(tree: Any) -> list[str | None]:
    """og:title, twitter:title and the document <title>, in that order."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = str(meta.get("property") or meta.get("name") or "").lower()
        if key in ("og:title", "twitter:title") and key not in found:
            found[key] = str(meta.get("content") or "")
    title = tree.find(".//head/title")
    if title is None:
        title = tree.find(".//title")
    document_title = title.text_content() if title is not None else None
    return [found.get("og:title"), found.get("twitter:title"), document_title]


def clean_title(title: str | None, sitename: str | None) -> str:
    """The title without a trailing " | Site Name"."""
    title = " ".join((title or "").split())
    if sitename:
        for separator in _TITLE_SEPARATORS:
            suffix = f"{separator}{sitename.strip()}"
            if title.lower().endswith(suffix.lower()) and len(title) > len(suffix):
                return title[: -len(suffix)].strip()
    return title


def _headings(tree: Any, sitename: str | None) -> list[str]:
    site = _norm(sitename or "")
    headings = []
    for element in tree.iter("h1"):
        text = " ".join(element.text_content().split())
        if len(text) >= _MIN_HEADLINE_CHARS and _norm(text) != site:
            headings.append(text)
    return headings[:5]


def _confirms(heading: str, title: str) -> bool:
    """True when ``title`` is ``heading``, or ``heading`` and a shorter site-name part around a separator."""
    h, t = _norm(heading), _norm(title)
    if h == t:
        return True
    if len(h) * 2 < len(t):
        return False
    if t.startswith(h):
        rest = t[len(h) :].lstrip()
        return bool(rest) and rest[0] in _SEPARATOR_CHARS
    if t.endswith(h):
        rest = t[: -len(h)].rstrip()
        return bool(rest) and rest[-1] in _SEPARATOR_CHARS
    return False


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().replace("’", "'").split())


def _walk_json(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object nested in ``data``, outermost first."""
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk_json(value)
    elif isinstance(data, list):
        for item in data:
            yield from _walk_json(item)
