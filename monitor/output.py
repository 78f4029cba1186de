"""Print rows as a table for people, or JSON / NDJSON / CSV for scripts.

A table printed to a terminal fits the terminal's width: the columns the caller lets
be cut (titles, URLs, snippets…) are cut with "…" to their usual width, then narrower
until the table fits, the others kept whole; on a terminal too narrow even for that, the
least important of them are left out, and a line under the table says which. A table
piped or redirected keeps every value whole: ``| grep`` and ``> file`` see everything
(and ``--json``/``--csv`` suit scripts best).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

FORMATS = ("table", "json", "ndjson", "csv")
GAP = 2  # spaces between two columns of tabulate's "simple" format
HEADER_PADDING = 2  # tabulate makes each column at least its header and 2 spaces wide (its MIN_PADDING)
MIN_WIDTH = 10  # a column is cut no narrower than this (or its header)


def write_rows(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    stream: TextIO,
    *,
    table_widths: dict[str, int] | None = None,
    width: int | None = None,
) -> None:
    """Write ``rows`` to ``stream`` in ``fmt``.

    A table fits ``width`` (by default the terminal's, when ``stream`` is one) by cutting
    the columns named in ``table_widths`` (most important first), each to at most its
    width there, and leaving the least important out if need be (``fitted_widths``); with
    no width to fit (piped), nothing is cut.
    """
    if fmt == "json":
        json.dump(list(rows), stream, ensure_ascii=False, indent=2, default=str)
        stream.write("\n")
    elif fmt == "ndjson":
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        if rows:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    else:
        _write_table(rows, stream, table_widths or {}, width if width is not None else terminal_width(stream))


def terminal_width(stream: TextIO) -> int | None:
    """The width a table on ``stream`` must fit: the terminal's (or $COLUMNS), or None when it is not a terminal."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    return shutil.get_terminal_size().columns


def _write_table(
    rows: Sequence[dict[str, Any]], stream: TextIO, cuttable: Mapping[str, int], width: int | None
) -> None:
    if not rows:
        stream.write("(nothing found)\n")
        return
    from tabulate import tabulate  # here: ~40 ms to import, and most commands print no table

    shown = [{key: _cell(value) for key, value in row.items()} for row in rows]
    left_out: list[str] = []
    if width is not None:
        widths, left_out = fitted_widths(shown, width, cuttable)
        shown = [
            {key: _shorten(value, widths.get(key)) for key, value in row.items() if key not in left_out}
            for row in shown
        ]
    stream.write(tabulate(shown, headers="keys", tablefmt="simple", disable_numparse=True) + "\n")
    if left_out:
        stream.write(f"(left out to fit: {', '.join(left_out)})\n")


def fitted_widths(
    rows: Sequence[Mapping[str, str]], width: int, cuttable: Mapping[str, int]
) -> tuple[dict[str, int], list[str]]:
    """How to fit a table in ``width``: the widths of the ``cuttable`` columns, and the columns left out.

    ``cuttable`` names the columns that may be cut, most important first, each with its
    usual width. The other columns keep their width. Each cuttable column gets MIN_WIDTH
    (or its header) of the room they leave, then the most important columns get what
    they need of the rest, in turn. When even that is too wide, cuttable columns are left
    out: empty ones first, then the least important, the most important never.
    """
    headers = list(rows[0])
    natural = {key: max(len(key) + HEADER_PADDING, *(len(row[key]) for row in rows)) for key in headers}
    kept = [key for key in cuttable if key in natural]
    left_out: list[str] = []
    while True:
        wanted = {key: max(len(key) + HEADER_PADDING, min(natural[key], cuttable[key])) for key in kept}
        floors = {key: min(wanted[key], max(len(key) + HEADER_PADDING, MIN_WIDTH)) for key in kept}
        columns = [key for key in headers if key not in left_out]
        room = width - GAP * (len(columns) - 1) - sum(natural[key] for key in columns if key not in wanted)
        if room >= sum(floors.values()) or len(kept) <= 1:
            break
        empty = [key for key in kept[1:] if not any(row[key] for row in rows)]
        left_out.append(kept.pop(kept.index(empty[-1])) if empty else kept.pop())
    widths = dict(floors)
    spare = room - sum(floors.values())
    for key in kept:  # the most important first
        more = max(0, min(wanted[key] - widths[key], spare))
        widths[key] += more
        spare -= more
    return widths, left_out


def _cell(value: Any) -> str:
    """A value as one line of a table cell."""
    return "" if value is None else " ".join(str(value).splitlines())


def _shorten(text: str, width: int | None) -> str:
    if width and len(text) > width:
        return text[: width - 1] + "…"
    return text
