"""How fast the store answers at 100,000 articles: full-text search, a filtered matches query, a report.

    python benchmarks/bench_store.py [--articles 100000] [--repeat 15]

Fills a fresh store (in a temporary folder) with generated articles — about 20 %
matching a rule, with matches and alerts — through the real schema and its FTS
triggers, then prints the median and p95 of each query over several runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py: the scripts run from benchmarks/ on sys.path

from monitor.ops import build_report
from monitor.store import Store
from monitor.store.queries import Filters, matches, search
from monitor.timestamps import iso

WORDS = [
    "government",
    "minister",
    "talks",
    "border",
    "troops",
    "economy",
    "election",
    "court",
    "police",
    "market",
    "energy",
    "prices",
    "city",
    "council",
    "report",
    "week",
    "officials",
    "said",
    "people",
    "country",
    "state",
    "health",
    "school",
    "water",
    "climate",
    "trade",
    "bank",
    "plan",
    "new",
    "year",
    "police",
    "investigation",
    "festival",
    "weather",
    "farmers",
    "harbour",
    "village",
    "community",
    "budget",
]
TOPICS = {
    "nato": "NATO allies met in Brussels",
    "ukraine": "Ukraine said on Monday",
    "sanctions": "new sanctions on banks",
    "armed-conflict": "a real risk of armed conflict",
}


def fill(store: Store, count: int, rng: random.Random) -> None:
    """Insert ``count`` articles (~700 words each) with matches and alerts, in batches."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 2000
    for first in range(0, count, batch):
        with store.write() as conn:
            for index in range(first, min(first + batch, count)):
                topic = rng.choice(list(TOPICS)) if rng.random() < 0.2 else None
                words = [rng.choice(WORDS) for _ in range(700)]
                if topic:
                    words[rng.randrange(700)] = TOPICS[topic]
                seen = iso(start + timedelta(minutes=5 * index))
                score = round(rng.uniform(1, 9), 2) if topic else 0.0
                cursor = conn.execute(
                    "INSERT INTO articles (url, fetched_url, source, title, text, content_hash, score, first_seen,"
                    " last_seen, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        f"https://n.test/{index}",
                        f"https://n.test/{index}",
                        f"source-{index % 20}",
                        " ".join(rng.choice(WORDS) for _ in range(8)) + (f" {TOPICS[topic]}" if topic else ""),
                        " ".join(words),
                        f"h{index}",
                        score,
                        seen,
                        seen,
                        seen,
                    ),
                )
                if topic:
                    article_id = cursor.lastrowid
                    hits = json.dumps([{"rule": topic, "term": topic, "field": "body", "count": 1, "snippet": "…"}])
                    conn.execute(
                        "INSERT INTO matches (article_id, rule, score, hits, matched_at) VALUES (?, ?, ?, ?, ?)",
                        (article_id, topic, score, hits, seen),
                    )
                    if score >= 3:
                        conn.execute(
                            "INSERT INTO alerts (id, key, article_id, destination, payload, status,"
                            " next_attempt_at, created_at) VALUES (?, ?, ?, 'hook', '{}', 'delivered', ?, ?)",
                            (f"alert_{index}", f"k{index}", article_id, seen, seen),
                        )


def timed(label: str, repeat: int, call: object) -> tuple[str, float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = len(call())  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    times.sort()
    return label, statistics.median(times), times[int(0.95 * (len(times) - 1))], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as folder, Store.open(Path(folder) / "bench.db") as store:
        started = time.perf_counter()
        fill(store, args.articles, rng)
        fill_seconds = time.perf_counter() - started
        end = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * args.articles)
        week = Filters(since=end - timedelta(days=7), rule="sanctions", min_score=3.0)
        results = [
            timed("search 'sanctions'", args.repeat, lambda: search(store, "sanctions", limit=20)),
            timed(
                "search '\"armed conflict\" OR nato*' --since 30d",
                args.repeat,
                lambda: search(
                    store, '"armed conflict" OR nato*', filters=Filters(since=end - timedelta(days=30)), limit=20
                ),
            ),
            timed(
                "matches --since 7d --rule sanctions --min-score 3",
                args.repeat,
                lambda: matches(store, filters=week, limit=50),
            ),
            timed("report --since 7d", args.repeat, lambda: build_report(store, end - timedelta(days=7), end)["rules"]),
        ]
        size = Path(store.path).stat().st_size
    print(
        f"monitor store benchmark, {datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()},"
        f" {platform.machine()}, {cpu_model()}"
    )
    print(f"{args.articles} articles (~700 words each) filled in {fill_seconds:.1f} s; store {size / 1e6:.0f} MB")
    print(f"{'query':<55} {'median ms':>10} {'p95 ms':>8} {'rows':>5}")
    for label, median, p95, rows in results:
        print(f"{label:<55} {median * 1000:>10.1f} {p95 * 1000:>8.1f} {rows:>5}")


if __name__ == "__main__":
    main()
