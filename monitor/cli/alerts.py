"""``monitor alerts …``: inspect, retry, resume, test and send the messages in the outbox.

Destination URLs are credentials: they are shown redacted (scheme and host only), never whole.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from monitor.cli.common import EXIT_ERROR, State, UsageProblem, echo_paused, off_destination, pass_state, since_value
from monitor.config import DestinationSpec
from monitor.errors import MonitorError
from monitor.output import write_rows
from monitor.store.outbox import STATUSES
from monitor.timestamps import utcnow


@click.group()
def alerts() -> None:
    """Inspect, retry, resume, test and send the alerts in the outbox.

    \b
    Example:
        monitor alerts list --status dead
    """


def _summary(row: dict[str, Any]) -> str:
    """What a message is about, in a few words: the headline, the digest's size, or the paused destination."""
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    if row["kind"] == "digest":
        return f"digest of {payload.get('count', '?')} alert(s)"
    if row["kind"] == "notice":
        return f"notice: {payload.get('destination', '?')} paused"
    article = payload.get("article")
    return str(article.get("title") or "") if isinstance(article, dict) else ""


@alerts.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only messages in this status.")
@click.option("--destination", metavar="NAME", help="Only this destination's messages.")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
def list_command(state: State, status: str | None, destination: str | None, limit: int, as_json: bool) -> None:
    """The outbox, newest first: each alert, digest and notice with its status, attempts and last error.

    \b
    Example:
        monitor alerts list --status dead --destination newsroom
    """
    from monitor.store.destinations import paused_destinations
    from monitor.store.outbox import list_alerts

    state.config()
    with state.store(create=False) as store:
        rows = list_alerts(store, status, limit, destination=destination)
        paused = paused_destinations(store)
    shown = [
        {
            "id": row["id"],
            "created_at": row["created_at"],
            "kind": row["kind"],
            "destination": row["destination"],
            "status": row["status"],
            "attempts": row["attempts"],
            "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
            "last_status": row["last_status"],
            "last_error": row["last_error"],
            "about": _summary(row),
            "story_key": row["story_key"],
            "digest_id": row["digest_id"],
        }
        for row in rows
    ]
    if as_json:
        write_rows(shown, "json", sys.stdout)
        return
    for row in shown:  # the table stays narrow; --json has everything
        for key in ("story_key", "digest_id", "next_attempt_at"):
            row.pop(key)
    write_rows(shown, "table", sys.stdout, table_widths={"about": 50, "last_error": 40})
    for name, info in paused.items():
        echo_paused(name, info["paused_at"], info["paused_reason"])


@alerts.command()
@click.argument("alert_ids", nargs=-1, metavar="[ID]...")
@click.option("--dead", is_flag=True, help="Retry every dead alert (of --destination, if given).")
@click.option("--destination", metavar="NAME", help="With --dead: only this destination's.")
@pass_state
def retry(state: State, alert_ids: tuple[str, ...], dead: bool, destination: str | None) -> None:
    """Send dead alerts again, now, with a fresh attempt count; resumes their destinations if paused.

    \b
    Example:
        monitor alerts retry --dead --destination newsroom
    """
    from monitor.store.destinations import resume_destination
    from monitor.store.outbox import dead_ids
    from monitor.store.outbox import retry as retry_alerts

    if bool(alert_ids) == dead:
        raise UsageProblem("give alert ids or --dead (not both)")
    if destination and not dead:
        raise UsageProblem("--destination goes with --dead")
    state.config()
    now = utcnow()
    with state.store(create=False) as store:
        ids = list(alert_ids) or dead_ids(store, destination)
        try:
            rows = retry_alerts(store, ids, now)
        except MonitorError as error:
            raise UsageProblem(str(error)) from None
        resumed = sorted(name for name in {r["destination"] for r in rows} if resume_destination(store, name, now))
    click.echo(f"{len(rows)} alert(s) will be sent on the next `monitor alerts send`, `run` or `serve` tick")
    for name in resumed:
        click.echo(f"destination {name} resumed")


@alerts.command()
@click.argument("destination", metavar="DESTINATION")
@pass_state
def resume(state: State, destination: str) -> None:
    """Resume a paused destination: its waiting alerts go out, in order, on the next send.

    \b
    Example:
        monitor alerts resume newsroom
    """
    from monitor.store.destinations import resume_destination
    from monitor.store.outbox import count_waiting

    config = state.config()
    if destination not in {d.name for d in config.alerts.destinations}:
        raise UsageProblem(f"no destination named {destination} in {config.path}")
    with state.store() as store:
        if not resume_destination(store, destination, utcnow()):
            click.echo(f"destination {destination} was not paused")
            return
        waiting = count_waiting(store, destination)
    click.echo(f"destination {destination} resumed; {waiting} alert(s) waiting for it")


