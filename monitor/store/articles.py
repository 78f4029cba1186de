"""Articles, their matches and vetoes, and the alerts they owe: one transaction per article.

The outbox payload is built by the caller (``monitor.ingest``) and handed in; the
store only fills in the ids it assigns (the alert's, the article's) and the story.
So is the article's ``Fingerprint`` (content hash, story signature), computed where
the article was extracted: the store compares and stores it, and never computes one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.config import DestinationSpec
from monitor.models import Article, Hit, Verdict
from monitor.store.connection import Store
from monitor.store.stories import EARLIEST_FIRST, StoryAssignment, assign_story, story_outlets
from monitor.timestamps import iso, utcnow

if TYPE_CHECKING:
    from monitor.extract import Fingerprint


@dataclass(frozen=True)
class SaveOutcome:
    """What saving one article changed."""

    article_id: int
    status: str  # "new", "updated" or "unchanged"
    matches: int
    alerts_queued: int
    story_id: int = 0
    new_story: bool = False


def last_seen(store: Store, urls: Sequence[str]) -> dict[str, datetime]:
    """When each of ``urls`` that is stored (as a fetched or canonical URL) was last fetched."""
    seen: dict[str, datetime] = {}
    wanted = set(urls)
    for start in range(0, len(urls), 400):
        chunk = list(urls[start : start + 400])
        marks = ",".join("?" * len(chunk))
        for row in store.conn.execute(
            f"SELECT url, fetched_url, last_seen FROM articles WHERE url IN ({marks}) OR fetched_url IN ({marks})",
            (*chunk, *chunk),
        ):
            moment = datetime.fromisoformat(row["last_seen"])
            for url in (row["url"], row["fetched_url"]):
                if url in wanted:
                    seen[url] = max(moment, seen.get(url, moment))
    return seen


def alert_key(story_key: str, destination: str) -> str:
    """The outbox key of a story's alert at one destination: one alert per story per destination, ever.

    A story's key is the canonical URL of the article that started it, so an article
    that no other outlet carries keeps the key it always had.
    """
    return f"story:{story_key}|destination:{destination}"


def alert_id(key: str) -> str:
    """The stable id of an alert: the same key always gives the same id, across retries and re-crawls."""
    return "alert_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:26]


def write_article(
    store: Store,
    article: Article,
    verdict: Verdict,
    destinations: Sequence[DestinationSpec],
    payload: Mapping[str, Any],
    fingerprint: Fingerprint,
    now: datetime | None = None,
) -> SaveOutcome:
    """Store an article, its matches and (if it alerts) one outbox row per destination, atomically.

    An article is identified by its canonical URL. Seen again unchanged (the same
    content hash), only its ``last_seen`` moves. Changed, it is rescored; but the
    alert key is the article and the destination, so it never alerts twice at the
    same place. ``payload`` is the alert event the caller built; each outbox row gets
    a copy with its alert id, the article's id and the story filled in.
    ``fingerprint`` is the article's (``monitor.extract.fingerprint_of``).
    """
    moment = iso(now or utcnow())
    with store.write() as conn:
        row = conn.execute("SELECT id, content_hash FROM articles WHERE url = ?", (article.canonical_url,)).fetchone()
        if row is not None and row["content_hash"] == fingerprint.content_hash:
            conn.execute("UPDATE articles SET last_seen = ? WHERE id = ?", (moment, row["id"]))
            return SaveOutcome(int(row["id"]), "unchanged", 0, 0)
        values = (
            article.url,
            article.source,
            article.title,
            article.text,
            iso(article.published),
            json.dumps(article.authors, ensure_ascii=False),
            article.language,
            fingerprint.content_hash,
            verdict.score,
            article.published_from,
            iso(article.updated),
            json.dumps(article.organisations, ensure_ascii=False),
            article.text_missing,
        )
        story: StoryAssignment | None = None
        if row is None:
            cursor = conn.execute(
                "INSERT INTO articles (fetched_url, source, title, text, published, authors, language, content_hash,"
                " score, published_from, updated, organisations, text_missing, url, first_seen, last_seen, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, article.canonical_url, moment, moment, moment),
            )
            article_id, status = int(cursor.lastrowid or 0), "new"
            story = assign_story(conn, article_id, article, fingerprint, moment or "")
        else:
            article_id, status = int(row["id"]), "updated"
            conn.execute(
                "UPDATE articles SET fetched_url = ?, source = ?, title = ?, text = ?, published = ?, authors = ?,"
                " language = ?, content_hash = ?, score = ?, published_from = ?, updated = ?, organisations = ?,"
                " text_missing = ?, last_seen = ?, updated_at = ?"
                " WHERE id = ?",
                (*values, moment, moment, article_id),
            )
        conn.execute("DELETE FROM matches WHERE article_id = ?", (article_id,))
        conn.execute("DELETE FROM vetoes WHERE article_id = ?", (article_id,))
        for match in verdict.matches:
            conn.execute(
                "INSERT INTO matches (article_id, rule, score, hits, weight, gate, matched_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (article_id, match.rule, match.score, _hits_json(match.hits), match.weight, match.gate, moment),
            )
        for match in verdict.vetoed:
            conn.execute(
                "INSERT INTO vetoes (article_id, rule, score, hits, vetoed_by, matched_at) VALUES (?, ?, ?, ?, ?, ?)",
                (article_id, match.rule, match.score, _hits_json(match.hits), _hits_json(match.vetoed_by), moment),
            )
        if story is None:
            story_row = conn.execute(
                "SELECT s.id, s.key FROM stories s JOIN articles a ON a.story_id = s.id WHERE a.id = ?", (article_id,)
            ).fetchone()
            story = StoryAssignment(int(story_row[0]), str(story_row[1]), False)
        carried_by = story_outlets(conn, story.story_id)
        if not story.new_story:
            # Alerts not yet sent list the outlets as they appear; sent ones are never resent.
            conn.execute(
                "UPDATE alerts SET payload = json_set(payload, '$.story.outlets', json(?)) WHERE story_key = ?"
                " AND kind = 'alert' AND status IN ('pending', 'held')",
                (json.dumps(carried_by, ensure_ascii=False), story.story_key),
            )
        queued = 0
        owed = set(verdict.alert_destinations([d.name for d in destinations if d.enabled]))
        for destination in destinations:
            if destination.name not in owed:
                continue
            key = alert_key(story.story_key, destination.name)
            event = {
                **payload,
                "id": alert_id(key),
                "article": {**payload["article"], "id": article_id},
                "story": {"key": story.story_key, "outlets": carried_by},
            }
            inserted = queue_story_alert(conn, event, article_id, story.story_key, destination.name, moment or "")
            queued += inserted
            if not inserted and not story.new_story:
                _describe_if_earlier(conn, event, article_id, story.story_key, destination.name)
        return SaveOutcome(article_id, status, len(verdict.matches), queued, story.story_id, story.new_story)


def queue_story_alert(
    conn: sqlite3.Connection, event: Mapping[str, Any], article_id: int, story_key: str, destination: str, moment: str
) -> int:
    """Queue ``event`` (its id from ``alert_id``) as a story's alert at ``destination``; 0 if the story has one there.

    One alert per story per destination: the UNIQUE key covers new rows, and the
    story_key check covers rows written under the older per-article key. Runs in the
    caller's write transaction.
    """
    cursor = conn.execute(
        "INSERT OR IGNORE INTO alerts (id, key, kind, article_id, story_key, destination, payload,"
        " next_attempt_at, created_at) SELECT ?, ?, 'alert', ?, ?, ?, ?, ?, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE story_key = ? AND destination = ? AND kind = 'alert')",
        (
            event["id"],
            alert_key(story_key, destination),
            article_id,
            story_key,
            destination,
            json.dumps(event, ensure_ascii=False),
            moment,
            moment,
            story_key,
            destination,
        ),
    )
    return cursor.rowcount


def _describe_if_earlier(
    conn: sqlite3.Connection, event: Mapping[str, Any], article_id: int, story_key: str, destination: str
) -> None:
    """Let the story's unsent alert at ``destination`` describe this copy if it was published earlier."""
    # It keeps its id and its place in the queue; its article, score and rules become this copy's. One already
    # sent (or being sent) stays as it went out: it is the record of what the destination got.
    conn.execute(
        "UPDATE alerts SET article_id = ?, payload = json_set(json(?), '$.id', id,"
        " '$.created_at', json_extract(payload, '$.created_at'))"
        " WHERE story_key = ? AND destination = ? AND kind = 'alert' AND status IN ('pending', 'held')"
        f" AND (SELECT {EARLIEST_FIRST} FROM articles WHERE id = ?)"
        f" < (SELECT {EARLIEST_FIRST} FROM articles WHERE id = alerts.article_id)",
        (article_id, json.dumps(event, ensure_ascii=False), story_key, destination, article_id),
    )


def _hits_json(hits: tuple[Hit, ...]) -> str:
    return json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False)
