"""Who wrote an article: the people a byline names, and the agencies kept apart from them.

A byline is rarely just names: "By Tom Fletcher, Europe correspondent · 20 January 2022"
carries a lead word, a job title, a separator and a date. ``people`` keeps the names, in page
order and without repeats; a wire service the byline names ("Reuters", "AP") is an
organisation, not an author. Pure functions of strings (``authors`` finds the bylines in a page).
"""

from __future__ import annotations

import html
import re
import unicodedata

from monitor.extract.datetext import MONTHS

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
    edited verified dietitian nutritionist attorney lawyer physician nurse educator educators coordinator
    strategist marketer designer developer engineer scientist economist critic reviewer sr
    """.split()  # noqa: SIM905 - a list of words reads better as words
)
# Subjects a job title names before its role word: "Harry Rabinowitz Tech Reporter".
_BEATS = frozenset(
    """
    tech technology sports sport politics political business science health news food travel culture arts
    entertainment music film fashion style lifestyle money markets finance economics climate weather crime
    legal education world national local digital data audience social video audio photo autos content
    marketing communications editorial
    """.split()  # noqa: SIM905 - a list of words reads better as words
)
# Words a byline puts before the names.
_LEAD = re.compile(
    r"^\s*(?:(?:(?:this\s+)?(?:post|article|story|recipe)\s+(?:was\s+)?(?:written\s+)?by)"
    r"|(?:written|reported|posted|published|words|story|text|article|recipe|reviewed|edited|compiled|authored)\s+by"
    r"|(?:view\s+all\s+posts|(?:see\s+)?more\s+(?:posts|articles|stories)|articles|posts|stories)\s+by"
    r"|read\s+more\s+(?:about|from)|(?:learn\s+more\s+)?about|(?:more\s+)?(?:insights|articles|posts)\s+from"
    r"|sponsored\s+by"
    r"|by|von|par|por|di|door|av|af|author|authors|autor|auteur|byline)(?:\s*[:\-–—]?\s+|\s*:\s*|$)",
    re.IGNORECASE,
)
# A lead glued to the name when the page's markup left no space: "Written byJane Doe", "Posted byJane".
_GLUED_LEAD = re.compile(r"^\s*(?:written|posted|reported|authored)\s+by(?-i:(?=[A-Z]))", re.IGNORECASE)
# A "by" inside a byline, after its date: "16 December 2025 by Sam O'Brien".
_INNER_LEAD = re.compile(
    r"(?:^|\s)(?:(?:written|posted|reported|authored)\s+)?by\s*:?\s*(?-i:(?=[A-Z]))", re.IGNORECASE
)
# Where a byline stops naming people: a separator, a date, a time, "updated", a source line.
_STOP = re.compile(
    r"\s[·•|/]\s|\s[-–—]\s|[·•|]"
    rf"|\b(?:\d{{1,2}}\s+(?:{MONTHS})\b|(?:{MONTHS})\.?\s+\d{{1,2}}\b|\d{{4}}-\d\d-\d\d|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}})"
    r"|\b(?:(?:last\s+)?updated?|sponsored|published|posted|(?:last\s+)?modified|\d+\s*min(?:ute)?s?\s+read)\b"
    r"|\b(?:(?:medically\s+)?reviewed|edited|fact[-\s]checked)\s+by\b"  # a reviewer is not an author
    # "Jane Doe on 4 May", "in Politics", "on behalf of"; the end of a sentence (not "Dr." or "K.")
    r"|(?-i:\s(?:on|in|at)\s)|[!?]|(?-i:(?<=[a-z]{2})\.\s)",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&|\bund\b|\bet\b|\by\b|\bwith\b)\s*", re.IGNORECASE)
_EDGE_PUNCT = "\"'“”‘’«»()[]{}<>.,;:!?·•|/-–—*_~&+→›‹← \t"
_PARTICLES = frozenset("de da di del della der den van von la le du dos das bin ibn al el y zu ter ten".split())  # noqa: SIM905
_MAX_NAME_WORDS = 5
_MAX_AUTHORS = 4
# The most words a byline's first part has, unless a job title makes it longer.
_MAX_BYLINE_WORDS = 7
# Words of a date, never of a name: "Dec", "Sat", "August", "today".
_CALENDAR_WORDS = frozenset(
    """
    jan feb mar apr jun jul aug sep sept oct nov dec january february march april may june july august
    september october november december mon tue tues wed thu thur thurs fri sat sun monday tuesday wednesday
    thursday friday saturday sunday today yesterday
    """.split()  # noqa: SIM905 - a list of words reads better as words
)
# Calendar words that are also names ("Tom May", "Sandy June") or end one ("USA Today").
_NAME_LIKE_CALENDAR_WORDS = frozenset({"may", "june", "july", "april", "august", "sun", "mar", "today", "yesterday"})
# What a byline box says besides the name: labels, placeholders.
_NOT_NAMES = frozenset(
    {"written by", "by", "author", "authors", "name", "username", "admin", "view more posts", "作者", "编辑", "autor"}
    | {"the author", "about the author", "about author", "author bio", "guest author", "unknown", "anonymous"}
)
# A year left at the start of a stretch of byline once its month and day are cut off: "Dec. 19, 2025".
_LEADING_YEAR = re.compile(r"^[\s,.]*\d{4}\b")
# Parts of a byline that credit a picture, not the text.
_MEDIA_CREDIT = re.compile(r"^(?:image|photo|photograph|picture|illustration|graphic|video|credit)s?\s*:", re.I)


def people(raw: str | None, sites: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """The people and the agencies a byline names, each in page order without repeats.

    A byline that names no person and no agency ("Podium Staff", "News Desk") is kept whole as
    its one author: it is what the page credits. A part naming the site itself (one of
    ``sites``, compared as ``site_key`` does) is neither: the publisher, not an author.
    """
    names: list[str] = []
    agencies: list[str] = []
    others: list[str] = []
    for part in _byline_parts(raw or "", sites):
        if _is_agency(part):
            add_name(agencies, part)
        elif site_key(part) in sites:
            continue
        elif _is_name(part):
            add_name(names, part)
        elif _is_credit(part):
            add_name(others, part)
    if not names and not agencies and others:
        names = others[:1]
    return names, agencies


def site_key(name: str) -> str:
    """``name`` reduced to its letters and digits, lower-cased: how a byline is compared with the site's name."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def merge(*sources: tuple[list[str], list[str]]) -> tuple[list[str], list[str]]:
    """The people of the first source that names any (or of a later one naming them and a few more), every agency."""
    chosen: list[str] = next((found for found, _ in sources if found), [])
    for found, _ in sources:  # a later source that names the same people and more (a byline's "and …")
        if len(chosen) < len(found) <= _MAX_AUTHORS and {_key(n) for n in chosen} <= {_key(n) for n in found}:
            chosen = found
    agencies: list[str] = []
    for _, credited in sources:
        for agency in credited:
            add_name(agencies, agency)
    return chosen, agencies


