"""What every chat renderer shows of an event, read defensively: a stored payload may be old or odd.

Nothing here escapes anything: each renderer (``slack``, ``discord``, ``teams``)
escapes for its own markup. ``safe_link`` is the one gate every link passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

ELLIPSIS = "…"
LINK_LIMIT = 3000  # Slack's button URL limit; the strictest of the three
# Characters a URL may hold unencoded (RFC 3986); anything else (space, <, >, |, quotes, non-ASCII) is refused.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HIT = re.compile(r"\*\*(.+?)\*\*", re.S)


@dataclass(frozen=True)
class RuleLine:
    """One matched rule: its name, score and the terms that hit."""

    rule: str
    score: float
    terms: tuple[str, ...]


@dataclass(frozen=True)
class AlertFacts:
    """The parts of an ``article.matched`` event a message shows, as plain (unescaped) text."""

    title: str
    source: str
    published: str
    score: float
    threshold: float
    link: str | None  # a validated http(s) URL, or None
    rules: tuple[RuleLine, ...]  # best first
    snippet: str  # the best hit's snippet (hits marked **like this**), or the excerpt
    test: bool


def alert_facts(event: dict[str, Any]) -> AlertFacts:
    """The facts of an ``article.matched`` event, with defaults for anything missing."""
    article = mapping(event.get("article"))
    rules = [r for r in event.get("rules") or [] if isinstance(r, dict)]
    lines = tuple(
        RuleLine(
            text(rule.get("rule")) or "?",
            number(rule.get("score")),
            tuple(text(h.get("term")) for h in rule.get("hits") or [] if isinstance(h, dict)),
        )
        for rule in sorted(rules, key=lambda r: -number(r.get("score")))
    )
    return AlertFacts(
        title=text(article.get("title")) or "(untitled)",
        source=text(article.get("source")) or "unknown",
        published=published(article.get("published")),
        score=number(event.get("score")),
        threshold=number(event.get("threshold")),
        link=safe_link(article.get("url")),
        rules=lines,
        snippet=best_snippet(rules) or text(article.get("excerpt")),
        test=event.get("test") is True,
    )


def safe_link(url: object, limit: int = LINK_LIMIT) -> str | None:
    """``url`` if it is a plain, valid http(s) URL a message can link to; None otherwise."""
    if not isinstance(url, str) or not url or len(url) > limit or not _URL_CHARS.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if "@" in parts.netloc:  # https://reuters.com@evil.test/ reads as Reuters and goes elsewhere
        return None
    return url


def escape_chars(text: str, escapes: Mapping[str, str]) -> str:
    """``text`` with each character that ``escapes`` names replaced by its escape."""
    return "".join(escapes.get(char, char) for char in text)


def fit_escaped(text: str, limit: int, escapes: Mapping[str, str], ellipsis: str = ELLIPSIS) -> str:
    """``text`` with ``escapes`` applied, cut (with an ellipsis) so the *escaped* result is at most ``limit`` long."""
    escaped = escape_chars(text, escapes)
    if len(escaped) <= limit:
        return escaped
    budget = limit - len(ellipsis)
    out: list[str] = []
    used = 0
    for char in text:
        piece = escapes.get(char, char)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ellipsis


def split_hits(snippet: str) -> list[tuple[str, bool]]:
    """A rules-engine snippet as (text, is_hit) pieces; ``**hit**`` markers removed."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _HIT.finditer(snippet):
        pieces.append((snippet[position : match.start()], False))
        pieces.append((match.group(1), True))
        position = match.end()
    pieces.append((snippet[position:], False))
    return [(piece, hit) for piece, hit in pieces if piece]


