"""The SQLite store: the only place in the product that writes SQL.

One module per group of tables: ``connection`` (opening, pragmas, transactions),
``migrations`` (the schema), ``articles`` (articles, matches, vetoes and the alerts
they owe), ``runs`` (sources, runs, run errors), ``outbox`` (delivering alerts),
``queries`` (what the CLI reads). Other packages import from here, never SQL.
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
