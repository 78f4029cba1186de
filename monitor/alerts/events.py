"""The alert event: one documented, versioned JSON object per alert, the outbox row's payload.

Destination formats (Slack blocks, the signed webhook body) are rendered from it at
send time, so a payload written by an older version can still be delivered.
"""

from __future__ import annotations

from typing import Any

from monitor.models import Article, Verdict

EVENT_TYPE = "article.matched"
EVENT_VERSION = 1
EXCERPT_CHARS = 400


def build_event(alert_id: str, article: Article, article_id: int, verdict: Verdict, created_at: str) -> dict[str, Any]:
    """The version-1 alert event for ``article`` (see README, "Webhook payload")."""
    excerpt = " ".join(article.text.split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    return {
        "type": EVENT_TYPE,
        "version": EVENT_VERSION,
        "id": alert_id,
        "created_at": created_at,
        "score": verdict.score,
        "threshold": verdict.threshold,
        "rules": [match.to_dict() for match in verdict.matches],
        "article": {
            "id": article_id,
            "url": article.canonical_url,
            "fetched_url": article.url,
            "title": article.title,
            "source": article.source,
            "published": article.published.isoformat() if article.published else None,
            "authors": list(article.authors),
            "language": article.language,
            "excerpt": excerpt,
        },
    }
