"""Rendering alerts: Slack escaping and limits, the signed webhook, URL redaction."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts import SignatureError, build_event, redact_url, verify
from monitor.alerts.redact import REDACTED, scrub, sensitive_parts
from monitor.alerts.slack import fit, render_slack, safe_link, snippet_mrkdwn
from monitor.alerts.webhook import render_webhook, sign, webhook_headers
from monitor.models import Article, Hit, RuleMatch, Verdict

INJECTION = "<!channel> <https://evil.test|Reuters> & <@U1>"
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def make_event(
    title: str = "NATO leaders meet",
    url: str = "https://news.example/world/nato-summit",
    source: str = "example",
    matches: tuple[RuleMatch, ...] | None = None,
    text: str = "Leaders met at the NATO summit in Vilnius.",
) -> dict[str, Any]:
    """A version-1 event built the way the store builds it."""
    article = Article(
        url=url, canonical_url=url, title=title, text=text, source=source,
        published=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    if matches is None:
        hit = Hit("nato", "nato", "body", 2, "leaders met at the **NATO** summit")
        matches = (RuleMatch("nato", 5.0, (hit,)),)
    verdict = Verdict(score=sum(m.score for m in matches), threshold=3.0, matches=matches)
    return build_event("alert_test", article, 1, verdict, "2026-03-01T12:00:00+00:00")


def texts(message: dict[str, Any]) -> list[str]:
    """Every text Slack will show from ``message`` (the fallback, each block's), without our "> " quote markup."""
    found = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"].removeprefix("> "))
        found.extend(f["text"] for f in block.get("fields", []))
        found.extend(e["text"]["text"] for e in block.get("elements", []))
    return found


def assert_within_limits(message: dict[str, Any]) -> None:
    """Slack's documented limits, for every block kind render_slack uses."""
    assert 1 <= len(message["text"]) <= 40_000
    assert 1 <= len(message["blocks"]) <= 50
    for block in message["blocks"]:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            for item in block.get("fields", []):
                assert 1 <= len(item["text"]) <= 2000
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert 1 <= len(element["text"]) <= 3000
        elif kind == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["url"]) <= 3000
        else:
            raise AssertionError(f"unexpected block {kind}")


def unescaped_ampersands(text: str) -> list[str]:
    return re.findall(r"&(?!amp;|lt;|gt;)", text)


# -- Slack --------------------------------------------------------------------------


def test_slack_message_shape() -> None:
    message = render_slack(make_event())
    assert message["unfurl_links"] is False
    assert message["unfurl_media"] is False
    header, facts, rules, snippet, actions = message["blocks"]
    assert header["text"]["text"] == "NATO leaders meet"
    assert [f["text"] for f in facts["fields"]] == [
        "*Source*\nexample", "*Published*\n2026-03-01 09:30 UTC", "*Score*\n5.0 (threshold 3)",
    ]  # fmt: skip
    assert rules["text"]["text"] == "*Matched*\n• *nato* (5.0): nato"
    assert snippet["text"]["text"] == "> leaders met at the *NATO* summit"
    [button] = actions["elements"]
    assert button["url"] == "https://news.example/world/nato-summit"
    assert button["text"]["text"] == "Read the article"
    assert_within_limits(message)


def test_slack_escapes_every_scraped_string() -> None:
    hit = Hit("nato", "<@U2>", "body", 1, f"before {INJECTION} **<!here>** after & more")
    event = make_event(
        title=INJECTION, source="<!everyone> & co", matches=(RuleMatch("nato", 5.0, (hit,)),), text=INJECTION
    )
    message = render_slack(event)
    dumped = json.dumps(message, ensure_ascii=False)
    for raw in ("<!channel>", "<@U1>", "<@U2>", "<https://evil", "<!here>", "<!everyone>", "|Reuters>"):
        assert raw not in dumped
    escaped = "&lt;!channel&gt; &lt;https://evil.test|Reuters&gt; &amp; &lt;@U1&gt;"
    assert message["blocks"][0]["text"]["text"] == escaped
    assert message["text"].startswith(escaped)
    assert "*&lt;!here&gt;*" in dumped  # the hit still bold, its text escaped
    for text in texts(message):
        assert "<" not in text and ">" not in text
        assert unescaped_ampersands(text) == []


def test_slack_oversize_title_and_hundred_matches_stay_within_limits() -> None:
    long_snippet = "&<>" * 200 + " **NATO** " + "<&>" * 200
    matches = tuple(
        RuleMatch(f"rule-{i}", 1.0 + i, tuple(Hit(f"rule-{i}", f"term<{j}>&", "body", j + 1, long_snippet)
                                             for j in range(3)))
        for i in range(100)
    )  # fmt: skip
    for title in ("A" * 5000, "&" * 5000, ("<!channel> & " * 500)[:5000]):
        message = render_slack(make_event(title=title, source="&" * 3000, matches=matches, text="x" * 5000))
        assert_within_limits(message)
        assert message["blocks"][0]["text"]["text"].endswith("…")
        assert "more" in message["blocks"][2]["text"]["text"]  # the rules that did not fit are counted
        for text in texts(message):
            assert unescaped_ampersands(text) == []
            assert "<" not in text and ">" not in text


def test_slack_hundred_hits_in_one_rule() -> None:
    hits = tuple(Hit("nato", f"term{i}" * 20, "body", i, "x **y** z" * 100) for i in range(100))
    message = render_slack(make_event(matches=(RuleMatch("nato", 9.0, hits),)))
    assert_within_limits(message)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://news.example/a",
        "https://evil.test/<b>",
        "https://news.example/a|Reuters",
        "https://reuters.com@evil.test/",
        "https://news.example/a b",
        "http://",
        "https:///path-only",
        "https://news.example:99999/",
        "https://news.example/" + "a" * 3000,
        "news.example/a",
        "",
    ],
)
def test_invalid_article_url_gives_no_link(url: str) -> None:
    message = render_slack(make_event(url=url))
    assert [b for b in message["blocks"] if b["type"] == "actions"] == []
    assert "Read the article" not in json.dumps(message)
    assert_within_limits(message)


