"""Print rows as a table for people, or JSON / NDJSON / CSV for scripts."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Any, TextIO

from tabulate import tabulate

FORMATS = ("table", "json", "ndjson", "csv")


def write_rows(
    rows: Sequence[dict[str, Any]], fmt: str, stream: TextIO, *, table_widths: dict[str, int] | None = None
) -> None:
    """Write ``rows`` to ``stream`` in ``fmt``; tables shorten the columns named in ``table_widths``."""
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
        widths = table_widths or {}
        shown = [{key: _shorten(value, widths.get(key)) for key, value in row.items()} for row in rows]
        if shown:
            stream.write(tabulate(shown, headers="keys", tablefmt="simple", disable_numparse=True) + "\n")
        else:
            stream.write("(nothing found)\n")


def _shorten(value: Any, width: int | None) -> Any:
    text = "" if value is None else str(value)
    if width and len(text) > width:
        return text[: width - 1] + "…"
    return text
