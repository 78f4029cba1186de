"""The ``monitor`` command: one click group, kebab-case subcommands, exit codes defined once.

Only this module turns the core's typed exceptions into messages and exit codes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from monitor import __version__
from monitor.config.durations import DurationError
from monitor.config.durations import since as parse_since
from monitor.config.load import load_config
from monitor.config.model import Config
from monitor.errors import ConfigError, MonitorError, StoreError
from monitor.logs import FORMATS as LOG_FORMATS
from monitor.logs import configure_logging
from monitor.output import write_rows
from monitor.store import Store, sync_sources

EXIT_OK = 0
EXIT_ERROR = 1  # something failed at run time (a fetch, a query)
EXIT_CONFIG = 2  # the configuration, the store or the command line is unusable

log = logging.getLogger("monitor")


class UsageProblem(click.ClickException):
    """A problem with the configuration, the store or the arguments: exit status 2."""

    exit_code = EXIT_CONFIG


class State:
    """The global options, passed to every command."""

    def __init__(self, config_path: str, db_path: str):
        self.config_path = config_path
        self.db_path = db_path
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="MONITOR_CONFIG",
    default="rules.yaml",
    show_default=True,
    help="The configuration file (env MONITOR_CONFIG).",
)
@click.option(
    "--db",
    "db_path",
    envvar="MONITOR_DB",
    default="db/monitor.db",
    show_default=True,
    help="The SQLite store (env MONITOR_DB).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for the crawl's own log).")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    envvar="MONITOR_LOG_FORMAT",
    show_default=True,
    help="Log lines as text or JSON (env MONITOR_LOG_FORMAT).",
)
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str, db_path: str, verbose: int, log_format: str) -> None:
    """Watch news sources, score articles with keyword rules, and alert on matches.

    \b
    Example:
        monitor check && monitor run && monitor matches --since 1d
    """
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    configure_logging(level, log_format)
    os.environ["MONITOR_LOG_FORMAT"] = log_format  # crawl processes inherit it
    ctx.obj = State(config_path, db_path)
    ctx.obj.verbose = verbose


@cli.command()
@pass_state
def check(state: State) -> None:
    """Validate the configuration and say what it contains.

    \b
    Example:
        monitor --config rules.yaml check
    """
    from monitor.alerts.redact import redact_url

    config = state.config()
    click.echo(f"{config.path}: OK")
    click.echo(f"  {len(config.sources)} sources: " + ", ".join(s.name for s in config.sources))
    click.echo(f"  {len(config.rules)} rules: " + ", ".join(r.name for r in config.rules))
    click.echo(f"  alert threshold {config.alerts.threshold:g}")
    for destination in config.alerts.destinations:
        where = redact_url(destination.url) if destination.enabled else "off (its URL variable is empty)"
        signed = ", signed" if destination.secret else ""
        click.echo(f"  destination {destination.name} ({destination.type}{signed}, {destination.mode}): {where}")


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Crawl only this source (repeatable).")
@click.option("--no-send", is_flag=True, help="Queue alerts but do not deliver them now.")
@pass_state
def run(state: State, sources: tuple[str, ...], no_send: bool) -> None:
    """Crawl every source once, store and score what is new, and send the alerts it owes.

    \b
    Example:
        monitor run --source bbc-world
    """
    from monitor.runs.runner import run_once

    config = state.config()
    unknown = [name for name in sources if name not in {s.name for s in config.sources}]
    if unknown:
        raise UsageProblem(f"no source named {', '.join(unknown)} in {config.path}")
    store = state.store()
    try:
        sync_sources(store, config.sources)
        summary = run_once(config, store, sources, send=not no_send, log_level=_crawl_log_level(state))
    except MonitorError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    click.echo(summary.render())


@cli.command()
@click.option("--send-interval", default="30s", show_default=True, help="How often to deliver due alerts.")
@click.option("--grace", default="60s", show_default=True, help="How long running crawls may take to finish on stop.")
@click.option("--health-port", type=int, metavar="PORT", help="Serve GET /healthz on 127.0.0.1:PORT.")
@pass_state
def serve(state: State, send_interval: str, grace: str, health_port: int | None) -> None:
    """Crawl each source on its own interval until SIGINT or SIGTERM; reload the config on SIGHUP.

    \b
    Example:
        monitor serve --health-port 8787
    """
    from monitor.config.durations import parse_duration
    from monitor.ops.serve import serve as serve_forever

    config = state.config()
    try:
        seconds = parse_duration(send_interval)
        grace_seconds = parse_duration(grace)
    except DurationError as error:
        raise UsageProblem(f"--send-interval/--grace {error}") from None
    state.store().close()  # fail now, not at the first run, if the store is unusable
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
    serve_forever(
        config,
        state.db_path,
        send_interval=seconds,
        log_level=_crawl_log_level(state),
        grace_seconds=grace_seconds,
        health_port=health_port,
    )


@cli.command()
@click.argument("target", metavar="PATH_OR_URL")
@click.option("--url", "page_url", metavar="URL", help="The page's original URL, when scoring a saved file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--explain", is_flag=True, help="Explain each rule: points, hits, sentences, vetoes, gate.")
@pass_state
def score(state: State, target: str, page_url: str | None, as_json: bool, explain: bool) -> None:
    """Extract and score one saved page or URL, and say whether it would alert.

    \b
    Example:
        monitor score saved-page.html --url https://example.com/story --json
    """
    from datetime import UTC, datetime

    from monitor.extract.article import extract_article
    from monitor.extract.fetch import fetch_page, read_page
    from monitor.rules.engine import compile_rules, score_article
    from monitor.rules.explain import explain as explain_verdict

    config = state.config()
    try:
        if target.startswith(("http://", "https://")):
            url, html = fetch_page(target, config.crawl)
        else:
            path = Path(target)
            html = read_page(path)
            url = page_url or path.resolve().as_uri()
        article = extract_article(html, url)
        verdict = score_article(
            compile_rules(config.rules),
            article,
            threshold=config.alerts.threshold,
            now=datetime.now(UTC),
            max_age_seconds=config.alerts.max_age_seconds,
        )
    except MonitorError as error:
        raise click.ClickException(str(error)) from None
    enabled = [d.name for d in config.alerts.destinations if d.enabled]
    if as_json:
        result = {
            "title": article.title,
            "published": article.published.isoformat() if article.published else None,
            "canonical_url": article.canonical_url,
            "authors": article.authors,
            "language": article.language,
            "score": verdict.score,
            "threshold": verdict.threshold,
            "alert": verdict.alert,
            "rules": [{"rule": m.rule, "score": m.score} for m in verdict.matches],
            "hits": [hit.to_dict() for hit in verdict.hits],
            "alert_rules": [m.rule for m in verdict.alerting()],
            "destinations": list(verdict.alert_destinations(enabled)),
            "matches": [m.to_dict() for m in verdict.matches],
            "vetoed": [m.to_dict() for m in verdict.vetoed],
        }
        if explain:
            result["explanation"] = explain_verdict(verdict, enabled)
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(f"{article.title}")
    click.echo(f"  {article.canonical_url}")
    click.echo(
        f"  published {article.published.isoformat() if article.published else 'unknown'}"
        f"  authors {', '.join(article.authors) or 'unknown'}  language {article.language or '?'}"
    )
    if explain:
        for line in explain_verdict(verdict, enabled):
            click.echo(f"  {line}" if line.startswith("score") else line)
        return
    decision = "ALERT" if verdict.alert else "no alert"
    click.echo(f"  score {verdict.score:g} (threshold {verdict.threshold:g}): {decision}")
    for match in verdict.matches:
        click.echo(f"  rule {match.rule}: {match.score:g}")
        for hit in match.hits:
            line = f"    {hit.term!r} in {hit.field} ×{hit.count}"
            click.echo(line + (f": {hit.snippet}" if hit.field == "title" else ""))
    for match in verdict.vetoed:
        click.echo(f"  rule {match.rule}: vetoed by " + ", ".join(repr(hit.term) for hit in match.vetoed_by))


def filter_options(func: Any) -> Any:
    """--since, --until, --source, --rule, --min-score: shared by the commands that read the store."""
    func = click.option("--min-score", type=float, metavar="N", help="Only scores of at least N.")(func)
    func = click.option("--rule", metavar="NAME", help="Only articles this rule matched.")(func)
    func = click.option("--source", metavar="NAME", help="Only articles from this source.")(func)
    func = click.option("--until", metavar="WHEN", help="Only before then: a duration ago (2d) or a date.")(func)
    return click.option("--since", metavar="WHEN", help="Only since then: a duration ago (7d, 12h) or a date.")(func)


def _filters(
    since: str | None, until: str | None, source: str | None, rule: str | None, min_score: float | None
) -> Any:
    from monitor.store.queries import Filters

    return Filters(since=_since(since), until=_since(until), source=source, rule=rule, min_score=min_score)


@cli.command()
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
            rows = search_store(store, query, filters=_filters(**filters), limit=limit)
        except MonitorError as error:
            raise UsageProblem(str(error)) from None
    write_rows(rows, fmt, sys.stdout, table_widths={"title": 60, "snippet": 80, "url": 60, "published": 19})


@cli.command()
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
        rows = list_matches(store, filters=_filters(**filters), limit=limit)
    widths = {"title": 50, "terms": 60, "url": 50, "alerts": 40, "gate": 40}
    write_rows(rows, fmt, sys.stdout, table_widths=widths)


@cli.command()
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
        rows = list_stories(store, filters=_filters(**filters), limit=limit)
    write_rows(rows, fmt, sys.stdout, table_widths={"title": 50, "sources": 40, "url": 50, "alerts": 40})


@cli.command()
@click.option("--keep-serving", is_flag=True, help="Keep the demo sites up afterwards, until Ctrl-C.")
@click.option("--db", "demo_db", default="db/demo.db", show_default=True, help="Where the demo's store goes.")
def demo(keep_serving: bool, demo_db: str) -> None:
    """Run the whole pipeline offline: local news sites, a crawl, alerts to a local receiver, a search.

    \b
    Example:
        monitor demo
    """
    from monitor.demo import run_demo

    try:
        code = run_demo(Path(demo_db), sys.stdout, keep_serving=keep_serving)
    except MonitorError as error:
        raise click.ClickException(str(error)) from None
    sys.exit(code)


def _since(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_since(value)
    except DurationError as error:
        raise UsageProblem(f"--since {error}") from None


def _crawl_log_level(state: State) -> str:
    return "INFO" if getattr(state, "verbose", 0) > 1 else "WARNING"


def main() -> None:
    """The console script."""
    cli(prog_name="monitor")


def _register_groups() -> None:
    # Imported late: the subcommand modules import State and pass_state from here.
    from monitor.cli.alerts import alerts
    from monitor.cli.ops import browse, prune, report, status
    from monitor.cli.rules import rules

    cli.add_command(rules)
    cli.add_command(alerts)
    cli.add_command(status)
    cli.add_command(prune)
    cli.add_command(report)
    cli.add_command(browse)


_register_groups()