def test_valid_url_kept_as_is_in_the_button() -> None:
    url = "https://news.example/a?x=1&y=%C3%A9#top"
    assert safe_link(url) == url
    [actions] = [b for b in render_slack(make_event(url=url))["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == url


def test_snippet_markers_become_bold_after_escaping() -> None:
    assert snippet_mrkdwn("a & **b<c>** d", 100) == "a &amp; *b&lt;c&gt;* d"
    assert snippet_mrkdwn("no marker <here>", 100) == "no marker &lt;here&gt;"
    cut = snippet_mrkdwn("x" * 50 + " **hit** " + "y" * 50, 40)
    assert len(cut) <= 40 and cut.endswith("…")


@given(st.text(alphabet="&<>ab ", max_size=300), st.integers(min_value=2, max_value=200))
def test_fit_never_exceeds_its_limit_once_escaped(text: str, limit: int) -> None:
    result = fit(text, limit)
    assert len(result) <= limit
    assert "<" not in result and ">" not in result
    assert unescaped_ampersands(result) == []


def test_missing_fields_still_render() -> None:
    message = render_slack({"type": "article.matched", "version": 1, "id": "x"})
    assert_within_limits(message)
    assert message["blocks"][0]["text"]["text"] == "(untitled)"


# -- Webhook ------------------------------------------------------------------------


def test_standard_webhooks_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
               "webhook-signature": VECTOR_SIGNATURE}  # fmt: skip
    verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body"),
    [
        ("msg_p5jXN8AQM9LWM0D4loKWxJeK", VECTOR_TIMESTAMP, VECTOR_BODY),
        (VECTOR_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY),
        (VECTOR_ID, VECTOR_TIMESTAMP, b'{"test": 2432232315}'),
        (VECTOR_ID, VECTOR_TIMESTAMP, b'{"test":2432232314}'),
    ],
)
def test_tampered_messages_fail_verification(msg_id: str, timestamp: int, body: bytes) -> None:
    headers = {"Webhook-Id": msg_id, "Webhook-Timestamp": str(timestamp), "Webhook-Signature": VECTOR_SIGNATURE}
    with pytest.raises(SignatureError):
        verify(VECTOR_SECRET, headers, body, now=timestamp)


def test_verify_timestamp_tolerance() -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
               "webhook-signature": VECTOR_SIGNATURE}  # fmt: skip
    verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + 300)
    verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP - 300)
    for now in (VECTOR_TIMESTAMP + 301, VECTOR_TIMESTAMP - 301):
        with pytest.raises(SignatureError, match="timestamp"):
            verify(VECTOR_SECRET, headers, VECTOR_BODY, now=now)
    verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + 3000, tolerance=3600)


def test_verify_accepts_any_of_several_signatures() -> None:
    other = sign("whsec_" + "QUJD" * 8, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    base = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP)}
    verify(VECTOR_SECRET, {**base, "webhook-signature": f"{other} {VECTOR_SIGNATURE}"}, VECTOR_BODY,
           now=VECTOR_TIMESTAMP)  # fmt: skip
    for signatures in (other, "v2," + VECTOR_SIGNATURE[3:], VECTOR_SIGNATURE[3:], ""):
        with pytest.raises(SignatureError):
            verify(VECTOR_SECRET, {**base, "webhook-signature": signatures}, VECTOR_BODY, now=VECTOR_TIMESTAMP)
    with pytest.raises(SignatureError):
        verify(VECTOR_SECRET, {"webhook-signature": VECTOR_SIGNATURE}, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_render_webhook_is_the_event_as_compact_json() -> None:
    event = make_event(title="Ünïcode & <stuff>")
    body = render_webhook(event)
    assert json.loads(body) == event
    assert b": " not in body and b", " not in body.replace(b"met at", b"")
    assert "Ünïcode & <stuff>".encode() in body


def test_webhook_headers() -> None:
    body = b"{}"
    signed = webhook_headers("alert_1", body, VECTOR_SECRET, timestamp=1700000000)
    assert signed["webhook-id"] == "alert_1"
    assert signed["webhook-timestamp"] == "1700000000"
    assert signed["webhook-signature"] == sign(VECTOR_SECRET, "alert_1", 1700000000, body)
    assert signed["content-type"] == "application/json"
    assert signed["user-agent"].startswith("monitor")
    unsigned = webhook_headers("alert_1", body, None)
    assert "webhook-signature" not in unsigned
    assert abs(int(unsigned["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 5


def test_bad_secret_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError) as caught:
        sign("whsec_not*base64!", "id", 1, b"")
    assert "not*base64" not in str(caught.value)


# -- Redaction ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/…redacted"),
        ("http://user:pw@127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080/…redacted"),
        ("https://[::1]:9/x", "https://[::1]:9/…redacted"),
        ("not a url", REDACTED),
        ("", REDACTED),
        ("https://host:notaport/x", REDACTED),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_hides_url_path_query_and_secret() -> None:
    url = "https://hooks.example/services/T0SECRET?token=QSECRET"
    parts = sensitive_parts(url, VECTOR_SECRET)
    text = f"failed {url} then /services/T0SECRET?token=QSECRET and token=QSECRET with {VECTOR_SECRET[6:]}"
    cleaned = scrub(text, parts)
    for secret in ("T0SECRET", "QSECRET", VECTOR_SECRET[6:]):
        assert secret not in cleaned
    assert "https://hooks.example/…redacted" in cleaned
