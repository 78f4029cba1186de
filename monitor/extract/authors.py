"""Who wrote an article, as a page says it: JSON-LD, author meta tags, the visible byline, trafilatura's reading.

``page_authors`` asks each in order of trust and keeps the first that names people
(``bylines.people`` turns each one's words into names and agencies); an author that is the
site itself counts only when nothing else names anyone. Pure functions of parsed trees.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

from monitor.extract.bylines import add_name, merge, people, site_key
from monitor.extract.pagemeta import is_article_type, is_own, short_text

# Where a byline is: marked by class, id, rel or itemprop, a link to an author's page, or a "By …" line.
_BYLINE_XPATH = (
    ".//*[contains(@class, 'byline') or contains(@class, 'author') or contains(@class, 'Author')"
    " or contains(@id, 'byline') or contains(@id, 'author') or @rel='author' or contains(@itemprop, 'author')]"
    " | .//a[contains(@href, '/author/') or contains(@href, '/authors/')]"
    " | .//*[starts-with(normalize-space(text()), 'By ') or starts-with(normalize-space(text()), 'by ')"
    " or starts-with(normalize-space(text()), 'Written by')]"
)
_BYLINE_CHARS = 160
_LEAD_ONLY = re.compile(r"^(?:by|written by|words by|author)\s*:?$", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?®])")


_BIO = re.compile(r"(?:^|[\s_-])bio(?:[\s_-]|$)", re.IGNORECASE)
# Meta tags that name the author, in the order they are trusted.
_META_AUTHOR = ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator", "dcterms.creator")


def page_authors(
    tree: Any,
    objects: list[dict[str, Any]],
    container: Any,
    headline: Any | None,
    extracted: str | None,
    sitename: str | None,
) -> tuple[list[str], list[str]]:
    """The people who wrote the article and the agencies it credits, from every place a page names them.

    In order of trust: the JSON-LD ``author``, the author meta tags, the visible byline, what
    trafilatura found (``extracted``), and last the organisations the JSON-LD names as author;
    an author that is the site itself (``sitename``, the JSON-LD publisher) counts only when
    nothing else names anyone.
    """
    sites = _site_names(objects, sitename)
    in_meta = "; ".join(meta_authors(tree))
    found = merge(
        jsonld_authors(objects, sites=sites), people(in_meta, sites), byline_people(container, headline, sites)
    )
    if found[0]:
        return (
            found  # trafilatura's reading joins a byline's parts with ";": "Paul Frew; Home; Digital Security Expert"
        )
    return merge(
        found,
        people(extracted, sites),
        jsonld_authors(objects, organisations=True),
        # the site's own name, when that is all the page credits (a company blog, a personal site)
        people(in_meta),
        byline_people(container, headline),
        people(extracted),
    )


def meta_authors(tree: Any) -> list[str]:
    """What the page's author meta tags say (``<meta name="author">`` and the like), links left out."""
    found: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = str(meta.get("name") or meta.get("property") or "").strip().casefold()
        content = " ".join(str(meta.get("content") or "").split())
        if key.startswith("twitter:label"):
            labels[key[len("twitter:label") :]] = content.casefold()
        elif key.startswith("twitter:data") and content:
            found.setdefault(f"twitter:{key[len('twitter:data') :]}", []).append(content)
        elif key in _META_AUTHOR and content and "://" not in content:
            found.setdefault(key, []).append(content)
    # Yoast's "twitter:label1: Written by / twitter:data1: Jane Doe"
    for number, label in labels.items():
        if label in ("written by", "author", "by") and f"twitter:{number}" in found:
            found["twitter"] = found[f"twitter:{number}"]
    for key in (*_META_AUTHOR, "twitter"):
        if key in found:
            return found[key]
    return []


def byline_people(
    container: Any, headline: Any | None = None, sites: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """The people and agencies of the first byline that names any, in the container, else anywhere in the page body."""
    for text in _bylines(container, headline):
        found, agencies = people(text, sites)
        if found or agencies:
            return found, agencies
    return [], []


def _bylines(container: Any, headline: Any | None) -> Iterator[str]:
    body = container.getroottree().getroot().find("body")
    for scope in (container,) if body is None or body is container else (container, body):
        for element in scope.xpath(_BYLINE_XPATH):
            if _BIO.search(f"{element.get('class') or ''} {element.get('id') or ''}"):
                continue  # an author's biography box, not the byline
            if not is_own(element, scope, headline):
                continue
            text = _spaced_text(element)
            if text and _LEAD_ONLY.match(text) and element.getparent() is not None:
                text = _spaced_text(element.getparent())  # "<p>Written by</p><p>Ann Lee</p>"
            if text:
                yield text


def _spaced_text(element: Any) -> str | None:
    """The element's text with a space between its pieces, so that "<a>Ann Lee</a><span>May 4</span>"
    does not read "Ann LeeMay 4"; None past ``_BYLINE_CHARS``."""
    text = short_text(element, _BYLINE_CHARS, separator=" ")
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text) if text else text


def _site_names(objects: list[dict[str, Any]], sitename: str | None) -> frozenset[str]:
    """The keys (``site_key``) of the site's own names: og:site_name and the JSON-LD publisher."""
    names = {sitename or ""}
    for obj in objects:
        publisher = obj.get("publisher")
        if is_article_type(obj.get("@type")) and isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
            names.add(publisher["name"])
        if str(obj.get("@type") or "") in ("WebSite", "Organization", "NewsMediaOrganization") and isinstance(
            obj.get("name"), str
        ):
            names.add(obj["name"])
    return frozenset(key for key in map(site_key, names) if key)


def jsonld_authors(
    objects: list[dict[str, Any]], *, organisations: bool = False, sites: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """People (or with ``organisations``, the organisations) and agencies the ``author`` of the first
    article-type JSON-LD object names; an author named like the site (``sites``) is an organisation."""
    # Yoast and others name the author once, as a Person in the @graph, and point to it by @id.
    by_id = {obj["@id"]: obj for obj in objects if isinstance(obj.get("@id"), str) and obj.get("name")}
    for obj in objects:
        if not is_article_type(obj.get("@type")) or not obj.get("author"):
            continue
        entries = obj["author"] if isinstance(obj["author"], list) else [obj["author"]]
        entries = [by_id.get(e["@id"], e) if isinstance(e, dict) and "name" not in e else e for e in entries]
        found_people: list[str] = []
        found_agencies: list[str] = []
        found_organisations: list[str] = []
        for entry in entries:
            kind, name = "", entry
            if isinstance(entry, dict):
                kind = str(entry.get("@type") or "").lower()
                name = entry.get("name")
            if not isinstance(name, str) or not name.strip() or "://" in name:
                continue
            found, credited = people(html.unescape(name))
            for agency in credited:
                add_name(found_agencies, agency)
            for person in found:
                is_organisation = "organization" in kind or site_key(person) in sites
                add_name(found_organisations if is_organisation else found_people, person)
        if found_people or found_agencies or found_organisations:
            return found_organisations if organisations else found_people, found_agencies
    return [], []
