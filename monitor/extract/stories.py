"""One story, many outlets: group near-duplicate articles (the same wire copy, re-dressed) into stories.

Each article's body gets a MinHash signature (datasketch) over three-word shingles;
locality-sensitive hashing bands, kept in the ``story_bands`` table, find the
articles it may duplicate without comparing it to every other one; a candidate
whose signatures agree on at least ``SAME_STORY`` of their positions (an estimate
of the Jaccard similarity of the shingle sets) is the same story. Clutter is gone
before this (extraction), so a headline tweak, a dateline or a trimmed ending
still lands in the same story, while two reports of the same event written
separately do not.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.models import Article

if TYPE_CHECKING:
    import numpy as np

NUM_PERM = 64
BANDS = 16  # 16 bands of 4 rows: pairs at Jaccard 0.5 share a band 64% of the time, at 0.7 98%
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 3
MIN_SHINGLES = 20  # shorter bodies are too thin to call duplicates: each is its own story
SAME_STORY = 0.5
SEED = 1


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Which story an article joined, and whether it started it."""

    story_id: int
    story_key: str
    new_story: bool


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of a body, or None when it is too short to compare."""
    words = re.findall(r"\w+", text.casefold())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}
    if len(shingles) < MIN_SHINGLES:
        return None
    # Imported here: numpy, scipy and datasketch cost ~0.4 s and ~60 MiB, and the extraction
    # workers and the forkserver import this module's importers without ever needing them.
    import numpy as np
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update_batch(list(shingles))
    return np.asarray(minhash.hashvalues, dtype=np.uint64)


def band_hashes(sig: np.ndarray) -> list[int]:
    """One 63-bit hash per band, for the LSH lookup table."""
    hashes = []
    for band in range(BANDS):
        digest = hashlib.blake2b(sig[band * ROWS : (band + 1) * ROWS].tobytes(), digest_size=8).digest()
        hashes.append(int.from_bytes(digest, "big") >> 1)  # fits SQLite's signed 64-bit integers
    return hashes


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float((a == b).mean())


def assign_story(conn: sqlite3.Connection, article_id: int, article: Article, moment: str) -> StoryAssignment:
    """Put a newly stored article into the story it duplicates, or a new one. Runs inside the caller's write."""
    sig = signature(article.text)
    match: tuple[int, str] | None = None
    if sig is not None:
        bands = band_hashes(sig)
        best = 0.0
        for _, candidate_sig, story_id, story_key in _candidates(conn, bands, article_id):
            score = similarity(sig, _from_bytes(candidate_sig))
            if score >= SAME_STORY and score > best:
                best, match = score, (story_id, story_key)
        conn.execute("UPDATE articles SET signature = ? WHERE id = ?", (sig.tobytes(), article_id))
        conn.executemany(
            "INSERT OR IGNORE INTO story_bands (band, hash, article_id) VALUES (?, ?, ?)",
            [(band, value, article_id) for band, value in enumerate(bands)],
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


def outlets(conn: sqlite3.Connection, story_id: int) -> list[dict[str, str | None]]:
    """The articles of a story, earliest published first: the lead, then the outlets that carried it."""
    rows = conn.execute(
        "SELECT source, url, title, published FROM articles WHERE story_id = ?"
        " ORDER BY COALESCE(published, first_seen), id",
        (story_id,),
    ).fetchall()
    return [{"source": r[0], "url": r[1], "title": r[2], "published": r[3]} for r in rows]


def _candidates(conn: sqlite3.Connection, bands: list[int], article_id: int) -> list[tuple[int, bytes, int, str]]:
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
        " ORDER BY COALESCE(published, first_seen), id LIMIT 1) WHERE id = ?",
        (story_id, story_id),
    )


def _from_bytes(stored: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(stored, dtype=np.uint64)
