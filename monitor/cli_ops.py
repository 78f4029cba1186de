"""Operating the monitor: ``monitor status`` and ``monitor prune``."""

from __future__ import annotations

import json
import sys

import click

from monitor.cli import State, UsageProblem, pass_state
from monitor.durations import DurationError, since


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_state
def status(state: State, as_json: bool) -> None:
    """Per source: last run, next run and health; alerts per destination; the store's size.

    \b
    Example:
        monitor status --json
    """
    from monitor.output import write_rows
    from monitor.status import status_report

    config = state.config()
    with state.store(create=False) as store:
        report = status_report(store, config)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"Store: {state.db_path}, {report['articles']} articles, {report['store_bytes'] / 1e6:.1f} MB; "
        f"last successful run {report['last_successful_run'] or 'never'}"
    )
    click.echo("\nSources:")
    write_rows(report["sources"], "table", sys.stdout)
    click.echo("\nAlerts:")
    write_rows(report["alerts"], "table", sys.stdout)


@click.command()
@click.option(
    "--older-than", required=True, metavar="AGE", help="Drop bodies of articles first seen before this (90d)."
)
@click.option("--no-vacuum", is_flag=True, help="Skip VACUUM (faster; the file does not shrink).")
@pass_state
def prune(state: State, older_than: str, no_vacuum: bool) -> None:
    """Drop old article bodies and run errors; keep titles, matches and alerts; then VACUUM.

    \b
    Example:
        monitor prune --older-than 90d
    """
    from monitor.retention import prune as prune_store

    state.config()
    try:
        cutoff = since(older_than)
    except DurationError as error:
        raise UsageProblem(f"--older-than {error}") from None
    with state.store(create=False) as store:
        report = prune_store(store, cutoff, vacuum=not no_vacuum)
    click.echo(
        f"Emptied {report.bodies} article bodies and removed {report.run_errors} run errors "
        f"first recorded before {cutoff:%Y-%m-%d %H:%M} UTC; store {report.bytes_before / 1e6:.1f} MB "
        f"→ {report.bytes_after / 1e6:.1f} MB"
    )