def add_name(names: list[str], name: str) -> None:
    """Add ``name`` to ``names`` unless it is there already (compared case-folded, punctuation aside)."""
    if _key(name) not in {_key(n) for n in names}:
        names.append(name)


def _name_before_role(part: str) -> str | None:
    """The name in "Rachel MacDonald Writer" or "Keith Barry Senior Autos Reporter": the words before the role."""
    words = part.split()
    for index, word in enumerate(words):
        if word.casefold().strip(".()") in ROLE_WORDS:
            kept = words[:index]
            while len(kept) > 2 and kept[-1].casefold() in _BEATS:
                kept.pop()  # "Harry Rabinowitz Tech Reporter"
            name = " ".join(kept)
            return name if len(kept) >= 2 and _is_name(name) else None
    return None


def _is_credit(part: str) -> bool:
    """True for a byline naming no person but a desk or a team ("Podium Staff"): capitalised, short, no digits."""
    words = part.split()
    if all(w.casefold().strip(".") in _CALENDAR_WORDS for w in words):
        return False
    return 1 <= len(words) <= _MAX_NAME_WORDS and part[0].isupper() and not any(ch.isdigit() for ch in part)


def _byline_parts(raw: str, sites: frozenset[str] = frozenset()) -> list[str]:
    """The name-like parts of a byline: leads, dates, job titles, credentials and separators removed."""
    text = " ".join(unicodedata.normalize("NFKC", html.unescape(raw)).split())
    parts: list[str] = []
    for chunk in re.split(r"\s*;\s*", text):
        for index, segment in enumerate(re.split(r"\s*,\s*", _names_span(chunk))):
            if index == 0 and len(segment.split()) > _MAX_BYLINE_WORDS and not _has_role(segment):
                break  # a sentence ("Introducing the …: a new way to earn, grow, …"), not a byline
            if index > 0 and _is_credentials(segment):
                continue  # "MS", "RD", "Ph.D.": a degree after the name
            if _has_role(segment):
                # "Tom Fletcher, Europe correspondent": the title, and what follows it (its desk, its
                # employer), names nobody; "Rachel MacDonald Senior Writer" keeps the name before it,
                # and a byline that is only a desk ("Podium Staff") is kept whole, as a credit
                name = _name_before_role(segment) if index == 0 else None
                if name is not None or index == 0:
                    parts.append((name or segment).strip(_EDGE_PUNCT))
                break
            for piece in _SPLIT.split(segment):
                piece = _LEAD.sub("", piece.strip(_EDGE_PUNCT)).strip(_EDGE_PUNCT)
                piece = _trim_tail(_drop_initials(piece))
                if piece and not _MEDIA_CREDIT.match(piece) and piece.casefold() not in _NOT_NAMES:
                    parts.append(piece)
    return parts


