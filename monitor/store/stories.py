"""Stories: the ``stories`` and ``story_bands`` tables, and each article's place in one.

The signature maths (MinHash, band hashes, similarity) is ``monitor.extract.stories``,
run in the extraction workers: the caller hands in each article's ``Fingerprint``, and
this module stores its signature and bands, finds the candidates an article may
duplicate, asks the fingerprint which one it is, and keeps each story's lead. Every
function runs inside the caller's write transaction (``Store.write()``), so it takes
the connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.models import Article

if TYPE_CHECKING:
    # Only the type: the store never computes a signature, and so never loads the extraction package.
    from monitor.extract import Fingerprint


# The order of a story's copies, earliest published first (first stored when undated); the first leads.
EARLIEST_FIRST = "COALESCE(published, first_seen), id"


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Which story an article joined, and whether it started it."""

    story_id: int
    story_key: str
    new_story: bool


def assign_story(
    conn: sqlite3.Connection, article_id: int, article: Article, fingerprint: Fingerprint, moment: str
) -> StoryAssignment:
    """Put a newly stored article into the story it duplicates, or a new one. Runs inside the caller's write."""
    match: tuple[int, str] | None = None
    if fingerprint.signature is not None:
        candidates = _candidates(conn, fingerprint.bands, article_id)
        closest = fingerprint.closest([candidate[1] for candidate in candidates])
        if closest is not None:
            match = candidates[closest][2], candidates[closest][3]
        conn.execute("UPDATE articles SET signature = ? WHERE id = ?", (fingerprint.signature, article_id))
        conn.executemany(
            "INSERT OR IGNORE INTO story_bands (band, hash, article_id) VALUES (?, ?, ?)",
            [(band, value, article_id) for band, value in enumerate(fingerprint.bands)],
        )
    if match is None:
        cursor = conn.execute(
            "INSERT INTO stories (key, lead_article_id, title, first_seen, updated_at) VALUES (?, ?, ?, ?, ?)",
            (article.canonical_url, article_id, article.title, moment, moment),
        )
        story_id, story_key, new = int(cursor.lastrowid or 0), article.canonical_url, True
    else:
        story_id, story_key = match
        new = False
        conn.execute("UPDATE stories SET updated_at = ? WHERE id = ?", (moment, story_id))
    conn.execute("UPDATE articles SET story_id = ? WHERE id = ?", (story_id, article_id))
    if not new:
        _elect_lead(conn, story_id)
    return StoryAssignment(story_id, story_key, new)


def story_outlets(conn: sqlite3.Connection, story_id: int) -> list[dict[str, str | None]]:
    """The articles of a story, earliest published first: the lead, then the outlets that carried it."""
    rows = conn.execute(
        f"SELECT source, url, title, published FROM articles WHERE story_id = ? ORDER BY {EARLIEST_FIRST}",
        (story_id,),
    ).fetchall()
    return [{"source": r[0], "url": r[1], "title": r[2], "published": r[3]} for r in rows]


def _candidates(conn: sqlite3.Connection, bands: tuple[int, ...], article_id: int) -> list[tuple[int, bytes, int, str]]:
    """Other signed articles sharing a band with ``bands``: (article id, signature, story id, story key)."""
    clauses = " OR ".join("(b.band = ? AND b.hash = ?)" for _ in bands)
    params: list[int] = [value for pair in enumerate(bands) for value in pair]
    return [
        (int(r[0]), bytes(r[1]), int(r[2]), str(r[3]))
        for r in conn.execute(
            "SELECT DISTINCT a.id, a.signature, s.id, s.key FROM story_bands b"
            " JOIN articles a ON a.id = b.article_id JOIN stories s ON s.id = a.story_id"
            f" WHERE ({clauses}) AND a.id != ? AND a.signature IS NOT NULL",
            (*params, article_id),
        )
    ]


def _elect_lead(conn: sqlite3.Connection, story_id: int) -> None:
    """The lead is the earliest-published copy (the wire original, as far as we can tell)."""
    conn.execute(
        "UPDATE stories SET (lead_article_id, title) = (SELECT id, title FROM articles WHERE story_id = ?"
        f" ORDER BY {EARLIEST_FIRST} LIMIT 1) WHERE id = ?",
        (story_id, story_id),
    )
