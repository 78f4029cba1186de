"""``monitor report``: a readable summary of a period, as text or Markdown, and the data of its charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from monitor.charts import ChartData, LatencyCount, RuleDay, SourceActivity, StoryReach
from monitor.store import Store
from monitor.store.reports import (
    LATENCY_BUCKETS,
    period_articles,
    period_delivery,
    period_delivery_latency,
    period_rule_days,
    period_rules,
    period_sources,
    period_story_reach,
    period_top_stories,
)
from monitor.timestamps import iso, utcnow

TOP_STORIES = 10
WIDEST_STORIES = 10
MAX_CHART_DAYS = 120  # a longer period's matches chart shows the days with matches only


def build_report(store: Store, since: datetime, until: datetime | None = None) -> dict[str, Any]:
    """Counts per rule and source, top and widest stories, alert delivery and its latency, for [since, until or now]."""
    # Until now, this second included: the store keeps whole seconds, and a run that ended this second counts.
    end = until or utcnow() + timedelta(seconds=1)
    period = {"since": iso(since), "until": iso(end)}
    articles = period_articles(store, since, end)
    rules = period_rules(store, since, end)
    sources = period_sources(store, since, end)
    top = period_top_stories(store, since, end, TOP_STORIES)
    delivery = period_delivery(store, since, end)
    return {
        "period": period,
        "articles": articles,
        "rules": rules,
        "sources": sources,
        "top_stories": top,
        "delivery": delivery,
        "rules_per_day": period_rule_days(store, since, end),
        "widest_stories": period_story_reach(store, since, end, WIDEST_STORIES),
        "delivery_latency": period_delivery_latency(store, since, end),
    }


def chart_data(report: dict[str, Any]) -> ChartData:
    """What the charts of ``report`` (a ``build_report``) show."""
    since = datetime.fromisoformat(report["period"]["since"]).date()
    until = datetime.fromisoformat(report["period"]["until"]) - timedelta(seconds=1)
    span = (until.date() - since).days + 1
    days = () if span > MAX_CHART_DAYS else tuple((since + timedelta(days=n)).isoformat() for n in range(span))
    return ChartData(
        days=days,
        rule_days=tuple(RuleDay(row["day"], row["rule"], int(row["matches"])) for row in report["rules_per_day"]),
        stories=tuple(
            StoryReach(row["title"], int(row["outlets"]), row["sources"] or "") for row in report["widest_stories"]
        ),
        sources=tuple(
            SourceActivity(row["source"], int(row["new_articles"] or 0), int(row["failed_runs"] or 0))
            for row in report["sources"]
        ),
        latency_buckets=tuple(label for _, label in LATENCY_BUCKETS),
        latency=tuple(
            LatencyCount(row["destination"], row["bucket"], int(row["alerts"])) for row in report["delivery_latency"]
        ),
    )


def render_report(report: dict[str, Any], *, markdown: bool = False) -> str:
    """The report for people: plain text, or Markdown for a wiki or an email."""
    h1, h2 = ("# ", "## ") if markdown else ("", "")
    period = report["period"]
    lines = [f"{h1}Monitoring report, {period['since'][:16]} to {period['until'][:16]} UTC", ""]
    articles = report["articles"]
    lines += [f"{articles['new']} new articles, {articles['scored']} matched at least one rule.", ""]
    lines += [
        f"{h2}Rules",
        *_table(report["rules"], ["rule", "matches", "avg_score", "alerted_articles"], markdown),
        "",
    ]
    lines += [
        f"{h2}Sources",
        *_table(
            report["sources"],
            ["source", "runs", "failed_runs", "pages", "new_articles", "matches", "alerts", "errors"],
            markdown,
        ),
        "",
    ]
    lines.append(f"{h2}Top stories")
    if not report["top_stories"]:
        lines.append("(none)")
    for index, story in enumerate(report["top_stories"], 1):
        title = f"[{story['title']}]({story['url']})" if markdown else story["title"]
        lines.append(
            f"{index}. {title} ({story['source']}, score {story['score']:g}; rules: {story['rules']};"
            f" alerts: {story['alerts'] or 'none'})"
        )
        if not markdown:
            lines.append(f"   {story['url']}")
    lines += ["", f"{h2}Alert delivery", *_table(report["delivery"], ["destination", "status", "alerts"], markdown)]
    return "\n".join(lines) + "\n"


def _table(rows: list[dict[str, Any]], columns: list[str], markdown: bool) -> list[str]:
    if not rows:
        return ["(none)"]
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    if markdown:
        return [
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells),
        ]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        *("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells),
    ]
