"""Reading the store: ``search`` (full text), ``matches`` and ``stories``."""

from __future__ import annotations

import sys
from typing import Any

import click

from monitor.cli.common import State, UsageProblem, filter_options, filters_from, format_option, pass_state
from monitor.errors import MonitorError
from monitor.output import write_rows


@click.command()
@click.argument("query")
@click.option("--limit", default=20, show_default=True, help="At most this many articles.")
@filter_options
@format_option
@pass_state
def search(state: State, /, query: str, limit: int, fmt: str, **filters: Any) -> None:
    """Full-text search over stored articles (FTS5: words, "phrases", AND/OR/NOT, prefix*), best first.

    \b
    Example:
        monitor search '"armed conflict" OR sanction*' --since 7d --rule sanctions --json
    """
    from monitor.store.queries import search as search_store

    state.config()
    with state.store(create=False) as store:
        try:
            rows = search_store(store, query, filters=filters_from(**filters), limit=limit)
        except MonitorError as error:
            raise UsageProblem(str(error)) from None
    write_rows(rows, fmt, sys.stdout, table_widths={"title": 60, "snippet": 80, "url": 60, "published": 19})


@click.command()
@click.option("--limit", default=50, show_default=True, help="At most this many matches.")
@filter_options
@format_option
@pass_state
def matches(state: State, /, limit: int, fmt: str, **filters: Any) -> None:
    """Rule matches, newest first, with the terms that hit and the alerts they raised.

    \b
    Example:
        monitor matches --since 1d --rule sanctions --min-score 2 --csv
    """
    from monitor.store.queries import matches as list_matches

    state.config()
    with state.store(create=False) as store:
        rows = list_matches(store, filters=filters_from(**filters), limit=limit)
    widths = {"title": 50, "terms": 60, "url": 50, "alerts": 40, "gate": 40}
    write_rows(rows, fmt, sys.stdout, table_widths=widths)


@click.command()
@click.option("--limit", default=50, show_default=True, help="At most this many stories.")
@filter_options
@format_option
@pass_state
def stories(state: State, /, limit: int, fmt: str, **filters: Any) -> None:
    """Stories: the same wire story across outlets, with its lead, outlets, first seen and alert status.

    \b
    Example:
        monitor stories --since 1d --rule nato
    """
    from monitor.store.queries import stories as list_stories

    state.config()
    with state.store(create=False) as store:
        rows = list_stories(store, filters=filters_from(**filters), limit=limit)
    write_rows(rows, fmt, sys.stdout, table_widths={"title": 50, "sources": 40, "url": 50, "alerts": 40})


COMMANDS = [search, matches, stories]
