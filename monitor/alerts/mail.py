"""The email of an event: a subject, a plain-text part and an HTML part saying the same.

An alert shows its headline, the outlet(s) that carried the story, when it was
published, its score, and why it matched (each rule with the words that hit, and
the sentence they hit in), then the links. A digest lists its window's stories the
same way, one after another, under two charts of its stories (matches per rule per
day, the stories carried by the most outlets; PNG images inside the message, since
mail clients show no SVG and fetch nothing); an operator notice is its headline and lines. The
plain part is also what an Apprise destination gets. In the HTML part every string
from the event is escaped (a scraped headline is text, never markup) and the only
links are validated http(s) URLs. The ``Message-ID`` is the outbox id's, so a
re-send after a crash is recognisably the same message.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from monitor.alerts.events import DIGEST_TYPE, NOTICE_TYPES
from monitor.alerts.facts import (
    AlertFacts,
    alert_facts,
    digest_items,
    mapping,
    notice_lines,
    published,
    safe_link,
    split_hits,
    text,
    window_text,
)
from monitor.charts import CHARTS, ChartData, RuleDay, StoryReach, render_png
from monitor.timestamps import utcnow

SUBJECT_PREFIX = "[monitor]"
SUBJECT_CHARS = 200  # of the headline in a subject line
TITLE_CHARS = 500  # of a headline anywhere else
SNIPPET_CHARS = 1000
MAX_OUTLETS = 20  # listed per story
MAX_DIGEST_STORIES = 500  # a digest lists at most this many; the rest are counted
ELLIPSIS = "…"
# Headers folded only past SMTP's own limit: Python moves a subject a little over 78 characters whole
# onto a continuation line, and some clients then show it with a leading space.
_POLICY = policy.SMTP.clone(max_line_length=998)
_STYLE = "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45;color:#1a1a1a"


@dataclass(frozen=True)
class Outlet:
    """One outlet that carried a story: its source, link (validated, or None) and publication time."""

    source: str
    link: str | None
    published: str


DIGEST_CHARTS = ("matches-per-rule-per-day", "stories-by-outlets")  # what a digest's own alerts can show
MAX_CHART_DAYS = 62


@dataclass(frozen=True)
class MailText:
    """What a message says, as a subject line, plain text and an HTML document (and its charts, by content id)."""

    subject: str
    plain: str
    html: str
    images: tuple[tuple[str, bytes], ...] = field(default=())  # (content id without <>, PNG)


def cut(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, with an ellipsis when cut."""
    return value if len(value) <= limit else value[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def esc(value: str) -> str:
    """``value`` as HTML text or attribute content."""
    return html.escape(value, quote=True)


def outlets(event: dict[str, Any], facts: AlertFacts) -> list[Outlet]:
    """The outlets of the story (``story.outlets``), or just the article's when the event lists none."""
    found = [
        Outlet(text(item.get("source")) or "unknown", safe_link(item.get("url")), published(item.get("published")))
        for item in mapping(event.get("story")).get("outlets") or []
        if isinstance(item, dict)
    ]
    return found or [Outlet(facts.source, facts.link, facts.published)]


def mail_text(event: dict[str, Any]) -> MailText:
    """The subject, plain text and HTML of a version-1 event of any type."""
    if event.get("type") == DIGEST_TYPE:
        return _digest(event)
    if event.get("type") in NOTICE_TYPES:
        headline, lines = notice_lines(event)
        body = "".join(f"<p>{esc(line)}</p>" for line in lines)
        return MailText(
            f"{SUBJECT_PREFIX} {cut(headline, SUBJECT_CHARS)}",
            headline + "\n\n" + "\n".join(lines) + "\n",
            _document(headline, f"<h2>{esc(headline)}</h2>{body}"),
        )
    return _alert(event)


def _alert(event: dict[str, Any]) -> MailText:
    facts = alert_facts(event)
    found = outlets(event, facts)
    prefix = f"{SUBJECT_PREFIX} test:" if facts.test else SUBJECT_PREFIX
    plain = "\n".join(_story_plain(facts, found)) + "\n"
    body = _story_html(facts, found, heading="h2")
    if facts.test:
        note = "This is a test alert sent by `monitor alerts test`."
        plain = note + "\n\n" + plain
        body = f"<p><em>{esc(note)}</em></p>" + body
    return MailText(f"{prefix} {cut(facts.title, SUBJECT_CHARS)}", plain, _document(facts.title, body))


def _digest(event: dict[str, Any]) -> MailText:
    items = digest_items(event)
    stories = [mapping(item) for item in event.get("alerts") or [] if isinstance(item, dict)]
    count = len(items)
    headline = f"{count} matching stor{'y' if count == 1 else 'ies'}"
    window = window_text(event)
    plain: list[str] = [f"{headline}, {window}", ""]
    parts: list[str] = [f'<h2>{esc(headline)}</h2><p style="color:#555">{esc("Digest, " + window)}</p>']
    for index, (facts, story) in enumerate(zip(items, stories, strict=True)):
        if index == MAX_DIGEST_STORIES:
            more = f"…and {count - index} more"
            plain.append(more)
            parts.append(f"<p>{esc(more)}</p>")
            break
        found = outlets(story, facts)
        plain.extend(f"{'  ' if n else f'{index + 1}. '}{line}" for n, line in enumerate(_story_plain(facts, found)))
        plain.append("")
        parts.append("<hr>" + _story_html(facts, found, heading="h3"))
    subject = f"{SUBJECT_PREFIX} {headline}, {window}"
    images = _digest_charts(event) if items else ()
    titles = {kind.name: kind.title for kind in CHARTS}
    figures = "".join(
        f'<p><img src="cid:{cid}" alt="{esc(titles[name])}" width="640" style="max-width:100%;height:auto"></p>'
        for name, (cid, _) in zip(DIGEST_CHARTS, images, strict=False)
    )
    parts.insert(1, figures)
    return MailText(subject, "\n".join(plain).rstrip() + "\n", _document(headline, "".join(parts)), images)


def digest_chart_data(event: dict[str, Any]) -> ChartData:
    """What a digest's charts draw: its alerts' rules per day (published, else the window's start), their reach."""
    window = mapping(event.get("window"))
    start, end = _day(window.get("start")), _day(window.get("end"), before=True)
    per_day: Counter[tuple[str, str]] = Counter()
    stories = []
    for item in event.get("alerts") or []:
        if not isinstance(item, dict):
            continue
        facts = alert_facts(item)
        day = _day(mapping(item.get("article")).get("published")) or start or ""
        per_day.update((day, rule.rule) for rule in facts.rules)
        found = outlets(item, facts)
        sources = ", ".join(sorted({outlet.source for outlet in found if outlet.source}))
        stories.append(StoryReach(cut(facts.title, TITLE_CHARS), len(found), sources))
    return ChartData(
        days=_days(start, end),
        rule_days=tuple(RuleDay(day, rule, count) for (day, rule), count in sorted(per_day.items()) if day),
        stories=tuple(stories),
    )


def _digest_charts(event: dict[str, Any]) -> tuple[tuple[str, bytes], ...]:
    data = digest_chart_data(event)
    return tuple((f"{name}@monitor.invalid", render_png(name, data)) for name in DIGEST_CHARTS)


def _day(value: object, *, before: bool = False) -> str | None:
    """The UTC day of an ISO time (``before``: of the instant just before it, for a window's open end)."""
    try:
        moment = datetime.fromisoformat(text(value))
    except ValueError:
        return None
    if moment.utcoffset() is not None:
        moment = moment.astimezone(UTC)
    return (moment - timedelta(microseconds=1 if before else 0)).date().isoformat()


def _days(start: str | None, end: str | None) -> tuple[str, ...]:
    """Every day from ``start`` to ``end`` (a window of a day or less is one day); none if either is unknown."""
    if start is None or end is None:
        return ()
    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    count = min(MAX_CHART_DAYS, (last - first).days + 1)
    return tuple((first + timedelta(days=n)).date().isoformat() for n in range(max(1, count)))


def _story_plain(facts: AlertFacts, found: Sequence[Outlet]) -> list[str]:
    """One story as plain lines: headline, outlets, time, score, why, the sentence, the links."""
    names = ", ".join(outlet.source for outlet in found[:MAX_OUTLETS])
    if len(found) > MAX_OUTLETS:
        names += f" and {len(found) - MAX_OUTLETS} more"
    lines = [
        cut(facts.title, TITLE_CHARS),
        f"{'Outlets' if len(found) > 1 else 'Outlet'}: {names}",
        f"Published: {facts.published}",
        f"Score: {facts.score:.1f} (threshold {facts.threshold:g})",
        "Why it matched:",
    ]
    lines.extend(f"  - {rule.rule} ({rule.score:.1f}): {', '.join(rule.terms) or 'no words'}" for rule in facts.rules)
    if not facts.rules:
        lines.append("  (no rules)")
    if facts.snippet:
        sentence = "".join(f"*{piece.strip()}*" if hit else piece for piece, hit in split_hits(facts.snippet))
        lines.append(f'  "{cut(sentence, SNIPPET_CHARS)}"')
    links = [outlet for outlet in found[:MAX_OUTLETS] if outlet.link]
    if facts.link and all(outlet.link != facts.link for outlet in links):
        lines.append(f"Read: {facts.link}")
    lines.extend(f"Read at {outlet.source}: {outlet.link}" for outlet in links)
    return lines


def _story_html(facts: AlertFacts, found: Sequence[Outlet], *, heading: str) -> str:
    """One story as HTML: every string escaped, links only from validated URLs."""
    title = esc(cut(facts.title, TITLE_CHARS))
    headline = f'<a href="{esc(facts.link)}">{title}</a>' if facts.link else title
    shown = [_outlet_html(outlet) for outlet in found[:MAX_OUTLETS]]
    if len(found) > MAX_OUTLETS:
        shown.append(esc(f"and {len(found) - MAX_OUTLETS} more"))
    rules = "".join(
        f"<li><strong>{esc(rule.rule)}</strong> ({rule.score:.1f}): {esc(', '.join(rule.terms) or 'no words')}</li>"
        for rule in facts.rules
    )
    parts = [
        f"<{heading}>{headline}</{heading}>",
        f"<p><b>{'Outlets' if len(found) > 1 else 'Outlet'}:</b> {', '.join(shown)}<br>",
        f"<b>Published:</b> {esc(facts.published)}<br>",
        f"<b>Score:</b> {facts.score:.1f} (threshold {facts.threshold:g})</p>",
        f"<p><b>Why it matched:</b></p><ul>{rules or '<li>(no rules)</li>'}</ul>",
    ]
    if facts.snippet:
        parts.append(f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:10px">'
                     f"{_snippet_html(facts.snippet)}</blockquote>")  # fmt: skip
    return "".join(parts)


def _outlet_html(outlet: Outlet) -> str:
    name = esc(outlet.source)
    return f'<a href="{esc(outlet.link)}">{name}</a>' if outlet.link else name


def _snippet_html(snippet: str) -> str:
    """The sentence the words hit in, escaped, each hit in bold, cut to ``SNIPPET_CHARS``."""
    out: list[str] = []
    used = 0
    for piece, hit in split_hits(snippet):
        room = SNIPPET_CHARS - used
        if room <= 0:
            break
        shown = cut(piece, room)
        used += len(shown)
        out.append(f"<strong>{esc(shown.strip())}</strong>" if hit else esc(shown))
    return "".join(out)


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{esc(cut(title, SUBJECT_CHARS))}</title></head>"
        f'<body style="{_STYLE}">{body}'
        '<p style="color:#777;font-size:12px">Sent by monitor.</p></body></html>'
    )


def message_id_header(outbox_id: str, sender: str) -> str:
    """The ``Message-ID`` of outbox message ``outbox_id``: the same on every attempt, ``<id@sender's domain>``."""
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    if not domain or not domain.isascii() or any(char in domain for char in "<>()[]\\,;: \t\"'"):
        domain = "monitor.invalid"
    return f"<{outbox_id}@{domain}>"


def build_message(
    event: dict[str, Any],
    outbox_id: str,
    *,
    sender: str,
    to: Sequence[str],
    reply_to: Sequence[str] = (),
    now: datetime | None = None,
) -> EmailMessage:
    """The multipart (plain and HTML) email of ``event``, ready to send."""
    content = mail_text(event)
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = content.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if reply_to:
        message["Reply-To"] = ", ".join(reply_to)
    message["Date"] = format_datetime(now or utcnow())
    message["Message-ID"] = message_id_header(outbox_id, sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to it
    message["X-Monitor-Id"] = outbox_id
    message.set_content(content.plain)
    message.add_alternative(content.html, subtype="html")
    if content.images:
        html_part = message.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        for cid, png in content.images:
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline")
    return message
