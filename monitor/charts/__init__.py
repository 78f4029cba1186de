"""Charts of a monitoring period: plain data in, SVG text or PNG bytes out. No store, no clock, no network.

What other packages use: the data classes (``ChartData`` and its rows), ``CHARTS`` (name,
title, caption of each chart, in report order), ``render_svg`` (an ``<svg>`` element to
inline in HTML) and ``render_png`` (bytes for an email client). Drawn with matplotlib's
Agg canvas; each mark is an SVG group ``{chart}-mark-{n}`` with a tooltip.
"""

from monitor.charts.data import ChartData, LatencyCount, RuleDay, SourceActivity, StoryReach
from monitor.charts.render import CHART_NAMES, CHARTS, ChartKind, chart_kind, render_png, render_svg

__all__ = [
    "CHARTS",
    "CHART_NAMES",
    "ChartData",
    "ChartKind",
    "LatencyCount",
    "RuleDay",
    "SourceActivity",
    "StoryReach",
    "chart_kind",
    "render_png",
    "render_svg",
]
