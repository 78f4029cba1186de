"""The four charts, each drawn on a fresh matplotlib Figure; each returns its marks with their tooltips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from monitor.charts.data import ChartData

# A mark (a bar) and the text a reader sees when hovering it.
Mark = tuple[Artist, str]

WIDTH_INCHES = 8.0
# Okabe–Ito: distinguishable for colour-blind readers, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FAILURE_COLOUR = "#D55E00"
LABEL_CHARS = 60


def matches_per_rule_per_day(fig: Figure, data: ChartData) -> list[Mark]:
    """Stacked bars: one column per day of the period, one segment per rule that matched that day."""
    ax = _axes(fig)
    days = sorted(set(data.days) | {row.day for row in data.rule_days})
    rows = [row for row in data.rule_days if row.matches > 0]
    if not rows:
        return _empty(ax, "No rule matched in this period")
    at = {day: index for index, day in enumerate(days)}
    stacked = [0] * len(days)
    marks: list[Mark] = []
    for colour, rule in enumerate(sorted({row.rule for row in rows})):
        mine = [row for row in rows if row.rule == rule]
        xs = [at[row.day] for row in mine]
        bars = ax.bar(
            xs,
            [row.matches for row in mine],
            bottom=[stacked[x] for x in xs],
            width=0.8,
            color=_colour(colour),
            label=rule,
        )
        for bar, row, x in zip(bars, mine, xs, strict=True):
            stacked[x] += row.matches
            marks.append((bar, f"{row.day} · {row.rule}: {row.matches} match{'es' if row.matches != 1 else ''}"))
    step = max(1, len(days) // 14)
    ax.set_xticks(range(0, len(days), step), [day[5:] for day in days[::step]], rotation=45 if step > 1 else 0)
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.set_xlabel(f"Day (UTC), {days[0][:4]}" if days[0][:4] == days[-1][:4] else "Day (UTC)")
    ax.set_ylabel("Matches")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside right upper", frameon=False, fontsize="small", title="Rule")
    return marks


def stories_by_outlets(fig: Figure, data: ChartData) -> list[Mark]:
    """Horizontal bars: the matched stories carried by the most outlets, the widest first."""
    ax = _axes(fig, "x")
    stories = [story for story in data.stories if story.outlets > 0]
    if not stories:
        return _empty(ax, "No matched story in this period")
    ys = range(len(stories))
    bars = ax.barh(ys, [story.outlets for story in stories], height=0.7, color=PALETTE[0])
    ax.set_yticks(ys, [_short(story.title) for story in stories], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("Outlets carrying the story")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.bar_label(bars, padding=3, fontsize="small")
    return [
        (bar, f"{story.title} — {story.outlets} outlet{'s' if story.outlets != 1 else ''}: {story.sources}")
        for bar, story in zip(bars, stories, strict=True)
    ]


def sources_by_articles_and_failures(fig: Figure, data: ChartData) -> list[Mark]:
    """Two panels sharing the sources: new articles on the left, failed runs on the right."""
    if not data.sources:
        return _empty(_axes(fig), "No source ran in this period")
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    for ax in (left, right):
        _tidy(ax, "x")
    sources = list(data.sources)
    ys = list(range(len(sources)))
    marks: list[Mark] = []
    panels = (
        (left, PALETTE[0], "New articles", [source.articles for source in sources]),
        (right, FAILURE_COLOUR, "Failed runs", [source.failures for source in sources]),
    )
    for ax, colour, title, counts in panels:
        drawn = [(y, n) for y, n in zip(ys, counts, strict=True) if n > 0]
        bars = ax.barh([y for y, _ in drawn], [n for _, n in drawn], height=0.7, color=colour)
        ax.bar_label(bars, padding=3, fontsize="small")
        ax.set_title(title, fontsize="medium")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, max([*counts, 1]) * 1.15)
        marks += [(bar, f"{sources[y].source}: {n} {title.lower()}") for bar, (y, n) in zip(bars, drawn, strict=True)]
    left.set_yticks(ys, [_short(source.source) for source in sources], fontsize="small")
    left.set_ylim(len(sources) - 0.5, -0.5)
    return marks


def delivery_latency(fig: Figure, data: ChartData) -> list[Mark]:
    """Grouped bars: delivered alerts per latency bucket (queued to delivered), one bar per destination."""
    ax = _axes(fig)
    rows = [row for row in data.latency if row.alerts > 0]
    if not rows:
        return _empty(ax, "No alert delivered in this period")
    buckets = list(data.latency_buckets) + sorted({row.bucket for row in rows} - set(data.latency_buckets))
    destinations = sorted({row.destination for row in rows})
    width = 0.8 / len(destinations)
    marks: list[Mark] = []
    for index, destination in enumerate(destinations):
        mine = [row for row in rows if row.destination == destination]
        offset = (index - (len(destinations) - 1) / 2) * width
        bars = ax.bar(
            [buckets.index(row.bucket) + offset for row in mine],
            [row.alerts for row in mine],
            width=width,
            color=_colour(index),
            label=destination,
        )
        marks += [
            (bar, f"{destination}: {row.alerts} alert{'s' if row.alerts != 1 else ''} delivered in {row.bucket}")
            for bar, row in zip(bars, mine, strict=True)
        ]
    ax.set_xticks(range(len(buckets)), buckets, fontsize="small")
    ax.set_xlabel("Time from queueing to delivery")
    ax.set_ylabel("Alerts delivered")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside right upper", frameon=False, fontsize="small", title="Destination")
    return marks


DRAW: dict[str, Callable[[Figure, ChartData], list[Mark]]] = {
    "matches-per-rule-per-day": matches_per_rule_per_day,
    "stories-by-outlets": stories_by_outlets,
    "sources": sources_by_articles_and_failures,
    "delivery-latency": delivery_latency,
}


def height_for(name: str, data: ChartData) -> float:
    """The figure's height in inches: the bar-per-row charts grow with their rows."""
    rows = {"stories-by-outlets": len(data.stories), "sources": len(data.sources)}.get(name)
    return 3.2 if rows is None else max(2.4, 1.3 + 0.32 * rows)


def _axes(fig: Figure, grid: Literal["x", "y"] = "y") -> Axes:
    ax = fig.add_subplot()
    _tidy(ax, grid)
    return ax


def _tidy(ax: Axes, grid: Literal["x", "y"]) -> None:
    """Light grid lines along the value axis only, no box."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_axisbelow(True)
    ax.grid(axis=grid, color="#e5e5e5", linewidth=0.6)


def _empty(ax: Axes, message: str) -> list[Mark]:
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#666666", transform=ax.transAxes)
    return []


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
