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
from urllib.parse import urlsplit

import lxml.etree
import lxml.html

_JSONLD_ARTICLE_HINTS = ("article", "posting", "report")
# Saved or XHTML-served pages wrap scripts in CDATA sections, sometimes behind JavaScript comments.
_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>\s*$")
_MARKUP = re.compile(r"</?[a-zA-Z][^>]*>")
_BLOCK_EDGE = re.compile(r"</?(?:p|br|h[1-6]|li|div|blockquote|tr|section)\b[^>]*>", re.IGNORECASE)
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " // ")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"', "\u00a0": " "})
_SEPARATOR_CHARS = "|-–—:·/_»"
_MIN_HEADLINE_CHARS = 10
_HEADING_XPATH = "//h1 | //*[@itemprop='headline'] | //h2[contains(@class, 'headline') or contains(@class, 'title')]"
# Title parts, split at the separators sites join their name with: " | ", " - ", " » ", ": "…
_TITLE_SPLIT = re.compile(r"(\s+(?:[|\-–—»«·•/~]|::|//)\s+|\s*\|\s*|:\s+)")
_WORDS = re.compile(r"\w+")
_AGREEMENT = 0.6
_MIN_TITLE_WORDS = 2
_MAX_SITE_WORDS = 6
_MIN_SITE_KEY = 4
_MAX_HEADINGS = 5
_ASIDE = re.compile(r"comment|sidebar|related|promo|newsletter", re.IGNORECASE)
# What a site appends to its name in titles: "FullStack Blog", "Example News".
_SITE_SUFFIXES = frozenset({"blog", "news", "online", "magazine", "mag", "media", "com", "org", "net", "official"})
_HOST_NOISE = frozenset({"www", "m", "amp", "mobile", "news", "blog", "en", "us", "uk"})


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


def resolve_title(
    tree: Any, extracted: str | None, others: list[str | None], sitename: str | None, url: str = ""
) -> str:
    """The headline: the page's own heading when a title tag agrees with it, else the confirmed title, site name cut.

    The <h1> (or a heading marked as the headline) wins when the extractor's title, the JSON-LD
    headline, og:title, twitter:title or <title> share most of its words: they name the same
    story, and the heading is what readers see. Otherwise an extracted title that no heading
    confirms and no other candidate repeats is a stray heading (a teaser's, a promotion's): then
    the first of the others that a heading confirms wins. The site's name (og:site_name, or
    the host's) is cut however it is joined, but never when what remains is a fragment.
    """
    sites = _site_keys(sitename, url)
    headings = _headings(tree, sitename, sites)
    title = " ".join((extracted or "").split())
    candidates = [" ".join(c.split()) for c in others if c and c.strip()]
    everything = [title, *candidates] if title else candidates
    for heading in headings:
        if any(_agrees(heading, strip_site(c, sites)) for c in everything):
            return strip_site(heading, sites)
    if title:
        norm = _norm(clean_title(title, sitename))
        if any(_norm(clean_title(c, sitename)) == norm for c in candidates):
            return strip_site(clean_title(title, sitename), sites)
    for candidate in candidates:
        confirmed = next((h for h in headings if _confirms(h, candidate)), None)
        if confirmed is not None:
            return confirmed
    return strip_site(clean_title(title or (candidates[0] if candidates else ""), sitename), sites)


def strip_site(title: str, sites: set[str]) -> str:
    """``title`` without a leading or trailing part that is the site's name (and a section beside it).

    Parts are split at " | ", " - ", " – ", " — ", " » ", " · ", " :: ", " // " and a colon; what
    remains must keep at least two words, else the title is returned as it is.
    """
    if not sites:
        return title
    parts = _TITLE_SPLIT.split(title)
    texts, separators = parts[0::2], parts[1::2]
    if len(texts) < 2:
        return title
    start, end = 0, len(texts)
    if _is_site(texts[0], sites, exact=True):
        start = 1
        while start < end - 1 and _is_section(texts[start]):
            start += 1
    if end - start > 1 and _is_site(texts[end - 1], sites):
        end -= 1
        while end - 1 > start and _is_section(texts[end - 1]):
            end -= 1
    if (start, end) == (0, len(texts)):
        return title
    kept = texts[start:end]
    rest = kept[0] + "".join(sep + text for sep, text in zip(separators[start : end - 1], kept[1:], strict=True))
    return rest.strip() if len(rest.split()) >= _MIN_TITLE_WORDS else title


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


