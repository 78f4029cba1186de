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
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

NUM_PERM = 64
BANDS = 16  # 16 bands of 4 rows: pairs at Jaccard 0.5 share a band 64% of the time, at 0.7 98%
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 3
MIN_SHINGLES = 20  # shorter bodies are too thin to call duplicates: each is its own story
SAME_STORY = 0.5
SEED = 1


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
