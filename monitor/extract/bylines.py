"""Who wrote an article: the people a byline names, and the agencies kept apart from them.

A byline is rarely just names: "By Tom Fletcher, Europe correspondent · 20 January 2022"
carries a lead word, a job title, a separator and a date. ``people`` keeps the names, in page
order and without repeats; a wire service the byline names ("Reuters", "AP") is an
organisation, not an author. Pure functions of strings, JSON-LD objects and parsed trees.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

from monitor.extract.pagemeta import is_article_type, is_own, short_text
from monitor.extract.published import MONTHS

# News agencies and wire services: credited, never authors. Compared case-folded, without "The".
AGENCIES = frozenset(
    {
        "reuters",
        "thomson reuters",
        "ap",
        "associated press",
        "afp",
        "agence france-presse",
        "agence france presse",
        "pa",
        "pa media",
        "pa wire",
        "press association",
        "dpa",
        "ansa",
        "efe",
        "xinhua",
        "kyodo",
        "kyodo news",
        "upi",
        "united press international",
        "aap",
        "australian associated press",
        "canadian press",
        "cp",
        "yonhap",
        "tass",
        "anadolu",
        "anadolu agency",
        "bloomberg",
        "bloomberg news",
        "cnn wire",
        "ians",
        "pti",
        "press trust of india",
        "ani",
    }
)
# Words that make a byline part a job title or a role, not a name.
ROLE_WORDS = frozenset(
    """
    correspondent correspondents editor editors reporter reporters writer writers journalist journalists
    columnist contributor contributors contributing staff analyst producer presenter host anchor chief
    senior deputy associate assistant managing executive former desk bureau photographer photographers
    researcher intern fellow professor lecturer director head founder co-founder ceo cto president officer
    manager lead specialist expert consultant coach trainer author guest updated published posted reviewed
    edited verified
    """.split()  # noqa: SIM905 - a list of words reads better as words
)
# Words a byline puts before the names.
_LEAD = re.compile(
    r"^\s*(?:(?:(?:this\s+)?(?:post|article|story|recipe)\s+(?:was\s+)?(?:written\s+)?by)"
    r"|(?:written|reported|posted|published|words|story|text|article|recipe|reviewed|edited|compiled)\s+by"
    r"|(?:view\s+all\s+posts|(?:see\s+)?more\s+(?:posts|articles|stories))\s+by|read\s+more\s+(?:about|from)"
    r"|by|von|par|por|di|door|av|af|author|authors|autor|auteur|byline)\s*[:\-–—]?\s+",
    re.IGNORECASE,
)
# Where a byline stops naming people: a separator, a date, a time, "updated", a source line.
_STOP = re.compile(
    r"\s[·•|/]\s|\s[-–—]\s|[·•|]"
    rf"|\b(?:\d{{1,2}}\s+(?:{MONTHS})\b|(?:{MONTHS})\.?\s+\d{{1,2}}\b|\d{{4}}-\d\d-\d\d|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}})"
    r"|\b(?:(?:last\s+)?updated|published|posted|(?:last\s+)?modified|\d+\s*min(?:ute)?s?\s+read)\b",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&|\bund\b|\bet\b|\by\b|\bwith\b)\s*", re.IGNORECASE)
_EDGE_PUNCT = "\"'“”‘’«»()[]{}<>.,;:!?·•|/-–—*_~ \t"
_PARTICLES = frozenset("de da di del della der den van von la le du dos das bin ibn al el y zu ter ten".split())  # noqa: SIM905
_MAX_NAME_WORDS = 5
_MAX_AUTHORS = 4
# Words of a date, never of a name: "Dec", "Sat", "August", "today".
_CALENDAR_WORDS = frozenset(
    """
    jan feb mar apr jun jul aug sep sept oct nov dec january february march april may june july august
    september october november december mon tue tues wed thu thur thurs fri sat sun monday tuesday wednesday
    thursday friday saturday sunday today yesterday
    """.split()  # noqa: SIM905 - a list of words reads better as words
)
# What a byline box says besides the name: labels, placeholders.
_NOT_NAMES = frozenset(
    {"written by", "by", "author", "authors", "name", "username", "admin", "view more posts", "作者", "编辑", "autor"}
)
# Parts of a byline that credit a picture, not the text.
_MEDIA_CREDIT = re.compile(r"^(?:image|photo|photograph|picture|illustration|graphic|video|credit)s?\s*:", re.I)


def people(raw: str | None) -> tuple[list[str], list[str]]:
    """The people and the agencies a byline names, each in page order without repeats.

    A byline that names no person and no agency ("Podium Staff", "News Desk") is kept whole as
    its one author: it is what the page credits.
    """
    names: list[str] = []
    agencies: list[str] = []
    others: list[str] = []
    for part in _byline_parts(raw or ""):
        if _is_agency(part):
            _add(agencies, part)
        elif _is_name(part):
            _add(names, part)
        elif (name := _name_before_role(part)) is not None:
            _add(names, name)
        elif _is_credit(part):
            _add(others, part)
    if not names and not agencies and others:
        names = others[:1]
    return names, agencies


def jsonld_authors(objects: list[dict[str, Any]], *, organisations: bool = False) -> tuple[list[str], list[str]]:
    """People (or with ``organisations``, the organisations) and agencies the ``author`` of the first
    article-type JSON-LD object names."""
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
                _add(found_agencies, agency)
            for person in found:
                _add(found_organisations if "organization" in kind else found_people, person)
        if found_people or found_agencies or found_organisations:
            return found_organisations if organisations else found_people, found_agencies
    return [], []


def merge(*sources: tuple[list[str], list[str]]) -> tuple[list[str], list[str]]:
    """The people of the first source that names any (or of a later one naming them and a few more), every agency."""
    chosen: list[str] = next((found for found, _ in sources if found), [])
    for found, _ in sources:  # a later source that names the same people and more (a byline's "and …")
        if len(chosen) < len(found) <= _MAX_AUTHORS and {_key(n) for n in chosen} <= {_key(n) for n in found}:
            chosen = found
    agencies: list[str] = []
    for _, credited in sources:
        for agency in credited:
            _add(agencies, agency)
    return chosen, agencies


def _add(names: list[str], name: str) -> None:
    if _key(name) not in {_key(n) for n in names}:
        names.append(name)


def _name_before_role(part: str) -> str | None:
    """The name in "Rachel MacDonald Writer" or "Keith Barry Senior Autos Reporter": the words before the role."""
    words = part.split()
    for index, word in enumerate(words):
        if word.casefold().strip(".") in ROLE_WORDS:
            name = " ".join(words[:index])
            return name if index >= 2 and _is_name(name) else None
    return None


def _is_credit(part: str) -> bool:
    """True for a byline naming no person but a desk or a team ("Podium Staff"): capitalised, short, no digits."""
    words = part.split()
    return 1 <= len(words) <= _MAX_NAME_WORDS and part[0].isupper() and not any(ch.isdigit() for ch in part)


def _byline_parts(raw: str) -> list[str]:
    text = " ".join(unicodedata.normalize("NFKC", html.unescape(raw)).split())
    parts: list[str] = []
    for chunk in re.split(r"\s*;\s*", text):
        chunk = _LEAD.sub("", chunk.strip(_EDGE_PUNCT + " "))
        stop = _STOP.search(chunk)
        if stop is not None:
            chunk = chunk[: stop.start()]
        for piece in _SPLIT.split(chunk):
            piece = _LEAD.sub("", piece.strip(_EDGE_PUNCT)).strip(_EDGE_PUNCT)
            piece = _trim_tail(piece)
            if piece and not _MEDIA_CREDIT.match(piece) and piece.casefold() not in _NOT_NAMES:
                parts.append(piece)
    return parts


def _trim_tail(part: str) -> str:
    """``part`` without trailing credentials or a date's words: "Cara Dumaplin RN", "Luke Kim December"."""
    words = part.split()
    while len(words) > 2 and (words[-1].casefold().strip(".") in _CALENDAR_WORDS or _is_credential(words[-1])):
        words.pop()
    return " ".join(words)


