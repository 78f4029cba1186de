"""``monitor rules …``: check rules as parsed and test them against the stored archive."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import click

from monitor.cli.common import State, UsageProblem, pass_state
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import Article, RuleMatch
from monitor.rules import RuleSpec, hit_line, tree
from monitor.store.reports import articles_since, rule_match_scores
from monitor.timestamps import as_utc


@click.group()
def rules() -> None:
    """Check rules and test them against the stored archive before enabling them.

    \b
    Example:
        monitor rules check && monitor rules test sanctions --since 30d
    """


@rules.command()
@pass_state
def check(state: State) -> None:
    """Validate the rules and print each one as parsed: its settings and its tree.

    \b
    Example:
        monitor --config rules.yaml rules check
    """
    from monitor.rules import definition

    config = state.config()
    click.echo(f"{config.path}: {len(config.rules)} rules OK")
    for spec in config.rules:
        condition, vetoes = definition(spec)
        click.echo("")
        click.echo(f"{spec.name} (line {spec.line}): {_settings(spec, config)}")
        for line in tree(condition, vetoes=vetoes):
            click.echo(f"  {line}")


def _settings(spec: RuleSpec, config: Config) -> str:
    threshold = (
        f"threshold {spec.threshold:g}"
        if spec.threshold is not None
        else (f"alerts with the article score (threshold {config.alerts.threshold:g})")
    )
    where = ", ".join(spec.destinations) if spec.destinations else "every destination"
    age = f"max_age {_duration(spec.max_age_seconds)}" if spec.max_age_seconds else "no max_age"
    return f"weight {spec.weight:g}, {threshold}, to {where}, {age}"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass
class _Outcome:
    article: dict[str, Any]
    now: RuleMatch | None  # what the rule does now (a match, possibly vetoed or gated)
    stored: float | None  # the stored match's score, if there is one


@rules.command()
@click.argument("rule")
@click.option("--since", metavar="WHEN", help="Only articles published (or first seen) since: 30d, 12h or a date.")
@click.option(
    "--file",
    "file",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="Take the rule from this rules.yaml (a new or changed rule) instead of --config.",
)
@click.option(
    "--query",
    metavar="QUERY",
    help="Test this query (as in rules.yaml's query:) as RULE's new definition, or as a new rule named RULE.",
)
@click.option("--limit", default=20, show_default=True, help="List at most this many articles per group.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_state
def test(
    state: State, rule: str, since: str | None, file: str | None, query: str | None, limit: int, as_json: bool
) -> None:
    """Run RULE against stored articles: what it would newly match, and what it would now miss.

    Compares what the rule matches now with the matches stored under its name, so
    a changed rule shows what the change does before it is enabled. With --query,
    RULE is matched by that query instead of its terms (its weight, threshold and
    max_age stay); a RULE that does not exist yet is tested as a new rule. Read-only.

    \b
    Example:
        monitor rules test sanctions --since 30d --file rules-draft.yaml
        monitor rules test nato --query 'NATO AND NOT (football OR "Nato FC")'
    """
    from monitor.config import DurationError, load_config
    from monitor.config import since as parse_since
    from monitor.rules import RuleError, compile_rules, score_article

    config = state.config()
    source = config
    if file is not None:
        try:
            source = load_config(file)
        except ConfigError as error:
            raise UsageProblem(f"invalid configuration:\n{error}") from None
    spec = next((r for r in source.rules if r.name == rule), None)
    if query is not None:
        base = spec or RuleSpec(rule)
        spec = replace(base, terms=(), query=query, condition=None, exclude=(), line=0)
    if spec is None:
        known = ", ".join(r.name for r in source.rules) or "none"
        raise UsageProblem(f"no rule named {rule!r} in {source.path} (rules: {known}); or give it a --query")
    try:
        cutoff = parse_since(since) if since else None
    except DurationError as error:
        raise UsageProblem(f"--since {error}") from None
    try:
        ruleset = compile_rules([spec])
    except RuleError as error:  # only a --query can fail here: rules from a file were checked when loaded
        raise UsageProblem(f"--query: {error}") from None
    outcomes: list[_Outcome] = []
    with state.store(create=False) as store:
        stored = rule_match_scores(store, rule)
        rows = articles_since(store, cutoff)
    for row in rows:
        article = _article(row)
        # The gate is judged as it would have been when the article was crawled.
        verdict = score_article(ruleset, article, threshold=config.alerts.threshold, now=_moment(row["first_seen"]))
        match = next(iter(verdict.matches + verdict.vetoed), None)
        if match is not None or row["id"] in stored:
            outcomes.append(_Outcome(row, match, stored.get(row["id"])))
    origin = f"--query {query!r}" if query is not None else source.path
    _report(spec, origin, len(rows), cutoff, outcomes, limit, as_json)


def _article(row: dict[str, Any]) -> Article:
    return Article(
        url=row["fetched_url"],
        canonical_url=row["url"],
        title=row["title"],
        text=row["text"],
        published=_moment(row["published"]),
        authors=list(json.loads(row["authors"] or "[]")),
        language=row["language"],
        source=row["source"],
    )


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return as_utc(moment)


def _report(
    spec: RuleSpec,
    path: str,
    total: int,
    cutoff: datetime | None,
    outcomes: list[_Outcome],
    limit: int,
    as_json: bool,
) -> None:
    matching = [o for o in outcomes if o.now is not None and not o.now.vetoed_by]
    newly = [o for o in matching if o.stored is None]
    missed = [o for o in outcomes if o.stored is not None and (o.now is None or o.now.vetoed_by)]
    vetoed = [o for o in outcomes if o.now is not None and o.now.vetoed_by and o.stored is None]
    gated = [o for o in matching if o.now is not None and o.now.gate]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "rule": spec.name,
                    "file": path,
                    "articles": total,
                    "since": cutoff.isoformat() if cutoff else None,
                    "would_match": len(matching),
                    "stored_matches": sum(1 for o in outcomes if o.stored is not None),
                    "still_match": len(matching) - len(newly),
                    "newly_match": [_row(o) for o in newly],
                    "now_miss": [_row(o) for o in missed],
                    "vetoed_not_stored": [_row(o) for o in vetoed],
                    "too_old_to_alert": len(gated),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    window = f" since {cutoff:%Y-%m-%d %H:%M} UTC" if cutoff else ""
    click.echo(f"rule {spec.name} from {path}, against {total} stored articles{window}:")
    click.echo(
        f"  would match {len(matching)} (stored matches {sum(1 for o in outcomes if o.stored is not None)}):"
        f" {len(newly)} would newly match, {len(missed)} would now miss, {len(matching) - len(newly)} still match"
    )
    if vetoed or gated:
        click.echo(
            f"  vetoed by an exclusion (and not stored): {len(vetoed)}; matching but too old to alert: {len(gated)}"
        )
    for title, group in (("Would newly match", newly), ("Would now miss", missed), ("Vetoed, not stored", vetoed)):
        if not group:
            continue
        click.echo(f"\n{title}:")
        for outcome in group[:limit]:
            for line in _lines(outcome):
                click.echo(line)
        if len(group) > limit:
            click.echo(f"  … and {len(group) - limit} more (--limit)")


def _lines(outcome: _Outcome) -> list[str]:
    article, now = outcome.article, outcome.now
    day = (article["published"] or article["first_seen"] or "")[:10]
    shown = now.score if now is not None and not now.vetoed_by else outcome.stored or 0.0
    lines = [f"  [{shown:6.2f}] {day}  {article['source']}  {article['title']}", f"           {article['url']}"]
    if outcome.stored is not None:
        lines.append(f"           stored match, score {outcome.stored:g}")
    if now is None:
        lines.append("           now: none of its terms match")
        return lines
    if now.vetoed_by:
        lines.append(f"           now: vetoed (it would score {now.score:g})")
        lines += [f"             by {hit_line(hit, points=False)}" for hit in now.vetoed_by]
        return lines
    lines += [f"           {hit_line(hit)}" for hit in now.hits[:3]]
    if len(now.hits) > 3:
        lines.append(f"           … {len(now.hits) - 3} more hits")
    if now.gate:
        lines.append(f"           no alert: {now.gate}")
    return lines


def _row(outcome: _Outcome) -> dict[str, Any]:
    article = outcome.article
    return {
        "article_id": article["id"],
        "url": article["url"],
        "title": article["title"],
        "source": article["source"],
        "published": article["published"],
        "stored_score": outcome.stored,
        "match": outcome.now.to_dict() if outcome.now is not None else None,
    }


COMMANDS = [rules]