def _headings(tree: Any, sitename: str | None, sites: set[str] | None = None) -> list[str]:
    """The page's <h1>s, and headings marked as the headline, outside page furniture and not the site's name."""
    site = _norm(sitename or "")
    headings = []
    for element in tree.xpath(_HEADING_XPATH):
        text = " ".join(element.text_content().split())
        if len(text) < _MIN_HEADLINE_CHARS or _norm(text) == site or text in headings:
            continue
        if sites and _is_site(text, sites):  # the blog's or the site's name in an <h1>
            continue
        if not any(_is_aside(a) for a in _ancestors(element)):
            headings.append(text)
        if len(headings) >= _MAX_HEADINGS:
            break
    return headings


def _ancestors(element: Any) -> Iterator[Any]:
    """The element's ancestors below <body>: <body> and <html> classes describe the page, not a part of it."""
    for ancestor in element.iterancestors():
        if ancestor.tag in ("body", "html"):
            return
        yield ancestor


def _is_aside(element: Any) -> bool:
    """True for what holds a promotion's or a comment thread's heading: <aside>, <nav>, <footer>, comments."""
    if element.tag in ("aside", "nav", "footer"):
        return True
    return _ASIDE.search(f"{element.get('class') or ''} {element.get('id') or ''}") is not None


def _agrees(heading: str, title: str) -> bool:
    """True when ``title`` shares most of the heading's words (or the shorter one's): the same story.

    A heading that is only a side part of the title ("The Go Blog" in "Defer, Panic - The Go Blog")
    is the site's or the section's name, not the story's.
    """
    parts = [_norm(part) for part in _TITLE_SPLIT.split(title)[0::2]]
    if len(parts) > 1 and _norm(heading) in parts[1:] and _norm(heading) != max(parts, key=len):
        return False
    a, b = set(_WORDS.findall(_norm(heading))), set(_WORDS.findall(_norm(title)))
    shared = len(a & b)
    return bool(a and b) and shared >= min(2, len(a)) and shared >= _AGREEMENT * min(len(a), len(b))


def _site_keys(sitename: str | None, url: str) -> set[str]:
    """The forms a site name takes in a title: the declared name and the host's main label, letters only."""
    keys = {_key(sitename)} if sitename and _key(sitename) else set()
    host = (urlsplit(url).hostname or "").lower()
    labels = [label for label in host.split(".") if label not in _HOST_NOISE]
    if labels:
        main = max(labels[:-1] or labels, key=len)
        if len(main) >= _MIN_SITE_KEY:
            keys.add(_key(main))
    return keys


def _key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _is_site(part: str, sites: set[str], *, exact: bool = False) -> bool:
    """True when a title part names the site: its name, its host (and a word more unless ``exact``), or initials.

    A leading part must name the site exactly: "Corti introduces GIM: …" on corti.ai is the story.
    """
    key = _key(part)
    if not key or len(part.split()) > _MAX_SITE_WORDS:
        return False
    initials = "".join(word[0] for word in _WORDS.findall(_norm(part)))
    for site in sites:
        if key == site or (key.startswith(site) and key[len(site) :] in _SITE_SUFFIXES):
            return True
        if not exact and len(site) >= _MIN_SITE_KEY and len(part.split()) <= 3 and (site in key or key in site):
            return True
        if len(initials) >= 2 and initials == site:
            return True
    return False


def _is_section(part: str) -> bool:
    """A one- or two-word part beside the site's name: a section ("News", "World news")."""
    return 1 <= len(part.split()) <= 2 and part[:1].isupper()


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
    return " ".join(unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES).split())


