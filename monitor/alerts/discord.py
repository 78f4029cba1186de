"""The Discord webhook message of an event: content plus one embed, mentions switched off.

Discord renders markdown in content and embeds, so every scraped string is
backslash-escaped: a title holding ``[Reuters](https://evil.test)`` stays text, and
``@everyone`` or ``<@123>`` stays text too (``allowed_mentions: {"parse": []}`` is
sent as well, so nothing pings even if something slipped through). Links come only
from validated http(s) URLs. Every text is cut within Discord's limits: content
2,000 characters, embed title 256, description 4,096, field value 1,024, all embeds
6,000 together. Posts go to ``…?wait=true`` so a failure is reported, not swallowed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.alerts.events import DIGEST_TYPE, NOTICE_TYPES
from monitor.alerts.facts import (
    AlertFacts,
    alert_facts,
    digest_items,
    escape_chars,
    fit_escaped,
    marked_snippet,
    notice_lines,
    window_text,
)

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
SNIPPET_CHARS = 1500  # of the embed description, leaving room for the rest under 6,000
_MARKDOWN = "\\*_~`|<>[]()#-@:!"
_ESCAPES = {char: "\\" + char for char in _MARKDOWN}
NO_MENTIONS: dict[str, Any] = {"parse": []}


def escape_markdown(text: str) -> str:
    """``text`` with every Discord markdown and mention character backslash-escaped."""
    return escape_chars(text, _ESCAPES)


def fit(text: str, limit: int) -> str:
    """``text`` escaped and cut so the escaped result is at most ``limit`` characters."""
    return fit_escaped(text, limit, _ESCAPES)


def discord_url(url: str) -> str:
    """The webhook URL with ``wait=true``, so Discord answers with the message or an error."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    query.append(("wait", "true"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def retry_after_from_body(body: str) -> float | None:
    """The ``retry_after`` seconds of a Discord 429 JSON body, or None."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("retry_after") if isinstance(data, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def render_discord(event: dict[str, Any]) -> dict[str, Any]:
    """The Discord message for a version-1 event of any type, within every Discord limit."""
    if event.get("type") == DIGEST_TYPE:
        return _digest(event)
    if event.get("type") in NOTICE_TYPES:
        headline, lines = notice_lines(event)
        return {"content": fit(headline + ". " + " ".join(lines), CONTENT_LIMIT), "allowed_mentions": NO_MENTIONS}
    return _alert(alert_facts(event), str(event.get("id") or ""))


def snippet_markdown(snippet: str, limit: int) -> str:
    """A rules-engine snippet with its text escaped and hits in **bold**, at most ``limit`` characters."""
    return marked_snippet(snippet, limit, _ESCAPES, bold="**")


def _alert(facts: AlertFacts, alert_id: str) -> dict[str, Any]:
    matched = "\n".join(
        f"• {fit(rule.rule, 100)} ({rule.score:.1f})" + (f": {fit(', '.join(rule.terms), 300)}" if rule.terms else "")
        for rule in facts.rules
    )
    embed: dict[str, Any] = {
        "title": fit(facts.title, TITLE_LIMIT),
        "description": snippet_markdown(facts.snippet, SNIPPET_CHARS) if facts.snippet else "",
        "fields": [
            {"name": "Source", "value": fit(facts.source, 256), "inline": True},
            {"name": "Published", "value": fit(facts.published, 64), "inline": True},
            {"name": "Score", "value": f"{facts.score:.1f} (threshold {facts.threshold:g})", "inline": True},
            {"name": "Matched", "value": _cut_lines(matched or "(none)", FIELD_VALUE_LIMIT), "inline": False},
        ],
        "footer": {"text": f"monitor · {alert_id[:100]}"},  # our own id: plain text, never scraped
    }
    if facts.link is not None:
        embed["url"] = facts.link
    if not embed["description"]:
        del embed["description"]
    prefix = "Test alert" if facts.test else "Alert"
    tail = f" ({fit(facts.source, 200)}, score {facts.score:.1f})"
    content = f"{prefix}: " + fit(facts.title, CONTENT_LIMIT - len(prefix) - 2 - len(tail)) + tail
    return {"content": content, "embeds": [embed], "allowed_mentions": NO_MENTIONS}


def _cut_lines(text: str, limit: int) -> str:
    """Already-escaped lines, cut at a line break so that at most ``limit`` characters remain."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 2].rsplit("\n", 1)[0]
    return kept + "\n…"


def _link(url: str) -> str:
    """A validated URL made safe inside a markdown link's parentheses."""
    return url.replace("(", "%28").replace(")", "%29")


def _digest(event: dict[str, Any]) -> dict[str, Any]:
    items = digest_items(event)
    headline = f"{len(items)} matching stor{'y' if len(items) == 1 else 'ies'}"
    lines: list[str] = []
    used = 0
    for index, facts in enumerate(items):
        title = fit(facts.title, 150)
        shown = f"[{title}]({_link(facts.link)})" if facts.link and len(facts.link) <= 500 else f"**{title}**"
        line = f"• {shown} · {fit(facts.source, 60)} · {facts.score:.1f}"
        more = f"…and {len(items) - index} more"
        if used + len(line) + 1 + len(more) > DESCRIPTION_LIMIT:
            lines.append(more)
            break
        lines.append(line)
        used += len(line) + 1
    embed = {"title": fit(headline, TITLE_LIMIT), "description": "\n".join(lines) or "(none)",
             "footer": {"text": fit("Digest, " + window_text(event), 200)}}  # fmt: skip
    content = fit(f"Digest: {headline}, {window_text(event)}", CONTENT_LIMIT)
    return {"content": content, "embeds": [embed], "allowed_mentions": NO_MENTIONS}