def _names_span(chunk: str) -> str:
    """The stretch of a byline that names people: after its lead word, before its date or separator.

    Most bylines put the name first ("By Jane Doe · 4 May 2024"); some put the date first ("4 May
    2024 by Jane Doe", "Dec. 19, 2025 · Jane Doe"). The stretch after an inner "by" wins, else the
    first stretch between separators that holds more than a date's remains.
    """
    chunk = _GLUED_LEAD.sub("", chunk.strip(_EDGE_PUNCT + " "))
    chunk = _LEAD.sub("", chunk)
    spans: list[str] = []
    start = 0
    for stop in _STOP.finditer(chunk):
        spans.append(chunk[start : stop.start()])
        start = stop.end()
    spans.append(chunk[start:])
    for span in spans:
        inner = _INNER_LEAD.search(span)
        if inner is not None and inner.start() > 0:
            return span[inner.end() :]
    for span in spans:
        span = _LEADING_YEAR.sub("", span).strip(_EDGE_PUNCT)
        if any(ch.isalpha() for ch in span):
            return _LEAD.sub("", span)
    return ""


def _has_role(segment: str) -> bool:
    lowered = [w.casefold().strip(".()") for w in segment.split()]
    return any(w in ROLE_WORDS for w in lowered) and not segment.casefold().endswith(" team")


def _is_credentials(segment: str) -> bool:
    """True for a comma-separated part made only of degrees or certifications: "MS", "RDN", "Ph.D.", "CEPF®"."""
    words = segment.replace("®", "").split()
    return bool(words) and all(_is_credential(w) for w in words)


def _drop_initials(part: str) -> str:
    """``part`` without an avatar's initials before the name: "CM Craig McCarthy" is Craig McCarthy."""
    first, _, rest = part.partition(" ")
    words = rest.split()
    initials = 2 <= len(first) <= 3 and first.isupper() and first.isalpha() and len(words) >= len(first)
    if initials and all(w[0].upper() == c for w, c in zip(words, first, strict=False)):
        return rest
    return part


def _trim_tail(part: str) -> str:
    """``part`` without trailing credentials or a date's words: "Cara Dumaplin RN", "Luke Kim December"."""
    words = part.split()
    while len(words) > 2 and (words[-1].casefold().strip(".") in _CALENDAR_WORDS or _is_credential(words[-1])):
        words.pop()
    if len(words) == 2 and words[-1].casefold().strip(".") in _CALENDAR_WORDS - _NAME_LIKE_CALENDAR_WORDS:
        words.pop()  # "Wyndo Dec", but "Tom May"
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
