"""``monitor browse``: the store in Datasette, with descriptions, full-text search, canned queries and charts.

Datasette is the web UI of the sqlite-utils ecosystem. We give it metadata (what
each table and column means, the FTS table behind ``articles``), canned queries
for the questions people ask, and a plugin with the report's charts (``/-/charts``);
it opens the file read-only and listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from monitor.store.canned import canned_queries

TABLES: dict[str, dict[str, Any]] = {
    "articles": {
        "description": "One row per article, keyed by its canonical URL.",
        "fts_table": "articles_fts",
        "fts_pk": "id",
        "sort_desc": "first_seen",
        "columns": {
            "url": "Canonical URL (tracking parameters removed)",
            "fetched_url": "The URL it was fetched from",
            "source": "Source name from rules.yaml",
            "title": "Headline",
            "text": "Body text without page clutter",
            "published": "Publication time (UTC)",
            "authors": "JSON list of names",
            "language": "Two-letter language code",
            "content_hash": "SHA-256 of title and text; changes when the article changes",
            "score": "Total score against the rules",
            "first_seen": "When the monitor first stored it",
            "last_seen": "When a crawl last saw it",
            "updated_at": "When it last changed",
        },
    },
    "matches": {
        "description": "Article × rule: which rules matched, with the score and the explanation.",
        "sort_desc": "matched_at",
        "columns": {
            "rule": "Rule name",
            "score": "This rule's score",
            "hits": "JSON explanation: term, field, count, snippet and points of each hit",
            "weight": "The rule's weight: score = weight × the hits' points",
            "gate": "Why it raised no alert: published longer ago than the rule's max_age (empty: no gate)",
            "matched_at": "When it was scored",
        },
    },
    "vetoes": {
        "description": "Article × rule: rules whose terms matched but an exclusion vetoed, and what vetoed them.",
        "sort_desc": "matched_at",
        "columns": {
            "rule": "Rule name",
            "score": "What it would have scored",
            "hits": "JSON: the hits that would have scored",
            "vetoed_by": "JSON: the exclusion hits (or the filter) that vetoed it",
            "matched_at": "When it was scored",
        },
    },
    "alerts": {
        "description": "The outbox: one row per alert per destination.",
        "sort_desc": "created_at",
        "columns": {
            "id": "Stable alert id (the webhook-id)",
            "destination": "Destination name (never its URL)",
            "status": "pending, sending, delivered or dead",
            "attempts": "Delivery attempts so far",
            "next_attempt_at": "When a pending alert is due",
            "last_error": "The last failure",
            "payload": "The version-1 alert event (JSON)",
        },
    },
    "runs": {
        "description": "One row per source per crawl.",
        "sort_desc": "started_at",
        "columns": {
            "status": "running, ok, failed or skipped",
            "pages": "Pages fetched",
            "new_articles": "Articles stored for the first time",
            "errors": "Problems recorded",
        },
    },
    "run_errors": {
        "description": "What went wrong during crawls, one row per problem.",
        "sort_desc": "at",
        "columns": {"kind": "fetch, http, size, robots, redirect, content-type, extract, index, store, crash"},
    },
    "sources": {"description": "The configured sources as of the last run."},
    "stories": {
        "description": "The same story across outlets: near-duplicate articles grouped, the earliest copy leading.",
        "sort_desc": "first_seen",
        "columns": {
            "key": "Stable story id: the canonical URL of its first article (alerts.story_key)",
            "lead_article_id": "The earliest-published copy",
            "title": "The lead's headline",
        },
    },
}


# Datasette loads every module of this folder as a plugin: the charts page (CHARTS_PATH).
PLUGINS_DIR = Path(__file__).resolve().parent / "datasette_plugins"
CHARTS_PATH = "/-/charts"
CHARTS_LINK = (
    f'<a href="{CHARTS_PATH}">Charts</a> of the last week: matches per rule per day, the stories carried by the most'
    " outlets, sources by articles and by failures, alert delivery latency."
)


def metadata(db_path: str) -> dict[str, Any]:
    """Datasette metadata for the store at ``db_path``, and the charts plugin's configuration."""
    name = Path(db_path).stem
    about = "Articles the monitor caught, the rules they matched and the alerts they raised."
    return {
        "title": "monitor",
        "description_html": f"{about} {CHARTS_LINK}",
        "databases": {
            name: {
                "description_html": f"The monitor's store. {CHARTS_LINK}",
                "tables": TABLES,
                "queries": canned_queries(),
            }
        },
        "plugins": {"monitor-charts": {"database": name}},
    }


def browse_command(db_path: str, metadata_path: str, *, host: str = "127.0.0.1", port: int = 8001) -> list[str]:
    """The Datasette command line for the store."""
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        db_path,
        "--metadata",
        metadata_path,
        "--host",
        host,
        "--port",
        str(port),
        "--setting",
        "sql_time_limit_ms",
        "5000",
        "--plugins-dir",
        str(PLUGINS_DIR),
    ]


def write_metadata(db_path: str, folder: Path) -> str:
    """Write the metadata next to nothing the user owns (a temporary folder) and return its path."""
    path = folder / "metadata.json"
    path.write_text(json.dumps(metadata(db_path), indent=2), encoding="utf-8")
    return str(path)


def run_browser(db_path: str, metadata_path: str, *, host: str, port: int) -> int:
    """Run Datasette until it is stopped; its exit status, 0 when SIGTERM or SIGINT (passed on to it) stopped it."""
    child = subprocess.Popen(browse_command(db_path, metadata_path, host=host, port=port))
    forwarded: set[int] = set()

    def forward(signum: int, frame: FrameType | None) -> None:
        forwarded.add(signum)
        child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = child.wait()
        if status < 0:
            # Datasette's server shuts down cleanly, then dies of the signal it was asked to stop by: a stop asked
            # for. Killed by a signal it was not sent by us, it exits as a shell says so: 128 + the signal.
            return 0 if -status in forwarded else 128 - status
        return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
