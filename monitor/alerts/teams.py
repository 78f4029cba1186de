"""The Microsoft Teams message of an event: an Adaptive Card posted to a Workflows webhook.

Scraped text goes only into ``TextRun`` elements of ``RichTextBlock``s, which Adaptive
Cards never parse as markdown, so a title holding ``[Reuters](https://evil.test)``
stays text; links come only from validated http(s) URLs (``Action.OpenUrl``). Teams
refuses messages over 28 KB, so a card is rebuilt with smaller pieces until its
UTF-8 JSON fits ``SIZE_BUDGET``. A Workflows webhook answers 202 once it has
*accepted* a message: that is all a sender can know, not that it was posted.
"""

from __future__ import annotations

import json
from typing import Any

from monitor.alerts.events import DIGEST_TYPE, NOTICE_TYPES
from monitor.alerts.facts import AlertFacts, alert_facts, digest_items, notice_lines, split_hits, window_text

SIZE_LIMIT = 28 * 1024  # bytes of the whole request body
SIZE_BUDGET = 26 * 1024  # what we aim for: room for Teams' own wrapping
CARD_VERSION = "1.4"
ELLIPSIS = "…"


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def body_size(message: dict[str, Any]) -> int:
    """Bytes of ``message`` as it is sent (compact UTF-8 JSON)."""
    return len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def render_teams(event: dict[str, Any]) -> dict[str, Any]:
    """The Workflows message for a version-1 event of any type, under Teams' 28 KB limit."""
    if event.get("type") == DIGEST_TYPE:
        return _digest(event)
    if event.get("type") in NOTICE_TYPES:
        headline, lines = notice_lines(event)
        return _message([_heading(headline), *(_runs([(cut(line, 2000), False)]) for line in lines)])
    facts = alert_facts(event)
    scale = 1.0
    while True:
        message = _alert(facts, scale)
        if body_size(message) <= SIZE_BUDGET or scale < 0.01:
            return message
        scale /= 2


def _message(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def _runs(pieces: list[tuple[str, bool]], **style: Any) -> dict[str, Any]:
    """A RichTextBlock of plain TextRuns (never markdown); ``True`` pieces in bold."""
    inlines = [{"type": "TextRun", "text": text, **({"weight": "Bolder"} if bold else {})} for text, bold in pieces]
    return {"type": "RichTextBlock", "inlines": inlines, **style}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": cut(text, 500), "size": "Large",
                                                  "weight": "Bolder"}]}  # fmt: skip


def _alert(facts: AlertFacts, scale: float) -> dict[str, Any]:
    def size(chars: int) -> int:
        return max(int(chars * scale), 20)

    prefix = "Test alert: " if facts.test else ""
    body: list[dict[str, Any]] = [
        _heading(prefix + cut(facts.title, size(500))),
        _runs(
            [
                ("Source: ", True),
                (cut(facts.source, size(200)), False),
                ("  Published: ", True),
                (facts.published, False),
                ("  Score: ", True),
                (f"{facts.score:.1f} (threshold {facts.threshold:g})", False),
            ]
        ),
    ]
    rules = facts.rules[: max(int(20 * scale), 1)]
    for rule in rules:
        pieces = [(cut(rule.rule, size(100)), True), (f" ({rule.score:.1f})", False)]
        if rule.terms:
            pieces.append((": " + cut(", ".join(rule.terms), size(300)), False))
        body.append(_runs(pieces, spacing="None"))
    if len(facts.rules) > len(rules):
        body.append(_runs([(f"…and {len(facts.rules) - len(rules)} more", False)], spacing="None"))
    if facts.snippet:
        body.append(_runs(_snippet(facts.snippet, size(1000)), separator=True))
    actions = [{"type": "Action.OpenUrl", "title": "Read the article", "url": facts.link}] if facts.link else None
    return _message(body, actions)


def _snippet(snippet: str, limit: int) -> list[tuple[str, bool]]:
    """The snippet's pieces, hits in bold, cut to ``limit`` characters in all."""
    pieces: list[tuple[str, bool]] = []
    used = 0
    for text, hit in split_hits(snippet):
        room = limit - used
        if room <= 1:
            break
        pieces.append((cut(text, room), hit))
        used += len(pieces[-1][0])
    return pieces


def _digest(event: dict[str, Any]) -> dict[str, Any]:
    items = digest_items(event)
    headline = f"{len(items)} matching stor{'y' if len(items) == 1 else 'ies'}"
    body: list[dict[str, Any]] = [_heading(headline), _runs([("Digest, " + window_text(event), False)])]
    used = body_size(_message(body)) + 200  # room for the "and N more" line
    for index, facts in enumerate(items):
        title: dict[str, Any] = {"type": "TextRun", "text": cut(facts.title, 200), "weight": "Bolder"}
        if facts.link and len(facts.link) <= 1000:
            title["selectAction"] = {"type": "Action.OpenUrl", "url": facts.link}
        rest = {"type": "TextRun", "text": f" · {cut(facts.source, 60)} · {facts.score:.1f}"}
        block = {"type": "RichTextBlock", "inlines": [title, rest], "spacing": "Small"}
        grown = len(json.dumps(block, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1
        if used + grown > SIZE_BUDGET:
            body.append(_runs([(f"…and {len(items) - index} more", False)]))
            break
        body.append(block)
        used += grown
    return _message(body)