def marked_snippet(
    snippet: str, limit: int, escapes: Mapping[str, str], bold: str, plain: Callable[[str], str] = str
) -> str:
    """A rules-engine snippet, its text through ``plain`` then ``escapes``, each hit in ``bold``, at most ``limit``."""
    out: list[str] = []
    used = 0
    for piece, hit in split_hits(snippet):
        text = plain(piece)
        marker = bold if hit and text.strip() else ""
        text = text.strip() if marker else text
        room = limit - used - 2 * len(marker)
        if room <= len(ELLIPSIS):
            break
        out.append(marker + fit_escaped(text, room, escapes) + marker)
        used += len(out[-1])
        if len(escape_chars(text, escapes)) > room:  # cut: nothing after it fits
            break
    return "".join(out)


def best_snippet(rules: list[dict[str, Any]]) -> str:
    """The snippet of the best hit: in the top-scoring rule, a body hit before a title hit, most frequent first."""
    best: tuple[float, int, int] | None = None
    snippet = ""
    for rule in rules:
        for hit in rule.get("hits") or []:
            if not isinstance(hit, dict) or not text(hit.get("snippet")):
                continue
            rank = (number(rule.get("score")), hit.get("field") == "body", int(number(hit.get("count"))))
            if best is None or rank > best:
                best, snippet = rank, text(hit.get("snippet"))
    return snippet


def published(value: object) -> str:
    """A date for people: ``2026-01-31 14:05 UTC``, or the raw value, or "unknown"."""
    raw = text(value)
    if not raw:
        return "unknown"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if moment.utcoffset() is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    if moment.utcoffset():
        return moment.strftime("%Y-%m-%d %H:%M %z")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def text(value: object) -> str:
    """A payload value as one line of text ("" for None)."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def mapping(value: object) -> dict[str, Any]:
    """A payload value as a dict (empty when it is not one)."""
    return value if isinstance(value, dict) else {}


def number(value: object) -> float:
    """A payload value as a number (0 when it is not one)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def digest_items(event: dict[str, Any]) -> list[AlertFacts]:
    """The alerts of an ``alerts.digest`` event, oldest first."""
    return [alert_facts(item) for item in event.get("alerts") or [] if isinstance(item, dict)]


def window_text(event: dict[str, Any]) -> str:
    """A digest's window for people: ``2026-03-01 08:00 UTC to 2026-03-01 09:00 UTC``."""
    window = mapping(event.get("window"))
    return f"{published(window.get('start'))} to {published(window.get('end'))}"


def notice_lines(event: dict[str, Any]) -> tuple[str, list[str]]:
    """An operator notice (``destination.paused`` or ``source.health``) as a headline and plain lines."""
    if event.get("type") == "source.health":
        source = text(event.get("source")) or "?"
        health = text(event.get("health")) or "?"
        headline = f"Source recovered: {source}" if health == "ok" else f"Source {health}: {source}"
        details = (
            f"monitor status, and run_errors in the store for source {source}"
            if health == "failing"
            else "monitor status shows its last run and the new articles it brought"
        )
        # Each line a sentence: Discord and the Slack fallback join them into one paragraph.
        lines = [
            _sentence(f"Why: {text(event.get('reason')) or 'not given'}"),
            _sentence(f"Since: {published(event.get('since'))}"),
            _sentence(f"Details: {details}"),
        ]
        return headline, lines
    name = text(event.get("destination")) or "?"
    status = event.get("status")
    reason = text(event.get("reason")) or "permanent failures"
    lines = [
        # An email destination's reason names its SMTP reply code already.
        f"Why: {reason}" + (f" (HTTP {status})" if isinstance(status, int) and f"SMTP {status}" not in reason else ""),
        f"Since: {published(event.get('paused_at'))}",
        f"Waiting: {int(number(event.get('pending')))} alert(s), kept until it is resumed",
        f"To resume: monitor alerts resume {name}",
    ]
    return f"Alert destination paused: {name}", lines


def _sentence(line: str) -> str:
    """``line`` ending as a sentence does, with a full stop unless it has one."""
    return line if line.endswith((".", "!", "?")) else line + "."
