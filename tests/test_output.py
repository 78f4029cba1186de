"""What the query commands print: tables that fit the terminal, whole when piped, and real JSON."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import DestinationSpec
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store
from tests.sitekit import config_text, write

LONG_TITLE = "EU agrees a new package of sanctions on Russian banks, " + "and much more besides " * 8 + "end"


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, str]:
    """A configuration and a store holding one article that matched two rules and alerted two destinations."""
    config = write(tmp_path / "rules.yaml", config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"))
    destinations = (
        DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/h"),
        DestinationSpec(name="slack", type="slack", url="http://127.0.0.1:9/s"),
    )
    hits = (
        Hit(rule="sanctions", term="sanctions", field="title", count=1, snippet="new **sanctions**", points=3.0),
        Hit(rule="sanctions", term="sanctions", field="body", count=2, snippet="the **sanctions** bite", points=1.33),
    )
    nato = (Hit(rule="nato", term="NATO", field="body", count=1, snippet="**NATO** said", points=1.0),)
    article = Article(
        url="https://news.test/world/" + "long-path-" * 12 + "end",
        canonical_url="https://news.test/world/" + "long-path-" * 12 + "end",
        title=LONG_TITLE,
        text="The EU agreed new sanctions on Russian banks. NATO said little.",
        source="news",
    )
    verdict = Verdict(5.33, 3.0, (RuleMatch("sanctions", 4.33, hits), RuleMatch("nato", 1.0, nato)))
    with Store.open(tmp_path / "m.db") as store:
        save_article(store, article, verdict, destinations)
    return config, str(tmp_path / "m.db")


def test_matches_json_gives_numbers_lists_iso_times_and_hits_as_objects(stored: tuple[str, str]) -> None:
    config, db = stored
    result = CliRunner().invoke(cli, ["--config", config, "--db", db, "matches", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["rule"]: row for row in json.loads(result.output)}
    sanctions = rows["sanctions"]
    assert sanctions["rule_score"] == 4.33 and sanctions["article_score"] == 5.33
    assert sanctions["matched_at"].endswith("+00:00") and "T" in sanctions["matched_at"]
    assert sanctions["hits"] == [
        {"rule": "sanctions", "term": "sanctions", "field": "title", "count": 1, "snippet": "new **sanctions**", "points": 3.0, "kind": "term"},
        {"rule": "sanctions", "term": "sanctions", "field": "body", "count": 2, "snippet": "the **sanctions** bite", "points": 1.33, "kind": "term"},
    ]  # fmt: skip
    assert sanctions["alerts"] == [
        {"destination": "hook", "status": "pending"},
        {"destination": "slack", "status": "pending"},
    ]
    assert sanctions["gate"] is None and "terms" not in sanctions
    ndjson = CliRunner().invoke(cli, ["--config", config, "--db", db, "matches", "--ndjson"]).output
    assert [json.loads(line) for line in ndjson.splitlines()] == json.loads(result.output)


def test_matches_csv_and_tables_show_the_hits_and_alerts_as_text(stored: tuple[str, str]) -> None:
    config, db = stored
    out = CliRunner().invoke(cli, ["--config", config, "--db", db, "matches", "--rule", "sanctions", "--csv"]).output
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["terms"] == "sanctions (title ×1), sanctions (body ×2)"
    assert row["alerts"] == "hook:pending slack:pending"


def test_a_piped_table_keeps_every_value_whole(stored: tuple[str, str]) -> None:
    config, db = stored
    result = CliRunner().invoke(cli, ["--config", config, "--db", db, "matches"])
    assert result.exit_code == 0, result.output
    assert LONG_TITLE in result.output and "long-path-" * 12 + "end" in result.output


def run_in_terminal(args: list[str], columns: int) -> str:
    """Run `python -m monitor ARGS…` with its output on a terminal ``columns`` wide; what it printed."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args], stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL, env=env
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal is gone: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("command", "columns"),
    [
        (["search", "sanctions"], 80),
        (["stories"], 80),
        (["search", "sanctions"], 120),
        (["stories"], 120),
        (["matches"], 120),  # its times, names and scores alone take 89 columns
    ],
)
def test_a_table_on_a_terminal_fits_its_width(stored: tuple[str, str], command: list[str], columns: int) -> None:
    config, db = stored
    shown = run_in_terminal(["--config", config, "--db", db, *command], columns)
    lines = shown.splitlines()
    assert len(lines) >= 3 and "EU agrees" in shown, shown
    assert max(len(line) for line in lines) <= columns, shown
    assert "…" in shown  # the long title and URL were cut, not wrapped


def test_fitted_widths_give_the_most_important_columns_the_room_and_leave_out_the_least() -> None:
    from monitor.output import fitted_widths, write_rows

    rows = [{"id": "1", "score": "13.72", "title": "T" * 120, "url": "U" * 90, "snippet": "S" * 15}]
    cuttable = {"title": 60, "snippet": 60, "url": 60}
    # Columns are at least their header and 2 spaces wide ("id" takes 4, "score" 7), with 2 spaces between them.
    widths, left_out = fitted_widths(rows, 200, cuttable)
    assert left_out == [] and widths == {"title": 60, "snippet": 15, "url": 60}  # each at its usual width
    widths, left_out = fitted_widths(rows, 100, cuttable)
    assert left_out == [] and widths == {"title": 60, "snippet": 11, "url": 10}  # 4 + 7 + 81 + 4 gaps of 2
    widths, left_out = fitted_widths(rows, 40, cuttable)
    assert left_out == ["url"] and widths == {"title": 13, "snippet": 10}  # the least important left out
    widths, left_out = fitted_widths(rows, 30, cuttable)
    assert left_out == ["url", "snippet"] and widths == {"title": 15}  # never the most important
    for width in (80, 40, 30):
        stream = io.StringIO()
        write_rows(rows, "table", stream, table_widths=cuttable, width=width)
        table = stream.getvalue().splitlines()[:3]
        assert max(len(line) for line in table) <= width, stream.getvalue()
    assert table[2].endswith("T" * 14 + "…")
    assert stream.getvalue().splitlines()[3] == "(left out to fit: url, snippet)"
