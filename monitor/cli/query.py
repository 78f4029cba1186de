"""Reading the store: ``search`` (full text), ``matches``, ``stories`` and ``errors`` (why a source failed).

``--json`` and ``--ndjson`` print the values as they are (numbers, ISO 8601 times, lists
and objects); tables and ``--csv`` print them as text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import click

from monitor.cli.common import (
    State,
    UsageProblem,
    filters_from,
    format_option,
    listing_options,
    pass_state,
    since_value,
)
from monitor.errors import MonitorError
from monitor.output import write_rows

if TYPE_CHECKING:
    from monitor.store import Store
    from monitor.store.queries import Filters

Row = dict[str, Any]


class _Query(Protocol):
    def __call__(self, store: Store, *, filters: Filters, limit: int) -> list[Row]: ...


@click.command()
@click.argument("query")
@listing_options(limit=20, noun="articles")
@pass_state
def search(state: State, /, query: str, limit: int, fmt: str, **filters: Any) -> None:
    """Full-text search over stored articles (FTS5: words, "phrases", AND/OR/NOT, prefix*), best first.

    Operators are upper-case: a lower-case `or` is refused (exit 2), as in rules;
    quote it ("or") to search for the word.

    \b
    Example:
        monitor search '"armed conflict" OR sanction*' --since 7d --rule sanctions --json
    """
    from monitor.store.queries import search as search_store

    widths = {"title": 60, "snippet": 80, "published": 25, "url": 60}  # most important first
    try:
        _print_rows(state, partial(search_store, query=query), filters, limit, fmt, widths)
    except MonitorError as error:  # a query FTS5 cannot parse, or a lower-case operator
        raise UsageProblem(str(error)) from None


@click.command()
@listing_options(limit=50, noun="matches")
@pass_state
def matches(state: State, /, limit: int, fmt: str, **filters: Any) -> None:
    """Rule matches, newest first, with the terms that hit and the alerts they raised.

    With --json or --ndjson, `hits` are objects (term, field, count, points, snippet)
    and `alerts` a list of {destination, status}.

    \b
    Example:
        monitor matches --since 1d --rule sanctions --min-score 2 --csv
    """
    from monitor.store.queries import matches as list_matches

    widths = {"title": 50, "alerts": 40, "terms": 60, "gate": 40, "url": 50}  # most important first
    _print_rows(state, list_matches, filters, limit, fmt, widths, as_text=_match_as_text)


@click.command()
@listing_options(limit=50, noun="stories")
@pass_state
def stories(state: State, /, limit: int, fmt: str, **filters: Any) -> None:
    """Stories: the same wire story across outlets, with its lead, outlets, first seen and alert status.

    \b
    Example:
        monitor stories --since 1d --rule nato
    """
    from monitor.store.queries import stories as list_stories

    widths = {"title": 50, "sources": 40, "alerts": 40, "url": 50}  # most important first
    _print_rows(state, list_stories, filters, limit, fmt, widths)


@click.command()
@click.option("--source", metavar="NAME", help="Only this source's errors.")
@click.option("--since", metavar="WHEN", help="Only since then: a duration ago (7d, 12h) or a date.")
@click.option("--limit", default=50, show_default=True, help="At most this many errors.")
@format_option
@pass_state
def errors(state: State, source: str | None, since: str | None, limit: int, fmt: str) -> None:
    """Why sources failed: the errors recorded during crawls, newest first (when, source, run, kind, URL, message).

    \b
    Example:
        monitor errors --source bbc-world --since 1d
    """
    from monitor.store.queries import run_errors

    state.config()
    with state.store(create=False) as store:
        rows = run_errors(store, source=source, since=since_value(since), limit=limit)
    write_rows(rows, fmt, sys.stdout, table_widths={"url": 50, "message": 80})


def _print_rows(
    state: State,
    query: _Query,
    filters: dict[str, Any],
    limit: int,
    fmt: str,
    widths: dict[str, int],
    *,
    as_text: Callable[[Row], Row] | None = None,
) -> None:
    """Run ``query`` on the existing store with the command's filters and limit, and print its rows.

    ``as_text`` turns a row's lists and objects into text, for a table or CSV.
    """
    state.config()
    with state.store(create=False) as store:
        rows = query(store, filters=filters_from(**filters), limit=limit)
    if as_text is not None and fmt in ("table", "csv"):
        rows = [as_text(row) for row in rows]
    write_rows(rows, fmt, sys.stdout, table_widths=widths)


def _match_as_text(row: Row) -> Row:
    """A match for a table or CSV: its hits as "term (field ×count)", its alerts as "destination:status"."""
    shown = {key: value for key, value in row.items() if key not in ("hits", "alerts")}
    shown["terms"] = ", ".join(f"{hit['term']} ({hit['field']} ×{hit['count']})" for hit in row["hits"])
    shown["alerts"] = " ".join(f"{alert['destination']}:{alert['status']}" for alert in row["alerts"]) or None
    return shown


COMMANDS = [search, matches, stories, errors]