def _walk_json(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object nested in ``data``, outermost first."""
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk_json(value)
    elif isinstance(data, list):
        for item in data:
            yield from _walk_json(item)


# Class or id words of page furniture: dates and names found inside these are never the article's.
_FURNITURE = re.compile(
    r"comment|disqus|respond|repl(?:y|ies)|sidebar|widget|related|recommend|more-?(?:stories|articles|posts|news)"
    r"|read-?(?:more|next)|popular|most-?read|trending|newsletter|promo|teaser|footer|breadcrumb|share|social"
    r"|(?:^|[\s_-])nav|menu|subscribe|signup|cookie|carousel|latest|you-?may|also-?like|outbrain|taboola",
    re.IGNORECASE,
)
# Class words that say what the page is, not which region an element is: WordPress's taxonomy classes on the
# article itself ("category-newsletter", "tag-comment") and CSS-variable utilities ("pl-[--sidebar-width]").
_NOT_A_REGION = re.compile(r"^(?:category|tag|type|format|status)-|\[--", re.IGNORECASE)
# Every block of an Elementor page is an "elementor-widget": what follows says what the block is.
_BUILDER_BLOCK = re.compile(r"^elementor-widget", re.IGNORECASE)
_FURNITURE_TAGS = frozenset({"aside", "nav", "footer", "form", "script", "style", "noscript", "template", "select"})
_PAGE_HEADER = re.compile(r"^header\b|masthead|top-?bar|site-?header|page-?header|navbar", re.IGNORECASE)
_CONTAINER_TAGS = frozenset({"article", "main"})


def is_furniture(element: Any) -> bool:
    """True for a comment thread, sidebar, related list, menu, footer or the like (by tag, class or id)."""
    if not isinstance(element.tag, str):
        return False
    if element.tag in _FURNITURE_TAGS:
        return True
    attributes = element.attrib
    if "class" not in attributes and "id" not in attributes:
        return False
    words = str(attributes.get("class", "")).split()
    classes = " ".join(_BUILDER_BLOCK.sub("", word) for word in words if not _NOT_A_REGION.search(word))
    return _FURNITURE.search(f"{classes} {attributes.get('id', '')}") is not None


def headline_element(tree: Any) -> Any | None:
    """The page's first <h1> long enough to be a headline and outside page furniture."""
    for element in tree.iter("h1"):
        if len(" ".join(element.text_content().split())) >= _MIN_HEADLINE_CHARS and not any(
            is_furniture(a) for a in _ancestors(element)
        ):
            return element
    return None


def article_container(tree: Any, headline: Any | None) -> Any:
    """The element that holds the article: the <article> or <main> around the headline, else the largest
    <article> that is not a comment, else <main>, else <body>."""
    if headline is not None:
        for ancestor in headline.iterancestors():
            if ancestor.tag in _CONTAINER_TAGS or ancestor.get("itemprop") == "articleBody":
                return ancestor
    articles = [a for a in tree.iter("article") if not is_furniture(a)]
    if articles:
        return max(articles, key=lambda a: len(a.text_content()))
    for tag in ("main", "body"):
        found = tree.find(f".//{tag}")
        if found is not None:
            return found
    return tree


def is_own(element: Any, container: Any, headline: Any | None = None) -> bool:
    """True when ``element`` belongs to the article in ``container``: not in page furniture on the way up.

    A page header (a <header> or masthead without the headline in it) is furniture too: its
    "today" is not the article's date.
    """
    node = element
    while node is not None and node is not container:
        if is_furniture(node) or _is_page_header(node, headline):
            return False
        node = node.getparent()
    return True


def _is_page_header(element: Any, headline: Any | None) -> bool:
    if not isinstance(element.tag, str):
        return False
    marks = f"{element.tag} {element.get('class') or ''} {element.get('id') or ''}"
    if _PAGE_HEADER.search(marks) is None:
        return False
    return headline is None or not is_inside(headline, element)


def is_inside(element: Any, ancestor: Any | None) -> bool:
    """Whether ``element`` lies inside ``ancestor`` (None: inside nothing)."""
    return ancestor is not None and any(a is ancestor for a in element.iterancestors())


def short_text(element: Any, limit: int, separator: str = "") -> str | None:
    """The element's text, its pieces joined by ``separator`` and spaces collapsed, or None once it passes
    ``limit`` characters (read no further)."""
    pieces: list[str] = []
    length = 0
    for piece in element.itertext():
        length += len(piece)
        if length > limit * 3:
            return None
        pieces.append(piece)
    text = " ".join(separator.join(pieces).split())
    return text if len(text) <= limit else None
