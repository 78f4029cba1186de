"""Discord and Microsoft Teams: payload shape, escaping, size limits, their errors; digests and notices everywhere."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from monitor.alerts import DeliveryReport, deliver_due, send_sample
from monitor.alerts.discord import discord_url, escape_markdown, render_discord
from monitor.alerts.events import build_digest, build_notice, sample_event
from monitor.alerts.slack import render_slack
from monitor.alerts.teams import SIZE_LIMIT, body_size, render_teams
from monitor.alerts.webhook import render_webhook
from monitor.config import DestinationSpec
from monitor.models import Hit, RuleMatch
from monitor.store import Store
from monitor.store.destinations import paused_destinations
from tests.receivers import Receiver, Reply
from tests.test_alerts_render import INJECTION, assert_within_limits, make_event
from tests.test_delivery import T0, queue, row


def embeds_length(message: dict[str, Any]) -> int:
    """The characters Discord counts against its 6,000 limit across a message's embeds."""
    total = 0
    for embed in message.get("embeds") or []:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len((embed.get("footer") or {}).get("text", "")) + len((embed.get("author") or {}).get("name", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields") or [])
    return total


HUNDRED = tuple(
    RuleMatch(f"rule-{i}", 1.0 + i, tuple(Hit(f"rule-{i}", f"term<{j}>&[x](y)", "body", j + 1,
                                                "&<>" * 300 + " **NATO** " + "[a](https://evil.test)" * 50)
                                            for j in range(3)))
    for i in range(100)
)  # fmt: skip
OVERSIZE_TITLES = ("A" * 5000, "&" * 5000, "\U0001f4a5" * 5000, (INJECTION + " ") * 120)


def discord(receiver: Receiver) -> DestinationSpec:
    return DestinationSpec(name="chat", type="discord", url=receiver.url("/api/webhooks/123/D1SCORDSECRET?thread_id=9"))


def teams(receiver: Receiver) -> DestinationSpec:
    return DestinationSpec(name="office", type="teams", url=receiver.url("/workflows/T3AMSSECRET/triggers/manual"))


def assert_discord_limits(message: dict[str, Any]) -> None:
    assert len(message["content"]) <= 2000
    assert message["allowed_mentions"] == {"parse": []}
    assert len(message.get("embeds", [])) <= 10
    assert embeds_length(message) <= 6000
    for embed in message.get("embeds", []):
        assert len(embed.get("title", "")) <= 256 and len(embed.get("description", "")) <= 4096
        assert len(embed.get("fields", [])) <= 25
        for field in embed.get("fields", []):
            assert 1 <= len(field["name"]) <= 256 and 1 <= len(field["value"]) <= 1024


def discord_texts(message: dict[str, Any]) -> list[str]:
    found = [message["content"]]
    for embed in message.get("embeds", []):
        found += [embed.get("title", ""), embed.get("description", ""), embed.get("footer", {}).get("text", "")]
        found += [f["value"] for f in embed.get("fields", [])]
    return found


def teams_texts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every element of the card that shows text."""
    card = message["attachments"][0]["content"]
    return [inline for block in card["body"] for inline in block.get("inlines", [])]


# -- Discord ----------------------------------------------------------------------


def test_discord_message_shape_and_delivery(store: Store) -> None:
    with Receiver(Reply(200, '{"id": "1"}')) as receiver:
        destination = discord(receiver)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)
        [request] = receiver.requests
        assert request.path == "/api/webhooks/123/D1SCORDSECRET?thread_id=9&wait=true"
        message = json.loads(request.body)
        assert_discord_limits(message)
        [embed] = message["embeds"]
        assert embed["title"] == "NATO summit 0" and embed["url"] == "https://news.example/world/nato-0"
        assert embed["description"] == "leaders met at the **NATO** summit"
        assert [f["name"] for f in embed["fields"]] == ["Source", "Published", "Score", "Matched"]
        assert alert_id in embed["footer"]["text"]


def test_discord_escapes_markdown_and_mentions() -> None:
    hit = Hit("nato", "@everyone", "body", 1, f"see [Reuters](https://evil.test) **<@U2>** {INJECTION}")
    event = make_event(title=f"{INJECTION} [Reuters](https://evil.test) @everyone", source="@here",
                       matches=(RuleMatch("nato", 5.0, (hit,)),))  # fmt: skip
    message = render_discord(event)
    assert message["allowed_mentions"] == {"parse": []}
    for text in discord_texts(message):
        assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", text), text  # no live masked link
        assert not re.search(r"(?<!\\)@(everyone|here)", text), text
        assert not re.search(r"(?<!\\)<[@!#]", text), text
    assert escape_markdown("[a](b) *x* _y_ @e <@1>") == r"\[a\]\(b\) \*x\* \_y\_ \@e \<\@1\>"
    assert "**\\<\\@U2\\>**" in message["embeds"][0]["description"]  # the hit still bold, its text escaped


@pytest.mark.parametrize("title", OVERSIZE_TITLES, ids=["ascii", "ampersands", "emoji", "injection"])
def test_discord_oversize_stays_within_limits(title: str) -> None:
    message = render_discord(make_event(title=title, source="@" * 3000, matches=HUNDRED, text="x" * 5000))
    assert_discord_limits(message)
    assert message["embeds"][0]["title"].endswith("…")


def test_discord_url_keeps_its_query_and_sets_wait() -> None:
    assert discord_url("https://discord.com/api/webhooks/1/abc") == "https://discord.com/api/webhooks/1/abc?wait=true"
    assert discord_url("https://d.test/w?wait=false&thread_id=3") == "https://d.test/w?thread_id=3&wait=true"


def test_discord_429_retry_after_in_the_body_is_honoured(store: Store) -> None:
    limited = Reply(429, '{"message": "You are being rate limited.", "retry_after": 42.5, "global": false}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
    with Receiver(limited) as receiver:
        destination = discord(receiver)
        [alert_id] = queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(failed=1)
        assert row(store, alert_id)["next_attempt_at"] == "2026-03-01T12:00:43+00:00"
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=42)) == DeliveryReport()
        assert deliver_due(store, [destination], now=T0 + timedelta(seconds=43)) == DeliveryReport(sent=1)


def test_discord_unknown_webhook_pauses_it(store: Store) -> None:
    with Receiver(default=Reply(404, '{"message": "Unknown Webhook", "code": 10015}')) as receiver:
        destination = discord(receiver)
        queue(store, [destination], count=2)
        report = deliver_due(store, [destination], now=T0 + timedelta(minutes=1), sleep=lambda s: None)
        assert report == DeliveryReport(dead=1, skipped=1, paused=1)
        assert "Unknown Webhook" in paused_destinations(store)["chat"]["paused_reason"]
        assert "D1SCORDSECRET" not in json.dumps(paused_destinations(store))


# -- Teams ------------------------------------------------------------------------


def test_teams_adaptive_card_shape_and_delivery(store: Store) -> None:
    with Receiver(Reply(202, "")) as receiver:  # Workflows answers 202 Accepted
        destination = teams(receiver)
        queue(store, [destination])
        assert deliver_due(store, [destination], now=T0) == DeliveryReport(sent=1)
        message = json.loads(receiver.requests[0].body)
        assert message["type"] == "message"
        [attachment] = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Read the article",
                                    "url": "https://news.example/world/nato-0"}]  # fmt: skip
        shown = "".join(i["text"] for i in teams_texts(message))
        assert "NATO summit 0" in shown and "NATO" in shown and "example" in shown


def test_teams_scraped_text_is_never_markdown() -> None:
    event = make_event(title="[Reuters](https://evil.test) **bold** <at>everyone</at>")
    card = render_teams(event)["attachments"][0]["content"]
    # Only RichTextBlocks of TextRuns, which Adaptive Cards never parse as markdown; no TextBlock at all.
    assert {block["type"] for block in card["body"]} == {"RichTextBlock"}
    assert all(inline["type"] == "TextRun" for inline in teams_texts(render_teams(event)))
    assert card["body"][0]["inlines"][0]["text"] == "[Reuters](https://evil.test) **bold** <at>everyone</at>"


@pytest.mark.parametrize("title", OVERSIZE_TITLES, ids=["ascii", "ampersands", "emoji", "injection"])
def test_teams_oversize_stays_under_28_kb(title: str) -> None:
    message = render_teams(make_event(title=title, source="\U0001f4a5" * 3000, matches=HUNDRED, text="x" * 5000))
    assert body_size(message) <= SIZE_LIMIT
    assert teams_texts(message)[0]["text"].endswith("…")


# -- Digests and notices in every format --------------------------------------------


def digest_of(count: int, title: str = "NATO summit") -> dict[str, Any]:
    events = [make_event(title=f"{title} {i} " + "x" * 250, url=f"https://news.example/{i}") for i in range(count)]
    return build_digest("digest_1", "d", "2026-03-01T12:00:00+00:00", "2026-03-01T13:00:00+00:00", events,
                        "2026-03-01T13:00:05+00:00")  # fmt: skip


@pytest.mark.parametrize("count", [1, 40, 2000])
def test_digests_fit_every_format(count: int) -> None:
    event = digest_of(count, title=INJECTION)
    slack_message = render_slack(event)
    assert_within_limits(slack_message)
    assert "<!channel>" not in json.dumps(slack_message)
    discord_message = render_discord(event)
    assert_discord_limits(discord_message)
    assert body_size(render_teams(event)) <= SIZE_LIMIT
    if count == 2000:
        for text in (json.dumps(slack_message), json.dumps(discord_message), json.dumps(render_teams(event))):
            assert "more" in text
    assert json.loads(render_webhook(event))["count"] == count


def test_notices_render_everywhere() -> None:
    notice = build_notice("notice_1", "news<room>", reason="HTTP 410: <!channel> gone", status=410,
                          paused_at="2026-03-01T12:00:00+00:00", pending=7)  # fmt: skip
    slack_message = render_slack(notice)
    assert_within_limits(slack_message)
    assert "<!channel>" not in json.dumps(slack_message)
    assert "7 alert(s)" in slack_message["blocks"][1]["text"]["text"]
    assert_discord_limits(render_discord(notice))
    assert body_size(render_teams(notice)) <= SIZE_LIMIT


def test_the_sample_alert_renders_everywhere_and_says_it_is_a_test() -> None:
    event = sample_event("test_1", "2026-03-01T12:00:00+00:00")
    assert event["test"] is True and event["type"] == "article.matched"
    assert_within_limits(render_slack(event))
    assert render_discord(event)["content"].startswith("Test alert")
    assert teams_texts(render_teams(event))[0]["text"].startswith("Test alert")


@pytest.mark.parametrize("kind", ["slack", "webhook", "discord", "teams"])
def test_send_sample_reports_the_answer_without_the_url(kind: str) -> None:
    with Receiver(Reply(200, "ok"), Reply(404, "no_service")) as receiver:
        destination = replace(discord(receiver), type=kind, name=kind)
        assert send_sample(destination).delivered
        failed = send_sample(destination)
        assert (failed.delivered, failed.status, failed.permanent) == (False, 404, True)
        assert "D1SCORDSECRET" not in (failed.error or "")
        assert json.loads(receiver.requests[0].body)
