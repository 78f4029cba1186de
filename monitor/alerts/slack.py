"""The Slack incoming-webhook message of an event, in Block Kit.

Everything in the event that came from a scraped page (title, source, snippets,
even rule names and terms) is untrusted: unescaped, a title holding ``<!channel>``
pings a whole channel and ``<https://evil|Reuters>`` shows a fake link. So every
string is escaped (``&``, ``<``, ``>``), the only links are built here from
validated http(s) URLs, unfurling is off, and every text is cut so that its
*escaped* length stays within Slack's limits. In mrkdwn texts, scraped ``*bold*``,
``_italic_``, ``~strike~`` and backticks are made inert too (``inert``): the only
formatting is the monitor's own (labels, rule names, the hits in a snippet).
"""

from __future__ import annotations

import re
from typing import Any

from monitor.alerts.events import DIGEST_TYPE, NOTICE_TYPES
from monitor.alerts.facts import (
    AlertFacts,
    alert_facts,
    digest_items,
    fit_escaped,
    marked_snippet,
    notice_lines,
    safe_link,
    window_text,
)

__all__ = ["escape", "fit", "fit_mrkdwn", "inert", "render_slack", "safe_link", "snippet_mrkdwn"]

HEADER_LIMIT = 150  # header block, plain_text
SECTION_LIMIT = 3000  # section block text
FIELD_LIMIT = 2000  # each section field
TEXT_LIMIT = 40000  # the top-level fallback text
MAX_BLOCKS = 50
BUTTON_TEXT = "Read the article"
DIGEST_TITLE_CHARS = 200  # of each story's title in a digest
DIGEST_LINK_CHARS = 1000
ELLIPSIS = "…"
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# mrkdwn has no escape character, so a formatting character is swapped for a look-alike Slack does not read.
# Only where it could open or close a span: Slack leaves ``*``, ``_`` and ``~`` inside a word (snake_case, 5*3) alone.
_LOOKALIKES = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_FORMATTING = re.compile(r"`|(?<![^\W_])[*_~]|[*_~](?![^\W_])")


def escape(text: str) -> str:
    """``text`` safe for any Slack text field: only ``&``, ``<`` and ``>`` need escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert(text: str) -> str:
    """``text`` with each ``*``, ``_``, ``~`` or backtick mrkdwn would read as formatting swapped for a look-alike."""
    return _FORMATTING.sub(lambda found: _LOOKALIKES[found.group()], text)


def fit(text: str, limit: int) -> str:
    """``text`` escaped (for plain_text), and cut (with an ellipsis) so the escaped result is at most ``limit`` long."""
    return fit_escaped(text, limit, _ESCAPES, ELLIPSIS)


def fit_mrkdwn(text: str, limit: int) -> str:
    """``text`` as inert, escaped mrkdwn, cut so the result is at most ``limit`` characters."""
    return fit(inert(text), limit)


def snippet_mrkdwn(snippet: str, limit: int) -> str:
    """A rules-engine snippet as mrkdwn: text inert and escaped, ``**hit**`` shown as ``*hit*``, at most ``limit``."""
    return marked_snippet(snippet, limit, _ESCAPES, bold="*", plain=inert)


def render_slack(event: dict[str, Any]) -> dict[str, Any]:
    """The Block Kit message for a version-1 event of any type, within every Slack limit."""
    if event.get("type") == DIGEST_TYPE:
        return _digest(event)
    if event.get("type") in NOTICE_TYPES:
        return _notice(event)
    return _alert(alert_facts(event))


def _alert(facts: AlertFacts) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit(facts.title, HEADER_LIMIT), "emoji": False}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Source*\n" + fit_mrkdwn(facts.source, FIELD_LIMIT - 10)},
                {"type": "mrkdwn", "text": "*Published*\n" + fit_mrkdwn(facts.published, FIELD_LIMIT - 13)},
                {"type": "mrkdwn", "text": f"*Score*\n{facts.score:.1f} (threshold {facts.threshold:g})"},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _rules_text(facts)}},
    ]
    if facts.snippet:
        text = snippet_mrkdwn(facts.snippet, SECTION_LIMIT - 2)
        if text:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "> " + text}})
    if facts.link is not None:
        button = {"type": "button", "text": {"type": "plain_text", "text": BUTTON_TEXT}, "url": facts.link,
                  "action_id": "read_article"}  # fmt: skip
        blocks.append({"type": "actions", "elements": [button]})
    names = ", ".join(rule.rule for rule in facts.rules)
    fallback = f"{facts.title} ({facts.source}, score {facts.score:.1f}; {names or 'no rules'})"
    return _message(fallback, blocks)


def _message(fallback: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": fit(fallback, TEXT_LIMIT), "blocks": blocks[:MAX_BLOCKS], "unfurl_links": False,
            "unfurl_media": False}  # fmt: skip


def _rules_text(facts: AlertFacts) -> str:
    """The matched rules and their terms, one line each, as many as fit in a section."""
    lines = ["*Matched*"]
    used = len(lines[0])
    for index, rule in enumerate(facts.rules):
        terms = ", ".join(rule.terms)
        line = f"• *{fit_mrkdwn(rule.rule, 100)}* ({rule.score:.1f})"
        if terms:
            line += ": " + fit_mrkdwn(terms, 400)
        more = f"…and {len(facts.rules) - index} more"
        # Keep room for the "and N more" line in case the next one does not fit either.
        if used + 1 + len(line) + 1 + len(more) > SECTION_LIMIT:
            lines.append(more)
            break
        lines.append(line)
        used += 1 + len(line)
    if len(lines) == 1:
        lines.append("(none)")
    return "\n".join(lines)


def story_line(facts: AlertFacts) -> str:
    """One story of a digest as mrkdwn: the linked, inert title, then source, score and rules."""
    title = fit_mrkdwn(facts.title, DIGEST_TITLE_CHARS)
    link = escape(facts.link) if facts.link else ""
    # A very long URL would crowd the section out: such a story is listed unlinked.
    shown = f"<{link}|{title}>" if link and len(link) <= DIGEST_LINK_CHARS else f"*{title}*"
    rules = fit_mrkdwn(", ".join(rule.rule for rule in facts.rules[:5]), 200)
    return f"• {shown} · {fit_mrkdwn(facts.source, 100)} · {facts.score:.1f} · {rules}"


def _digest(event: dict[str, Any]) -> dict[str, Any]:
    items = digest_items(event)
    headline = f"{len(items)} matching stor{'y' if len(items) == 1 else 'ies'}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit(headline, HEADER_LIMIT), "emoji": False}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn("Digest, " + window_text(event), 300)}]},
    ]
    room = MAX_BLOCKS - len(blocks) - 1  # one block kept for "and N more"
    section: list[str] = []
    shown = 0
    for facts in items:
        line = story_line(facts)
        if sum(len(s) + 1 for s in section) + len(line) > SECTION_LIMIT and section:
            if room == 1:
                break
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(section)}})
            room -= 1
            section = []
        section.append(line)
        shown += 1
    if section:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(section)}})
    if shown < len(items):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {len(items) - shown} more"}]})
    fallback = headline + ": " + "; ".join(facts.title for facts in items)
    return _message(fallback, blocks)


def _notice(event: dict[str, Any]) -> dict[str, Any]:
    headline, lines = notice_lines(event)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit(headline, HEADER_LIMIT), "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": fit_mrkdwn("\n".join(lines), SECTION_LIMIT)}},
    ]
    return _message(headline + ". " + " ".join(lines), blocks)
