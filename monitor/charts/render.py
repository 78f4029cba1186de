"""Charts as SVG text (to inline in HTML) or PNG bytes (for email clients), deterministic and offline.

Each chart is drawn on its own ``Figure`` with the Agg canvas (no pyplot, no GUI, no
global figure list). Every mark (bar) is an SVG group whose id is ``{chart}-mark-{n}``,
holding a ``<title>`` tooltip, so a browser test can count the marks in the DOM.
The same data gives the same bytes: the SVG ids are salted with the chart's name, and
neither format carries a date.
"""

from __future__ import annotations

import html
import io
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.charts.data import ChartData

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

    from monitor.charts.draw import Mark


@dataclass(frozen=True)
class ChartKind:
    """A chart the report shows: its name (the SVG id and the key of its drawing in ``draw.DRAW``), title, caption."""

    name: str
    title: str
    caption: str


CHARTS: tuple[ChartKind, ...] = (
    ChartKind(
        "matches-per-rule-per-day",
        "Matches per rule per day",
        "Each column is a UTC day; each segment the matches of one rule that day.",
    ),
    ChartKind(
        "stories-by-outlets",
        "Stories carried by the most outlets",
        "Matched stories first seen in the period, by how many outlets (sources) carried them.",
    ),
    ChartKind(
        "sources",
        "Sources by articles and by failures",
        "New articles each source gave, and its failed runs, over the period.",
    ),
    ChartKind(
        "delivery-latency",
        "Alert delivery latency",
        "Delivered alerts by the time from queueing to delivery (a digested alert: to its digest's delivery).",
    ),
)
CHART_NAMES = tuple(kind.name for kind in CHARTS)

# rcParams are global: one chart is rendered at a time (Datasette renders in a thread pool).
_LOCK = threading.Lock()


def chart_kind(name: str) -> ChartKind:
    """The chart called ``name``; KeyError if there is none."""
    for kind in CHARTS:
        if kind.name == name:
            return kind
    raise KeyError(name)


def render_svg(name: str, data: ChartData) -> str:
    """The chart as an ``<svg>`` element (no XML prolog) to inline in HTML; its root id is ``name``."""
    import matplotlib

    with _LOCK, matplotlib.rc_context(_style(name)):
        fig, marks = _draw(name, data)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg ") :]  # without the XML declaration and DOCTYPE, which HTML has no use for
    tooltips = [html.escape(tooltip, quote=False) for _, tooltip in marks]
    return re.sub(
        rf'<g id="{re.escape(name)}-mark-(\d+)">',
        lambda group: f"{group[0]}<title>{tooltips[int(group[1])]}</title>",
        text,
    )


def render_png(name: str, data: ChartData, *, dpi: int = 100) -> bytes:
    """The chart as PNG bytes (8 inches wide: 800 pixels at the default ``dpi``), for an email client."""
    import matplotlib

    with _LOCK, matplotlib.rc_context(_style(name)):
        fig, _ = _draw(name, data)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _draw(name: str, data: ChartData) -> tuple[Figure, list[Mark]]:
    # matplotlib loads in ~0.3 s: only when a chart is drawn, not with every command that imports the report.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from monitor.charts import draw

    kind = chart_kind(name)
    fig = Figure(figsize=(draw.WIDTH_INCHES, draw.height_for(name, data)), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(kind.title, x=0.02, ha="left", fontweight="bold")
    marks = draw.DRAW[name](fig, data)
    for index, (artist, _) in enumerate(marks):
        artist.set_gid(_mark_id(name, index))
    return fig, marks


def _mark_id(name: str, index: int) -> str:
    return f"{name}-mark-{index}"


def _style(name: str) -> dict[RcKeyType, object]:
    return {
        "svg.hashsalt": name,  # stable ids, distinct between the charts of one page
        "svg.id": name,
        "svg.fonttype": "none",  # text as <text>: selectable, and no glyph ids shared between charts
        "text.parse_math": False,  # a "$" in a headline is a dollar sign, not mathtext
        "font.family": "DejaVu Sans",
        "font.size": 10,
    }
