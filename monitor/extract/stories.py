"""One story, many outlets: group near-duplicate articles (the same wire copy, re-dressed) into stories.

Each article's body gets a MinHash signature (datasketch) over three-word shingles;
locality-sensitive hashing bands, kept in the ``story_bands`` table (see
``monitor.store.stories``, which assigns articles to stories), find the
articles it may duplicate without comparing it to every other one; a candidate
whose signatures agree on at least ``SAME_STORY`` of their positions (an estimate
of the Jaccard similarity of the shingle sets) is the same story. Clutter is gone
before this (extraction), so a headline tweak, a dateline or a trimmed ending
still lands in the same story, while two reports of the same event written
separately do not.

``fingerprint_of`` computes an article's signature, bands and content hash in one
call, in the extraction workers; the crawl process hands the ``Fingerprint`` to the
store as it is, so it never computes a signature nor imports datasketch.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.models import Article

NUM_PERM = 64
BANDS = 16  # 16 bands of 4 rows: pairs at Jaccard 0.5 share a band 64% of the time, at 0.7 98%
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 3
MIN_SHINGLES = 20  # shorter bodies are too thin to call duplicates: each is its own story
SAME_STORY = 0.5
SEED = 1
_VALUE_BYTES = 8  # a signature is NUM_PERM unsigned 64-bit values, in machine byte order


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the store knows an article by: its content hash, its story signature and the signature's bands."""

    content_hash: str
    signature: bytes | None  # None when the body is too short to compare
    bands: tuple[int, ...]  # one hash per LSH band of ``signature``; none without one

    def closest(self, stored: Sequence[bytes]) -> int | None:
        """The index of the stored signature that is the same story as this one and most like it, if any."""
        if self.signature is None:
            return None
        best, index = 0.0, None
        for position, other in enumerate(stored):
            score = similarity(self.signature, other)
            if score >= SAME_STORY and score > best:
                best, index = score, position
        return index


def fingerprint_of(article: Article) -> Fingerprint:
    """The article's content hash, story signature and band hashes: one call, made where it is extracted."""
    sig = signature(article.text)
    return Fingerprint(article.content_hash, sig, tuple(band_hashes(sig)) if sig is not None else ())


def signature(text: str) -> bytes | None:
    """The MinHash signature of a body (as stored in ``articles.signature``), or None when too short to compare."""
    words = re.findall(r"\w+", text.casefold())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}
    if len(shingles) < MIN_SHINGLES:
        return None
    # Imported here: numpy, scipy and datasketch cost ~0.4 s and ~60 MiB, and the crawl process,
    # the CLI and the forkserver import this module's importers without ever needing them.
    import numpy as np
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update_batch(list(shingles))
    return np.asarray(minhash.hashvalues, dtype=np.uint64).tobytes()


def band_hashes(sig: bytes) -> list[int]:
    """One 63-bit hash per band, for the LSH lookup table."""
    width = ROWS * _VALUE_BYTES
    hashes = []
    for band in range(BANDS):
        digest = hashlib.blake2b(sig[band * width : (band + 1) * width], digest_size=8).digest()
        hashes.append(int.from_bytes(digest, "big") >> 1)  # fits SQLite's signed 64-bit integers
    return hashes


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures: the share of positions where they agree."""
    left, right = memoryview(a).cast("Q"), memoryview(b).cast("Q")
    return int(sum(map(operator.eq, left, right))) / max(len(left), 1)
