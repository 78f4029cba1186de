"""Operating the monitor: ``monitor status`` and ``monitor prune``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from monitor.cli.common import State, UsageProblem, echo_paused, off_destination, pass_state
from monitor.config import DurationError
from monitor.config import since as since_or_date


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--cluster", metavar="redis://HOST:PORT/DB", envvar="MONITOR_CLUSTER", help="Show its workers and backlog too."
)
@pass_state
def status(state: State, as_json: bool, cluster: str | None) -> None:
    """Per source: last run, next run and health; alerts per destination; the store's size.

    A source whose last run failed is named, with the command that shows why. With
    --cluster: each worker (host, pid, last heartbeat, pages a minute, configuration)
    and what waits in the task and result streams.

    \b
    Example:
        monitor status --json
    """
    from monitor.ops import status_report
    from monitor.output import write_rows

    config = state.config()
    with state.store(create=False) as store:
        report = status_report(store, config)
    if cluster:
        report["cluster"] = _cluster_status(cluster)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if cluster:
        _echo_cluster(report["cluster"])
    click.echo(
        f"Store: {state.db_path}, {report['articles']} articles, {report['store_bytes'] / 1e6:.1f} MB; "
        f"last successful run {report['last_successful_run'] or 'never'}"
    )
    click.echo("\nSources:")
    write_rows(report["sources"], "table", sys.stdout)
    for row in report["sources"]:
        if row["last_status"] == "failed":
            click.echo(
                f"source {row['source']} failed its last run: `monitor errors --source {row['source']}` says why"
            )
    click.echo("\nAlerts:")
    write_rows(
        [{k: v for k, v in row.items() if not k.startswith("paused_")} for row in report["alerts"]], "table", sys.stdout
    )
    for row in report["alerts"]:
        if row["paused_at"]:
            echo_paused(row["destination"], row["paused_at"], row["paused_reason"])
        if row["state"] == "off":
            click.echo(off_destination(row["destination"]))


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
    from monitor.ops import prune as prune_store

    state.config()
    try:
        cutoff = since_or_date(older_than)
    except DurationError as error:
        raise UsageProblem(f"--older-than {error}") from None
    with state.store(create=False) as store:
        report = prune_store(store, cutoff, vacuum=not no_vacuum)
    click.echo(
        f"Emptied {report.bodies} article bodies and removed {report.run_errors} run errors "
        f"first recorded before {cutoff:%Y-%m-%d %H:%M} UTC; store {report.bytes_before / 1e6:.1f} MB "
        f"→ {report.bytes_after / 1e6:.1f} MB"
    )


@click.command()
@click.option("--since", default="1d", show_default=True, metavar="WHEN", help="Start: a duration ago or a date.")
@click.option("--until", metavar="WHEN", help="End: a duration ago or a date (default: now).")
@click.option("--markdown", is_flag=True, help="Markdown instead of plain text.")
@click.option("--json", "as_json", is_flag=True, help="The report's data as JSON.")
@click.option(
    "--html",
    "html_path",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report with its charts to FILE: one HTML file that opens offline.",
)
@pass_state
def report(state: State, since: str, until: str | None, markdown: bool, as_json: bool, html_path: str | None) -> None:
    """A readable summary of a period: matches per rule and source, top stories, alert delivery.

    With --html, a self-contained HTML page with charts (matches per rule per day, the stories
    carried by the most outlets, sources by articles and failures, alert delivery latency).

    \b
    Example:
        monitor report --since 7d --markdown > week.md
        monitor report --since 7d --html week.html
    """
    from monitor.ops import build_report, render_report, write_html_report

    state.config()
    try:
        start, end = since_or_date(since), since_or_date(until) if until else None
    except DurationError as error:
        raise UsageProblem(f"--since/--until {error}") from None
    with state.store(create=False) as store:
        data = build_report(store, start, end)
    if html_path:
        from pathlib import Path

        try:
            write_html_report(data, Path(html_path))
        except OSError as error:
            raise click.ClickException(f"{html_path}: cannot write the report: {error.strerror or error}") from None
        click.echo(f"Wrote the report with its charts to {html_path}", err=True)
        return
    click.echo(json.dumps(data, indent=2) if as_json else render_report(data, markdown=markdown), nl=as_json)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8001, show_default=True, help="Port to listen on.")
@pass_state
def browse(state: State, host: str, port: int) -> None:
    """Explore the store in Datasette (read-only): tables explained, full-text search, canned queries.

    \b
    Example:
        monitor browse --port 8001    # then open http://127.0.0.1:8001/
    """
    import tempfile
    from pathlib import Path

    from monitor.ops import run_browser, write_metadata

    state.config()
    state.store(create=False).close()  # migrate an older store before Datasette opens it read-only
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: listening on {host}: anyone who can reach it can read the store.", err=True)
    with tempfile.TemporaryDirectory(prefix="monitor-browse-") as folder:
        metadata_path = write_metadata(state.db_path, Path(folder))
        click.echo(f"Datasette on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
        sys.exit(run_browser(state.db_path, metadata_path, host=host, port=port))


def _cluster_status(url: str) -> dict[str, Any]:
    import redis

    from monitor.cluster import ClusterError, cluster_status

    try:
        return cluster_status(url)
    except (ClusterError, redis.RedisError) as error:
        raise UsageProblem(f"--cluster: {error}") from None


def _echo_cluster(cluster: dict[str, Any]) -> None:
    from monitor.output import write_rows

    tasks, pages, results = cluster["tasks"], cluster["pages"], cluster["results"]
    click.echo(
        f"Cluster: configuration {cluster['config_hash'] or 'not published'}; runs waiting {tasks['waiting']},"
        f" running {tasks['in_progress']}; pages waiting {pages['waiting']}, being fetched {pages['in_progress']};"
        f" results waiting for the writer {results['entries']}"
    )
    if cluster["workers"]:
        write_rows(cluster["workers"], "table", sys.stdout)
    else:
        click.echo("no worker has joined")
    for worker in cluster["workers"]:
        if not worker["alive"]:
            click.echo(f"worker {worker['name']} is silent: no heartbeat for {worker['last_heartbeat_seconds_ago']} s")
    click.echo()


@click.command()
@click.option(
    "--cluster",
    metavar="redis://HOST:PORT/DB",
    envvar="MONITOR_CLUSTER",
    required=True,
    help="The Redis of `monitor serve --cluster` (env MONITOR_CLUSTER).",
)
@click.option("--name", help="This worker's name in status (default: HOST:PID).")
@click.option("--slots", default=8, show_default=True, help="Source-runs (their feeds, sitemaps) read at once.")
@click.option(
    "--page-slots", default=16, show_default=True, help="Article pages (of any worker's runs) fetched at once."
)
@click.option(
    "--claim-after",
    default="60s",
    show_default=True,
    help="Take over the runs of a worker silent this long.",
)
@click.option("--cache-dir", metavar="DIR", help="HTTP cache of indexes (default: ~/.cache/monitor/http).")
@pass_state
def worker(
    state: State,
    cluster: str,
    name: str | None,
    slots: int,
    page_slots: int,
    claim_after: str,
    cache_dir: str | None,
) -> None:
    """Crawl, extract and score the source-runs `monitor serve --cluster` publishes, until SIGINT or SIGTERM.

    Runs on any machine that reaches the Redis; needs MONITOR_CLUSTER_KEY, the same as
    the writer's. No store and no secrets of destinations here: results go to the writer.

    \b
    Example:
        MONITOR_CLUSTER_KEY=... monitor worker --cluster redis://10.0.0.5:6379/0
    """
    import signal
    import threading

    from monitor.cli.common import crawl_log_level
    from monitor.cluster import ClusterError, Worker
    from monitor.config import parse_duration

    try:
        claim_seconds = parse_duration(claim_after)
    except DurationError as error:
        raise UsageProblem(f"--claim-after {error}") from None
    stop = threading.Event()

    def on_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    try:
        member = Worker(
            cluster,
            name=name,
            slots=slots,
            page_slots=page_slots,
            claim_after=claim_seconds,
            cache_dir=cache_dir,
            log_level=crawl_log_level(state),
            stop=stop,
        )
    except ClusterError as error:
        raise UsageProblem(str(error)) from None
    member.run()


COMMANDS = [status, prune, report, browse, worker]
