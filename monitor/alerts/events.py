"""The events the outbox carries: one documented, versioned JSON object per message, the row's payload.

Three types, all version 1: ``article.matched`` (an article reached the threshold),
``alerts.digest`` (several of those, sent as one message) and ``destination.paused``
(an operator notice: a destination stopped accepting alerts). Destination formats
(Slack blocks, Discord, Teams cards, the signed webhook body) are rendered from the
event at send time, so a payload written by an older version can still be delivered.
Within version 1 fields are only ever added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.models import Article, Hit, RuleMatch, Verdict

EVENT_TYPE = "article.matched"
DIGEST_TYPE = "alerts.digest"
NOTICE_TYPE = "destination.paused"
SOURCE_HEALTH_TYPE = "source.health"
NOTICE_TYPES = (NOTICE_TYPE, SOURCE_HEALTH_TYPE)  # operator notices: rendered as a headline and lines
EVENT_VERSION = 1
EXCERPT_CHARS = 400


def _envelope(event_type: str, event_id: str, created_at: str) -> dict[str, Any]:
    """The fields every event starts with: its type, version, id and when it was made."""
    return {"type": event_type, "version": EVENT_VERSION, "id": event_id, "created_at": created_at}


def build_event(alert_id: str, article: Article, article_id: int, verdict: Verdict, created_at: str) -> dict[str, Any]:
    """The version-1 ``article.matched`` event for ``article`` (see README, "Webhook payload")."""
    excerpt = " ".join(article.text.split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    published = article.published.isoformat() if article.published else None
    return {
        **_envelope(EVENT_TYPE, alert_id, created_at),
        "score": verdict.score,
        "threshold": verdict.threshold,
        "rules": [match.to_dict() for match in verdict.matches],
        "article": {
            "id": article_id,
            "url": article.canonical_url,
            "fetched_url": article.url,
            "title": article.title,
            "source": article.source,
            "published": published,
            "updated": article.updated.isoformat() if article.updated else None,
            "authors": list(article.authors),
            "organisations": list(article.organisations),
            "language": article.language,
            "excerpt": excerpt,
            "text_missing": article.text_missing,
        },
        # One story per article for now: the same wire story across outlets is grouped later, and
        # then only ``outlets`` grows. ``key`` is the outbox's story key.
        "story": {
            "key": article.canonical_url,
            "outlets": [
                {"source": article.source, "url": article.canonical_url, "title": article.title, "published": published}
            ],
        },
    }


def build_digest(
    digest_id: str,
    destination: str,
    window_start: str,
    window_end: str,
    events: Sequence[dict[str, Any]],
    created_at: str,
) -> dict[str, Any]:
    """The version-1 ``alerts.digest`` event: the ``article.matched`` events of one window, oldest first."""
    return {
        **_envelope(DIGEST_TYPE, digest_id, created_at),
        "destination": destination,
        "window": {"start": window_start, "end": window_end},
        "count": len(events),
        "alerts": list(events),
    }


def build_notice(
    notice_id: str,
    destination: str,
    *,
    reason: str,
    status: int | None,
    paused_at: str,
    pending: int,
) -> dict[str, Any]:
    """The version-1 ``destination.paused`` notice, sent once to the other destinations."""
    return {
        **_envelope(NOTICE_TYPE, notice_id, paused_at),
        "destination": destination,
        "reason": reason,
        "status": status,
        "paused_at": paused_at,
        "pending": pending,
        "resume": f"monitor alerts resume {destination}",
    }


def sample_event(alert_id: str, created_at: str) -> dict[str, Any]:
    """A realistic ``article.matched`` event marked ``"test": true``, for ``monitor alerts test``."""
    article = Article(
        url="https://example.org/world/monitor-test-alert?utm_source=monitor",
        canonical_url="https://example.org/world/monitor-test-alert",
        title="Test alert from monitor: NATO and EU discuss new sanctions",
        text="This is a test alert sent by `monitor alerts test`. NATO and EU officials discussed new sanctions.",
        source="monitor-test",
        authors=["monitor"],
        language="en",
    )
    hits = (
        Hit("nato", "NATO", "title", 1, "Test alert from monitor: **NATO** and EU discuss new sanctions"),
        Hit("sanctions", "sanctions", "body", 1, "officials discussed new **sanctions**"),
    )
    matches = (RuleMatch("nato", 3.0, hits[:1]), RuleMatch("sanctions", 1.0, hits[1:]))
    event = build_event(alert_id, article, 0, Verdict(4.0, 3.0, matches), created_at)
    event["test"] = True
    return event


def build_source_notice(notice_id: str, source: str, *, health: str, reason: str, since: str) -> dict[str, Any]:
    """The version-1 ``source.health`` notice: a source started failing, went quiet, or recovered."""
    return {
        **_envelope(SOURCE_HEALTH_TYPE, notice_id, since),
        "source": source,
        "health": health,
        "reason": reason,
        "since": since,
    }
