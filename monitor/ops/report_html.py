"""``monitor report --html``: the period's report as one self-contained HTML file, its charts inline as SVG.

Nothing in the file is fetched: no script, no font, no image from elsewhere (a
Content-Security-Policy says so to the browser). Every string from the store, which is
to say from the sites crawled, is escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.charts import CHARTS, ChartData, render_svg
from monitor.ops.report import chart_data

# No network, no script: styles inline, images only as data: URLs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
h1 { margin-bottom: 0.2rem; } .period { color: #555; margin-top: 0; }
figure.chart { margin: 1.5rem 0; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
li { margin-bottom: 0.4rem; } .meta { color: #555; font-size: 0.85rem; }
"""
RULE_COLUMNS = ["rule", "matches", "avg_score", "alerted_articles"]
SOURCE_COLUMNS = ["source", "runs", "failed_runs", "pages", "new_articles", "matches", "alerts", "errors"]
DELIVERY_COLUMNS = ["destination", "status", "alerts"]


def chart_figures(data: ChartData) -> str:
    """The four charts as HTML ``<figure>`` elements (``id="chart-NAME"``), each with its SVG inline."""
    return "\n".join(
        f'<figure class="chart" id="chart-{kind.name}">\n{render_svg(kind.name, data)}\n'
        f"<figcaption>{_e(kind.caption)}</figcaption>\n</figure>"
        for kind in CHARTS
    )


def render_html(report: dict[str, Any]) -> str:
    """The report (a ``build_report``) as a self-contained HTML page with its charts."""
    period = report["period"]
    span = f"{period['since'][:16].replace('T', ' ')} to {period['until'][:16].replace('T', ' ')} UTC"
    articles = report["articles"]
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        '<head>\n<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Monitoring report, {_e(span)}</title>",
        f"<style>{STYLE}</style>\n</head>",
        "<body>\n<main>",
        "<h1>Monitoring report</h1>",
        f'<p class="period">{_e(span)}</p>',
        f"<p>{articles['new']} new articles, {articles['scored']} matched at least one rule.</p>",
        chart_figures(chart_data(report)),
        "<h2>Rules</h2>",
        _table(report["rules"], RULE_COLUMNS),
        "<h2>Sources</h2>",
        _table(report["sources"], SOURCE_COLUMNS),
        "<h2>Top stories</h2>",
        _stories(report["top_stories"]),
        "<h2>Alert delivery</h2>",
        _table(report["delivery"], DELIVERY_COLUMNS),
        f'<p class="meta">Made by monitor {_e(__version__)}.</p>',
        "</main>\n</body>\n</html>\n",
    ]
    return "\n".join(parts)


def write_html_report(report: dict[str, Any], path: Path) -> None:
    """Write ``render_html(report)`` to ``path`` (OSError if it cannot be written)."""
    path.write_text(render_html(report), encoding="utf-8")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{_e(column)}</th>" for column in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(row[c])}</td>' if isinstance(row[c], int | float) else f"<td>{_e(row[c])}</td>"
            for c in columns
        )
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _stories(stories: list[dict[str, Any]]) -> str:
    if not stories:
        return "<p>(none)</p>"
    items = []
    for story in stories:
        title = _e(story["title"])
        url = str(story["url"] or "")
        # Only web links: a stored URL is the site's word, and a javascript: one must not become a link.
        if url.startswith(("http://", "https://")):
            title = f'<a href="{_e(url)}" rel="noreferrer noopener">{title}</a>'
        items.append(
            f'<li>{title}<br><span class="meta">{_e(story["source"])}, score {story["score"]:g};'
            f" rules: {_e(story['rules'])}; alerts: {_e(story['alerts'] or 'none')}</span></li>"
        )
    return "<ol>\n" + "\n".join(items) + "\n</ol>"
