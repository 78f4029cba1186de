"""The SQLite store: articles, matches, the alert outbox and crawl runs.

Every write that must be all-or-nothing (an article, its matches and the alerts
it owes) happens in one ``BEGIN IMMEDIATE`` transaction, so a crawl and an alert
sender can write at once and a crash never leaves a match without its alerts.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.alerts.events import build_event
from monitor.config.model import DestinationSpec, SourceSpec
from monitor.errors import StoreError
from monitor.extract.stories import StoryAssignment, assign_story
from monitor.extract.stories import outlets as story_outlets
from monitor.models import Article, Hit, Verdict
from monitor.store.migrations import LATEST_VERSION, current_version, migrate

BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    """Now, timezone-aware, to the second (the store's resolution)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """A datetime as the store writes it: ISO 8601 in UTC, so text order is time order."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Store:
    """An open store. Use ``Store.open(path)``; close it when done (or use it as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        self.conn = conn
        self.path = path
        self.db = sqlite_utils.Database(conn)

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> Store:
        """Open (and create or upgrade) the store at ``path``; StoreError if it is unusable."""
        target = Path(path)
        if not create and not target.exists():
            raise StoreError(f"{target}: no store here yet (run `monitor run` or `monitor demo` first)")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
            conn = sqlite3.connect(
                str(target), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: the outbox lives here, and a lost alert row matters more than a few ms per commit.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            version = current_version(conn)
            if version > LATEST_VERSION:
                raise StoreError(
                    f"{target}: schema version {version} is newer than this monitor knows"
                    f" ({LATEST_VERSION}); upgrade monitor"
                )
            migrate(conn)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{target}: cannot open the store: {error}") from error
        except OSError as error:
            raise StoreError(f"{target}: cannot create the store: {error}") from error
        return cls(conn, str(target))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken with BEGIN IMMEDIATE so it never fails half-way on a lock."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise StoreError(f"{self.path}: cannot start a write: {error}") from error
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return [dict(row) for row in self.conn.execute(sql, params)]


@dataclass(frozen=True)
class SaveOutcome:
    """What saving one article changed."""

    article_id: int
    status: str  # "new", "updated" or "unchanged"
    matches: int
    alerts_queued: int
    story_id: int = 0
    new_story: bool = False


def sync_sources(store: Store, sources: Sequence[SourceSpec]) -> None:
    """Record the configured sources, so queries can join on them."""
    now = iso(utcnow())
    with store.write() as conn:
        for source in sources:
            conn.execute(
                "INSERT INTO sources (name, type, url, interval_seconds, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET type = excluded.type, url = excluded.url,"
                " interval_seconds = excluded.interval_seconds, updated_at = excluded.updated_at",
                (source.name, source.type, source.url, source.interval_seconds, now),
            )


def start_run(store: Store, source: str, now: datetime | None = None) -> int:
    """Open a run record for ``source``; returns its id."""
    with store.write() as conn:
        cursor = conn.execute("INSERT INTO runs (source, started_at) VALUES (?, ?)", (source, iso(now or utcnow())))
        return int(cursor.lastrowid or 0)


def finish_run(
    store: Store, run_id: int, counts: dict[str, int | None], status: str, now: datetime | None = None
) -> None:
    """Close a run record with its counters ("pages", "new_articles", ...; "median_age_seconds") and status."""
    columns = ("pages", "new_articles", "updated_articles", "matches", "alerts_queued", "errors")
    with store.write() as conn:
        conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, median_age_seconds = ?, "
            + ", ".join(f"{c} = ?" for c in columns)
            + " WHERE id = ?",
            (
                iso(now or utcnow()),
                status,
                counts.get("median_age_seconds"),
                *(int(counts.get(c) or 0) for c in columns),
                run_id,
            ),
        )


def record_error(store: Store, run_id: int | None, source: str, url: str | None, kind: str, message: str) -> None:
    """Keep one error of a run (a dead source, a hostile page) so it can be reviewed later."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO run_errors (run_id, source, url, kind, message, at) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, source, url, kind, message[:2000], iso(utcnow())),
        )


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


def save_article(
    store: Store,
    article: Article,
    verdict: Verdict,
    destinations: Sequence[DestinationSpec],
    now: datetime | None = None,
) -> SaveOutcome:
    """Store an article, its matches and (if it alerts) one outbox row per destination, atomically.

    An article is identified by its canonical URL. Seen again unchanged, only its
    ``last_seen`` moves. Changed, it is rescored; but the alert key is the article
    and the destination, so it never alerts twice at the same place.
    """
    moment = iso(now or utcnow())
    with store.write() as conn:
        row = conn.execute("SELECT id, content_hash FROM articles WHERE url = ?", (article.canonical_url,)).fetchone()
        if row is not None and row["content_hash"] == article.content_hash:
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
            article.content_hash,
            verdict.score,
            article.published_from,
        )
        story: StoryAssignment | None = None
        if row is None:
            cursor = conn.execute(
                "INSERT INTO articles (fetched_url, source, title, text, published, authors, language, content_hash,"
                " score, published_from, url, first_seen, last_seen, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, article.canonical_url, moment, moment, moment),
            )
            article_id, status = int(cursor.lastrowid or 0), "new"
            story = assign_story(conn, article_id, article, moment or "")
        else:
            article_id, status = int(row["id"]), "updated"
            conn.execute(
                "UPDATE articles SET fetched_url = ?, source = ?, title = ?, text = ?, published = ?, authors = ?,"
                " language = ?, content_hash = ?, score = ?, published_from = ?, last_seen = ?, updated_at = ?"
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
            event = build_event(alert_id(key), article, article_id, verdict, moment or "")
            event["story"] = {"key": story.story_key, "outlets": carried_by}
            # One alert per story per destination: the UNIQUE key covers new rows, and the
            # story_key check covers rows written under the older per-article key.
            cursor = conn.execute(
                "INSERT OR IGNORE INTO alerts (id, key, kind, article_id, story_key, destination, payload,"
                " next_attempt_at, created_at) SELECT ?, ?, 'alert', ?, ?, ?, ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE story_key = ? AND destination = ? AND kind = 'alert')",
                (
                    event["id"],
                    key,
                    article_id,
                    story.story_key,
                    destination.name,
                    json.dumps(event, ensure_ascii=False),
                    moment,
                    moment,
                    story.story_key,
                    destination.name,
                ),
            )
            queued += cursor.rowcount
        return SaveOutcome(article_id, status, len(verdict.matches), queued, story.story_id, story.new_story)


def _hits_json(hits: tuple[Hit, ...]) -> str:
    return json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False)
