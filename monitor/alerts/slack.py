"""The Slack incoming-webhook message of an alert event, in Block Kit.

Everything in the event that came from a scraped page (title, source, snippets,
even rule names and terms) is untrusted: unescaped, a title holding ``<!channel>``
pings a whole channel and ``<https://evil|Reuters>`` shows a fake link. So every
string is escaped (``&``, ``<``, ``>``), the only link is built here from a
validated http(s) URL, unfurling is off, and every text is cut so that its
*escaped* length stays within Slack's limits.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

HEADER_LIMIT = 150  # header block, plain_text
SECTION_LIMIT = 3000  # section block text
FIELD_LIMIT = 2000  # each section field
TEXT_LIMIT = 40000  # the top-level fallback text
MAX_BLOCKS = 50
BUTTON_TEXT = "Read the article"
BUTTON_URL_LIMIT = 3000
ELLIPSIS = "…"
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HIT = re.compile(r"\*\*(.+?)\*\*", re.S)
# Characters a URL may hold unencoded (RFC 3986); anything else (space, <, >, |, quotes, non-ASCII) is refused.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def escape(text: str) -> str:
    """``text`` safe for any Slack text field: only ``&``, ``<`` and ``>`` need escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` escaped, and cut (with an ellipsis) so that the escaped result is at most ``limit`` characters."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    budget = limit - len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def safe_link(url: object) -> str | None:
    """``url`` if it is a plain, valid http(s) URL Slack can link to; None otherwise."""
    if not isinstance(url, str) or not url or len(url) > BUTTON_URL_LIMIT or not _URL_CHARS.fullmatch(url):
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


def snippet_mrkdwn(snippet: str, limit: int) -> str:
    """A rules-engine snippet as Slack mrkdwn: text escaped, ``**hit**`` shown as ``*hit*``, at most ``limit``."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _HIT.finditer(snippet):
        pieces.append((snippet[position : match.start()], False))
        pieces.append((match.group(1), True))
        position = match.end()
    pieces.append((snippet[position:], False))
    out: list[str] = []
    used = 0
    for text, bold in pieces:
        bold = bold and bool(text.strip())
        text = text.strip() if bold else text
        if not text:
            continue
        room = limit - used - (2 if bold else 0)
        if room <= len(ELLIPSIS):
            break
        rendered = fit(text, room)
        out.append(f"*{rendered}*" if bold else rendered)
        used += len(out[-1])
        if len(escape(text)) > room:  # cut: nothing after it fits
            break
    return "".join(out)


def render_slack(event: dict[str, Any]) -> dict[str, Any]:
    """The Block Kit message for a version-1 alert event, within every Slack limit."""
    article = event.get("article") or {}
    title = _text(article.get("title")) or "(untitled)"
    source = _text(article.get("source")) or "unknown"
    published = _published(article.get("published"))
    score = _number(event.get("score"))
    threshold = _number(event.get("threshold"))
    rules = [r for r in event.get("rules") or [] if isinstance(r, dict)]

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit(title, HEADER_LIMIT), "emoji": False}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Source*\n" + fit(source, FIELD_LIMIT - 10)},
                {"type": "mrkdwn", "text": "*Published*\n" + fit(published, FIELD_LIMIT - 13)},
                {"type": "mrkdwn", "text": f"*Score*\n{score:.1f} (threshold {threshold:g})"},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _rules_text(rules)}},
    ]
    snippet = _best_snippet(rules) or _text(article.get("excerpt"))
    if snippet:
        text = snippet_mrkdwn(snippet, SECTION_LIMIT - 2)
        if text:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "> " + text}})
    link = safe_link(article.get("url"))
    if link is not None:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": BUTTON_TEXT},
                        "url": link,
                        "action_id": "read_article",
                    }
                ],
            }
        )
    names = ", ".join(_text(r.get("rule")) for r in rules)
    fallback = f"{title} ({source}, score {score:.1f}; {names or 'no rules'})"
    return {
        "text": fit(fallback, TEXT_LIMIT),
        "blocks": blocks[:MAX_BLOCKS],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _rules_text(rules: list[dict[str, Any]]) -> str:
    """The matched rules and their terms, one line each, as many as fit in a section."""
    lines = ["*Matched*"]
    used = len(lines[0])
    ordered = sorted(rules, key=lambda r: -_number(r.get("score")))
    for index, rule in enumerate(ordered):
        terms = ", ".join(_text(h.get("term")) for h in rule.get("hits") or [] if isinstance(h, dict))
        line = f"• *{fit(_text(rule.get('rule')) or '?', 100)}* ({_number(rule.get('score')):.1f})"
        if terms:
            line += ": " + fit(terms, 400)
        more = f"…and {len(ordered) - index} more"
        # Keep room for the "and N more" line in case the next one does not fit either.
        if used + 1 + len(line) + 1 + len(more) > SECTION_LIMIT:
            lines.append(more)
            break
        lines.append(line)
        used += 1 + len(line)
    if len(lines) == 1:
        lines.append("(none)")
    return "\n".join(lines)


def _best_snippet(rules: list[dict[str, Any]]) -> str:
    """The snippet of the best hit: in the top-scoring rule, a body hit before a title hit, most frequent first."""
    best: tuple[float, int, int] | None = None
    snippet = ""
    for rule in rules:
        for hit in rule.get("hits") or []:
            if not isinstance(hit, dict) or not _text(hit.get("snippet")):
                continue
            rank = (_number(rule.get("score")), hit.get("field") == "body", int(_number(hit.get("count"))))
            if best is None or rank > best:
                best, snippet = rank, _text(hit.get("snippet"))
    return snippet


def _published(value: object) -> str:
    """A published date for people: ``2026-01-31 14:05 UTC``, or the raw value, or "unknown"."""
    text = _text(value)
    if not text:
        return "unknown"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.utcoffset() is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    if moment.utcoffset():
        return moment.strftime("%Y-%m-%d %H:%M %z")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _text(value: object) -> str:
    """A payload value as one line of text ("" for None)."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def _number(value: object) -> float:
    """A payload value as a number (0 when it is not one)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0
