"""A Datasette plugin: the report's charts on a page of ``monitor browse``, ``/-/charts``, beside the canned queries.

Datasette loads this file itself (``--plugins-dir``, see ``monitor.ops.browse``); it is
never imported by the monitor. The page is rendered on each request from Datasette's
own read-only connection, with the charts inline as SVG: nothing is fetched from
elsewhere. ``?since=`` and ``?until=`` take what ``monitor report`` takes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from datasette import hookimpl  # type: ignore[import-untyped]
from datasette.utils.asgi import Response  # type: ignore[import-untyped]
from markupsafe import Markup

from monitor.config import DurationError, since
from monitor.ops.report import build_report, chart_data
from monitor.ops.report_html import chart_figures
from monitor.store import Store

PLUGIN = "monitor-charts"
PATH = "/-/charts"
DEFAULT_SINCE = "7d"
PERIODS = (("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("365d", "a year"))
PAGE = """{% extends "base.html" %}
{% block title %}Charts: {{ database }}{% endblock %}
{% block extra_head %}<style>
.charts-page { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }
.charts-page .charts { flex: 1 1 36rem; min-width: 0; max-width: 52rem; }
.charts-page aside { flex: 0 1 16rem; }
figure.chart { margin: 0 0 1.5rem; } figure.chart svg { width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
</style>{% endblock %}
{% block content %}
<h1>Charts: {{ database }}</h1>
<p>{{ span }}. Period:
{% for value, label in periods %}
<a href="?since={{ value }}">{{ label }}</a>{% if not loop.last %} ·{% endif %}
{% endfor %}</p>
<div class="charts-page">
<div class="charts">{{ figures }}</div>
<aside><h2>Canned queries</h2><ul>
{% for name, query in queries %}
<li><a href="{{ urls.database(database) }}/{{ name }}">{{ query.title }}</a></li>
{% endfor %}
</ul></aside>
</div>
{% endblock %}
"""


@hookimpl  # type: ignore[untyped-decorator]
def register_routes() -> list[tuple[str, Any]]:
    """The charts page."""
    return [(rf"^{PATH}$", charts_page)]


@hookimpl  # type: ignore[untyped-decorator]
def menu_links(datasette: Any) -> list[dict[str, str]]:
    """A link to the charts page in Datasette's menu."""
    return [{"href": datasette.urls.path(PATH), "label": "Charts"}]


async def charts_page(datasette: Any, request: Any) -> Any:
    """The four charts of ``monitor report --html`` for the period asked for, and links to the canned queries."""
    config = datasette.plugin_config(PLUGIN) or {}
    name = config.get("database")
    db = datasette.get_database(name)
    try:
        start = since(request.args.get("since") or DEFAULT_SINCE)
        end = since(request.args["until"]) if request.args.get("until") else None
    except DurationError as error:
        return Response.text(f"since/until: {error}", status=400)

    def report(conn: Any) -> dict[str, Any]:
        return build_report(Store(conn, db.path), start, end)

    data = await db.execute_fn(report)
    period = data["period"]
    queries = (datasette.metadata("queries", database=db.name) or {}).items()
    context = {
        "database": db.name,
        "span": f"{period['since'][:16].replace('T', ' ')} to {period['until'][:16].replace('T', ' ')} UTC",
        "periods": PERIODS,
        # Markup: SVG that matplotlib wrote, every text in it escaped. Drawn off the event loop (~0.5 s).
        "figures": Markup(await asyncio.to_thread(chart_figures, chart_data(data))),
        "queries": sorted(queries),
    }
    html = await datasette.render_template(datasette.jinja_env.from_string(PAGE), context, request=request)
    return Response.html(html)