def _is_credential(word: str) -> bool:
    """A degree or certification after a name: RN, MD, PhD, Ph.D., MBA (two to five capitals, dots aside)."""
    letters = word.replace(".", "")
    return 2 <= len(letters) <= 5 and letters.isalpha() and sum(c.isupper() for c in letters) >= 2


def _key(name: str) -> str:
    return " ".join(name.casefold().replace(".", " ").split())


def _is_agency(part: str) -> bool:
    key = _key(part)
    key = key[4:] if key.startswith("the ") else key
    return key in AGENCIES


def _is_name(part: str) -> bool:
    """True when ``part`` reads like a person's (or a named team's) name, not a role or a phrase."""
    words = part.split()
    if not 1 <= len(words) <= _MAX_NAME_WORDS or any(ch.isdigit() for ch in part) or "@" in part:
        return False
    lowered = [w.casefold().strip(".") for w in words]
    if all(w in _CALENDAR_WORDS for w in lowered):
        return False  # "Dec", "Sat", "August": a date's words
    if any(w in ROLE_WORDS for w in lowered) and not part.casefold().endswith(" team"):
        return False
    capitals = [w for w, low in zip(words, lowered, strict=True) if low not in _PARTICLES]
    if not capitals or any(w[0].islower() for w in capitals):
        return False
    # A lone short token with capitals inside or a dot is a credential (MD, RD, PhD, Ph.D.), not a name.
    return not (len(words) == 1 and len(part) <= 6 and ("." in part or sum(c.isupper() for c in part) >= 2))


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


def byline_text(container: Any, headline: Any | None = None) -> str:
    """The first short text the article marks as its byline, in its container, else anywhere in the page body."""
    body = container.getroottree().getroot().find("body")
    for scope in (container,) if body is None or body is container else (container, body):
        for element in scope.xpath(_BYLINE_XPATH):
            if "bio" in f"{element.get('class') or ''} {element.get('id') or ''}".lower():
                continue  # an author's biography box, not the byline
            if not is_own(element, scope, headline):
                continue
            text = short_text(element, _BYLINE_CHARS)
            if text and _LEAD_ONLY.match(text) and element.getparent() is not None:
                text = short_text(element.getparent(), _BYLINE_CHARS)  # "<p>Written by</p><p>Ann Lee</p>"
            if text:
                return text
    return ""
