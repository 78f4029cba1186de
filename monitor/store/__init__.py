"""The SQLite store: the only place in the product that writes SQL.

Other packages import ``Store`` (and the article writes) from here, and call the
functions of the module that owns their tables; they never write SQL:

- ``connection``: opening the file, pragmas, ``BEGIN IMMEDIATE`` write transactions;
- ``migrations``: the schema, as numbered migrations applied when the store opens;
- ``articles`` and ``stories``: articles, matches, vetoes, story grouping, and the alerts an article owes;
- ``runs`` and ``source_state``: sources, crawl runs and their errors, judged source health;
- ``outbox`` and ``destinations``: delivering alerts, digests and notices; paused destinations;
- ``queries``, ``reports``, ``canned`` and ``retention``: what the CLI, status, reports,
  Datasette and pruning read or delete.

Functions take the ``Store`` first, or the ``sqlite3.Connection`` of a transaction the
caller holds when several writes must be one. Nothing here imports alerts, the CLI or ops.
"""

from monitor.store.articles import SaveOutcome, alert_id, alert_key, last_seen, write_article
from monitor.store.connection import Store
from monitor.store.runs import finish_run, record_error, start_run, sync_sources

__all__ = [
    "SaveOutcome",
    "Store",
    "alert_id",
    "alert_key",
    "finish_run",
    "last_seen",
    "record_error",
    "start_run",
    "sync_sources",
    "write_article",
]
