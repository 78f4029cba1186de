"""Reading the store: ``search`` (full text), ``matches`` and ``stories``."""

from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import click

from monitor.cli.common import State, UsageProblem, filters_from, listing_options, pass_state
from monitor.errors import MonitorError
from monitor.output import write_rows

if TYPE_CHECKING:
    from monitor.store import Store
    from monitor.store.queries import Filters


class _Query(Protocol):
    def __call__(self, store: Store, *, filters: Filters, limit: int) -> list[dict[str, Any]]: ...


@click.command()
@click.argument("query")
@listing_options(limit=20, noun="articles")
@pass_state
def search(state: State, /, query: str, limit: int, fmt: str, **filters: Any) -> None:
    """Full-text search over stored articles (FTS5: words, "phrases", AND/OR/NOT, prefix*), best first.

    \b
    Example:
        monitor search '"armed conflict" OR sanction*' --since 7d --rule sanctions --json
    """
    from monitor.store.queries import search as search_store

    widths = {"title": 60, "snippet": 80, "url": 60, "published": 19}
    try:
        _print_rows(state, partial(search_store, query=query), filters, limit, fmt, widths)
    except MonitorError as error:  # a query FTS5 cannot parse
        raise UsageProblem(str(error)) from None


@click.command()
@listing_options(limit=50, noun="matches")
@pass_state
def matches(state: State, /, limit: int, fmt: str, **filters: Any) -> None:
    """Rule matches, newest first, with the terms that hit and the alerts they raised.

    \b
    Example:
        monitor matches --since 1d --rule sanctions --min-score 2 --csv
    """
    from monitor.store.queries import matches as list_matches

    widths = {"title": 50, "terms": 60, "url": 50, "alerts": 40, "gate": 40}
    _print_rows(state, list_matches, filters, limit, fmt, widths)


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

    widths = {"title": 50, "sources": 40, "url": 50, "alerts": 40}
    _print_rows(state, list_stories, filters, limit, fmt, widths)


def _print_rows(
    state: State, query: _Query, filters: dict[str, Any], limit: int, fmt: str, widths: dict[str, int]
) -> None:
    """Run ``query`` on the existing store with the command's filters and limit, and print its rows."""
    state.config()
    with state.store(create=False) as store:
        rows = query(store, filters=filters_from(**filters), limit=limit)
    write_rows(rows, fmt, sys.stdout, table_widths=widths)


COMMANDS = [search, matches, stories]
