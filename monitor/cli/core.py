"""The everyday commands: ``check`` the configuration, ``run`` every source once, ``serve``, ``score`` one page.

``monitor check`` validates the whole file and summarises it (sources, rules, threshold,
destinations): the pre-flight before a run. ``monitor rules check`` validates the same
file and prints each rule as parsed, its settings and its tree: for writing rules.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from monitor.cli.common import EXIT_ERROR, State, UsageProblem, crawl_log_level, off_destination, pass_state
from monitor.config import DurationError
from monitor.errors import AlreadyServing, MonitorError
from monitor.store import sync_sources


@click.command()
@pass_state
def check(state: State) -> None:
    """Validate the configuration and say what it contains.

    \b
    Example:
        monitor --config rules.yaml check
    """
    from monitor.alerts import redact_url

    config = state.config()
    click.echo(f"{config.path}: OK")
    click.echo(f"  {len(config.sources)} sources: " + ", ".join(s.name for s in config.sources))
    click.echo(f"  {len(config.rules)} rules: " + ", ".join(r.name for r in config.rules))
    click.echo(f"  alert threshold {config.alerts.threshold:g}")
    off = [d.name for d in config.alerts.destinations if not d.enabled]
    missed = _missed_counts(state, off)
    for destination in config.alerts.destinations:
        if destination.enabled:
            where = redact_url(destination.url)
        else:
            where = "OFF (its URL variable is empty)"
            if destination.name in missed:
                where += (
                    f": it did not get {missed[destination.name]} alert(s) of the articles stored in {state.db_path}"
                )
        signed = ", signed" if destination.secret else ""
        click.echo(f"  destination {destination.name} ({destination.type}{signed}, {destination.mode}): {where}")
    for name in off:
        click.echo(f"Warning: {off_destination(name)}", err=True)


def _missed_counts(state: State, destinations: list[str]) -> dict[str, int]:
    """How many alerts each of ``destinations`` is owed and has not got, by the store (none without a store)."""
    from monitor.store.outbox import missed_alerts

    if not destinations or not Path(state.db_path).exists():
        return {}
    config = state.config()
    with state.store(create=False) as store:
        return {name: len(missed_alerts(store, name, config.rules, config.alerts.threshold)) for name in destinations}


@click.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Crawl only this source (repeatable).")
@click.option("--no-send", is_flag=True, help="Queue alerts but do not deliver them now.")
@pass_state
def run(state: State, sources: tuple[str, ...], no_send: bool) -> None:
    """Crawl every source once, store and score what is new, send the alerts it owes; exit 1 if every source failed.

    \b
    Example:
        monitor run --source bbc-world
    """
    from monitor.runs import run_once

    config = state.config()
    unknown = [name for name in sources if name not in {s.name for s in config.sources}]
    if unknown:
        raise UsageProblem(f"no source named {', '.join(unknown)} in {config.path}")
    store = state.store()
    try:
        sync_sources(store, config.sources)
        summary = run_once(config, store, sources, send=not no_send, log_level=crawl_log_level(state))
    except MonitorError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    click.echo(summary.render())
    if summary.every_source_failed:
        sys.exit(EXIT_ERROR)


@click.command()
@click.option("--send-interval", default="30s", show_default=True, help="How often to deliver due alerts.")
@click.option("--grace", default="60s", show_default=True, help="How long running crawls may take to finish on stop.")
@click.option("--health-port", type=int, metavar="PORT", help="Serve GET /healthz on 127.0.0.1:PORT.")
@click.option(
    "--cluster",
    metavar="redis://HOST:PORT/DB",
    envvar="MONITOR_CLUSTER",
    help="Publish runs to `monitor worker`s through this Redis and write what they find (env MONITOR_CLUSTER).",
)
@click.option(
    "--worker-timeout",
    default="30s",
    show_default=True,
    help="With --cluster: report a worker silent this long to the operator.",
)
@pass_state
def serve(
    state: State, send_interval: str, grace: str, health_port: int | None, cluster: str | None, worker_timeout: str
) -> None:
    """Crawl each source on its own interval until SIGINT or SIGTERM; reload the config on SIGHUP.

    Refuses to start (exit 2) while another `monitor serve` runs on the same store.
    With --cluster, workers on any machine crawl; this process stays the store's only
    writer and the only sender of alerts (MONITOR_CLUSTER_KEY signs what they exchange).

    \b
    Example:
        monitor serve --health-port 8787
        monitor serve --cluster redis://10.0.0.5:6379/0
    """
    from monitor.config import parse_duration
    from monitor.ops import serve as serve_forever

    config = state.config()
    try:
        seconds = parse_duration(send_interval)
        grace_seconds = parse_duration(grace)
        silent_seconds = parse_duration(worker_timeout)
    except DurationError as error:
        raise UsageProblem(f"--send-interval/--grace/--worker-timeout {error}") from None
    state.store().close()  # fail now, not at the first run, if the store is unusable
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
    try:
        serve_forever(
            config,
            state.db_path,
            send_interval=seconds,
            log_level=crawl_log_level(state),
            grace_seconds=grace_seconds,
            health_port=health_port,
            cluster=cluster,
            worker_timeout=silent_seconds,
        )
    except AlreadyServing as error:
        raise UsageProblem(str(error)) from None


@click.command()
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

    from monitor.extract import extract_article, fetch_page, read_page
    from monitor.rules import compile_rules, score_article
    from monitor.rules import explain as explain_verdict

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
            "published_from": article.published_from,
            "updated": article.updated.isoformat() if article.updated else None,
            "canonical_url": article.canonical_url,
            "authors": article.authors,
            "organisations": article.organisations,
            "text_missing": article.text_missing,
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
        f"  authors {', '.join(article.authors) or 'unknown'}"
        + (f"  agencies {', '.join(article.organisations)}" if article.organisations else "")
        + f"  language {article.language or '?'}"
    )
    if article.updated is not None:
        click.echo(f"  updated {article.updated.isoformat()}")
    if article.text_missing:
        click.echo(f"  no body text: {article.text_missing} (the title is scored)")
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


COMMANDS = [check, run, serve, score]
