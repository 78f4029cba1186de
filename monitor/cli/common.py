"""What every command module shares: the global state, options, exit codes and errors.

Command modules import this and the core, never each other or the CLI root; only
the CLI turns the core's typed exceptions into messages and exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from monitor.config import Config, DurationError, load_config
from monitor.config import since as parse_since
from monitor.errors import ConfigError, StoreError
from monitor.store import Store

EXIT_ERROR = 1  # something failed at run time (a fetch, a query)
EXIT_CONFIG = 2  # the configuration, the store or the command line is unusable


class UsageProblem(click.ClickException):
    """A problem with the configuration, the store or the arguments: exit status 2."""

    exit_code = EXIT_CONFIG


class State:
    """The global options, passed to every command."""

    def __init__(self, config_path: str, db_path: str, verbose: int = 0):
        self.config_path = config_path
        self.db_path = db_path
        self.verbose = verbose
        self._config: Config | None = None

    def config(self) -> Config:
        """The validated configuration, or exit 2 with every problem listed."""
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as error:
                raise UsageProblem(f"invalid configuration:\n{error}") from None
        return self._config

    def store(self, *, create: bool = True) -> Store:
        """The open store, or exit 2 if it is unusable."""
        try:
            return Store.open(self.db_path, create=create)
        except StoreError as error:
            raise UsageProblem(str(error)) from None


pass_state = click.make_pass_decorator(State)


def format_option(func: Any) -> Any:
    """--json / --ndjson / --csv, shared by every command that prints rows."""
    func = click.option("--csv", "fmt", flag_value="csv", help="Print CSV.")(func)
    func = click.option("--ndjson", "fmt", flag_value="ndjson", help="Print one JSON object per line.")(func)
    func = click.option("--json", "fmt", flag_value="json", help="Print a JSON array.")(func)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(func)


def filter_options(func: Any) -> Any:
    """--since, --until, --source, --rule, --min-score: shared by the commands that read the store."""
    func = click.option("--min-score", type=float, metavar="N", help="Only scores of at least N.")(func)
    func = click.option("--rule", metavar="NAME", help="Only articles this rule matched.")(func)
    func = click.option("--source", metavar="NAME", help="Only articles from this source.")(func)
    func = click.option("--until", metavar="WHEN", help="Only before then: a duration ago (2d) or a date.")(func)
    return click.option("--since", metavar="WHEN", help="Only since then: a duration ago (7d, 12h) or a date.")(func)


def listing_options(limit: int, noun: str) -> Callable[[Any], Any]:
    """--limit (default ``limit`` ``noun``), the filters and the output format: for commands that list stored rows."""

    def decorate(func: Any) -> Any:
        func = filter_options(format_option(func))
        return click.option("--limit", default=limit, show_default=True, help=f"At most this many {noun}.")(func)

    return decorate


def filters_from(
    since: str | None, until: str | None, source: str | None, rule: str | None, min_score: float | None
) -> Any:
    from monitor.store.queries import Filters

    return Filters(since=since_value(since), until=since_value(until), source=source, rule=rule, min_score=min_score)


def since_value(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_since(value)
    except DurationError as error:
        raise UsageProblem(f"--since {error}") from None


def crawl_log_level(state: State) -> str:
    """The crawl process's detail (monitor.logs): -v its articles, -vv Scrapy's own lines and tracebacks too."""
    return "DEBUG" if state.verbose > 1 else "INFO" if state.verbose else "WARNING"


def echo_paused(name: str, paused_at: str, reason: str) -> None:
    """Say that destination ``name`` is paused, since when and why, and how to resume it."""
    click.echo(f"destination {name} is paused since {paused_at}: {reason}")
    click.echo(f"  resume it with: monitor alerts resume {name}")


def off_destination(name: str) -> str:
    """What an off destination means, and how to make up for it."""
    return (
        f"destination {name} is OFF: its URL variable is empty, so no alert is queued for it; once it is set,"
        f" `monitor alerts replay --since DURATION --destination {name}` queues what it missed"
    )