@alerts.command()
@click.argument("destination", metavar="DESTINATION")
@pass_state
def test(state: State, destination: str) -> None:
    """Send a sample alert to one destination now (not through the outbox) and print what it answered.

    \b
    Example:
        monitor alerts test newsroom
    """
    from monitor.alerts import redact_url, send_sample
    from monitor.store.destinations import paused_destinations

    spec = _destination(state, destination)
    outcome = send_sample(spec)
    where = f"{spec.name} ({spec.type}, {redact_url(spec.url)})"
    protocol = "SMTP" if spec.type == "email" else "HTTP"
    if outcome.delivered:
        answer = f"{protocol} {outcome.status}" if outcome.status is not None else "accepted"
        recipients = f" for {', '.join(spec.mail_to)}" if spec.type == "email" else ""
        click.echo(f"test alert delivered to {where}{recipients}: {answer} in {outcome.seconds:.2f} s")
    else:
        status = f"{protocol} {outcome.status}" if outcome.status is not None else "no answer"
        click.echo(f"test alert NOT delivered to {where}: {status}: {outcome.error}")
        if outcome.permanent:
            what = (
                "the login, server or sender is refused"
                if spec.type == "email"
                else "the URL is wrong, revoked or archived"
            )
            click.echo(f"  this answer is permanent: {what}; in a send it pauses")
        elif spec.type == "apprise":
            click.echo("  Apprise reports only success or failure: in a send, a failure is retried on the schedule")
    try:
        with state.store(create=False) as store:
            paused = paused_destinations(store).get(spec.name)
    except UsageProblem:  # no store yet: nothing can be paused
        paused = None
    if paused:
        click.echo(f"note: {spec.name} is paused since {paused['paused_at']}; `monitor alerts resume {spec.name}`")
    if not outcome.delivered:
        sys.exit(EXIT_ERROR)


def _destination(state: State, name: str) -> DestinationSpec:
    config = state.config()
    spec = next((d for d in config.alerts.destinations if d.name == name), None)
    if spec is None:
        known = ", ".join(d.name for d in config.alerts.destinations) or "none"
        raise UsageProblem(f"no destination named {name} in {config.path} (destinations: {known})")
    if not spec.enabled:
        raise UsageProblem(f"destination {name} is off: its URL variable is empty")
    return spec


@alerts.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@pass_state
def send(state: State, as_json: bool) -> None:
    """Deliver every due alert now (make due digests, retry what is due) and print a summary.

    \b
    Example:
        monitor alerts send
    """
    from monitor.alerts import deliver_due
    from monitor.store.destinations import paused_destinations
    from monitor.store.reports import outbox_counts, outbox_totals

    config = state.config()
    with state.store() as store:
        try:
            report = deliver_due(store, config.alerts.destinations, max_attempts=config.alerts.max_attempts)
        except MonitorError as error:
            raise click.ClickException(str(error)) from None
        paused = paused_destinations(store)
        counts = outbox_counts(store)
    if as_json:
        click.echo(json.dumps({**vars(report), "paused_destinations": sorted(paused)}))
        return
    totals = outbox_totals(counts)
    click.echo(
        f"Alerts: {report.sent} sent, {report.failed} failed (will retry), {report.dead} dead, "
        f"{report.held} held for a digest, {report.digests} digest(s) made\n"
        f"Outbox: {totals['waiting']} waiting to be sent ({totals['retrying']} of them to retry), "
        f"{totals['held']} held for a digest, {totals['dead']} dead"
    )
    for name, info in paused.items():
        waiting = outbox_totals({name: counts.get(name, {})})["waiting"]
        click.echo(f"  destination {name} is paused: {info['paused_reason']}; {waiting} waiting for it"
                   f" (`monitor alerts resume {name}`)")  # fmt: skip
    for spec in config.alerts.destinations:
        if not spec.enabled:
            click.echo(f"  {off_destination(spec.name)}")


@alerts.command()
@click.option("--since", required=True, metavar="DURATION", help="Articles matched since then: 2d, 12h, or a date.")
@click.option("--destination", metavar="NAME", help="Only this destination (default: every one that is on).")
@pass_state
def replay(state: State, since: str, destination: str | None) -> None:
    """Queue the alerts a destination missed (while its URL was empty, say), once each, as a crawl would have.

    \b
    Example:
        monitor alerts replay --since 2d --destination slack
    """
    from monitor.alerts import build_event
    from monitor.store import alert_id, alert_key
    from monitor.store.outbox import missed_alerts, queue_missed, stored_article
    from monitor.timestamps import iso

    config = state.config()
    cutoff = since_value(since)
    if destination is not None:
        names = [_destination(state, destination).name]
    else:
        names = [d.name for d in config.alerts.destinations if d.enabled]
        if not names:
            raise UsageProblem("no destination is on: every URL variable is empty")
    now, total = utcnow(), 0
    with state.store(create=False) as store:
        for name in names:
            missed = missed_alerts(store, name, config.rules, config.alerts.threshold, since=cutoff)
            queued = 0
            for entry in missed:
                article = stored_article(store, entry.article_id)
                key = alert_key(entry.story_key, name)
                event = build_event(alert_id(key), article, entry.article_id, entry.verdict, iso(now) or "")
                queued += queue_missed(store, entry, name, event, now)
            total += queued
            click.echo(f"destination {name}: {queued} missed alert(s) queued (matched since {iso(cutoff)})")
    if total:
        click.echo("They go out on the next `monitor alerts send`, `run` or `serve` tick.")


COMMANDS = [alerts]
