"""Pictures: `monitor report --html` and the charts page of `monitor browse`, drawn offline, counted in a real browser.

The store is built by hand so that each chart has a known number of marks (bars):
matches per rule per day 4, stories by outlets 3, sources 5, delivery latency 3.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.charts import (
    CHART_NAMES,
    ChartData,
    LatencyCount,
    RuleDay,
    SourceActivity,
    StoryReach,
    render_png,
    render_svg,
)
from monitor.cli import cli
from monitor.config import DestinationSpec
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store, finish_run, start_run
from monitor.store.outbox import mark_delivered, queue_digest
from monitor.timestamps import utcnow
from tests.sitekit import config_text, write
from tests.test_explore import assert_screenshot, browsing, chrome, chromium

SOURCES = "  - name: ledger\n    type: rss\n    url: http://127.0.0.1:9/feed.xml\n"
HOSTILE = '<img src=x onerror="window.pwned=1"> Sanctions & NATO cost $5 and $6'
MARKS = {"matches-per-rule-per-day": 4, "stories-by-outlets": 3, "sources": 5, "delivery-latency": 3}
HOOK = DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/h")
SLACK = DestinationSpec(name="slack", type="slack", url="http://127.0.0.1:9/s")


@dataclass(frozen=True)
class Charted:
    config: str
    db: str
    now: datetime


def _article(key: str, title: str, source: str, text: str | None = None) -> Article:
    return Article(
        url=f"https://n.test/{key}",
        canonical_url=f"https://n.test/{key}",
        title=title,
        text=text or f"{title}. A report of its own about {key}, with words no other article here has: {key * 3}.",
        source=source,
    )


def _verdict(*scores: tuple[str, float]) -> Verdict:
    matches = tuple(
        RuleMatch(rule, score, (Hit(rule=rule, term=rule, field="title", count=1, snippet=f"**{rule}**"),))
        for rule, score in scores
    )
    return Verdict(sum(score for _, score in scores), 3.0, matches)


def _alert_id(store: Store, article_url: str, destination: str) -> str:
    [row] = store.query(
        "SELECT al.id FROM alerts al JOIN articles a ON a.id = al.article_id WHERE a.url = ? AND al.destination = ?",
        (article_url, destination),
    )
    return str(row["id"])


@pytest.fixture
def charted(tmp_path: Path) -> Charted:
    """A store whose charts over the last 3 days have MARKS marks.

    Matches: sanctions 2 days ago; sanctions and nato 1 day ago; nato twice today (one story, two outlets);
    plus an article 10 days ago, outside the period. Runs: ledger 2 new articles, herald 1, wire 1 (and a
    failed run), gone 2 failed runs. Delivered: hook 5 s and 90 s after queueing, slack in a digest 2 h later.
    """
    config = write(tmp_path / "rules.yaml", config_text(SOURCES))
    db = tmp_path / "m.db"
    now = utcnow()  # the report runs within the same second, maybe: "until now" takes it in
    shared = (  # one wire story, carried by two outlets: long enough to be compared (monitor.extract.stories)
        "NATO leaders meet in Vilnius on Tuesday to agree new air defence plans for the eastern flank, officials"
        " say, after a winter of drone incursions over Poland and the Baltic states. Ministers will also discuss"
        " ammunition stocks, the cost of the new plans and how quickly troops could be moved east in a crisis."
    )
    with Store.open(db) as store:
        save_article(
            store,
            _article("old", "Old sanctions", "ledger"),
            _verdict(("sanctions", 4.0)),
            (HOOK,),
            now - timedelta(days=10),
        )
        save_article(
            store,
            _article("a1", "Sanctions on banks", "ledger"),
            _verdict(("sanctions", 4.0)),
            (HOOK, SLACK),
            now - timedelta(days=2),
        )
        save_article(
            store,
            _article("a2", "NATO and sanctions", "herald"),
            _verdict(("sanctions", 2.0), ("nato", 3.0)),
            (HOOK,),
            now - timedelta(days=1),
        )
        save_article(store, _article("a3", HOSTILE, "ledger", shared), _verdict(("nato", 6.0)), (HOOK,), now)
        save_article(
            store, _article("a4", "NATO meets in Vilnius", "wire", shared), _verdict(("nato", 6.0)), (HOOK,), now
        )
        save_article(store, _article("quiet", "Gardening news", "herald"), Verdict(0.0, 3.0, ()), (HOOK,), now)

        a1 = "https://n.test/a1"
        mark_delivered(store, _alert_id(store, a1, "hook"), 200, now - timedelta(days=2) + timedelta(seconds=5))
        mark_delivered(store, _alert_id(store, "https://n.test/a2", "hook"), 200, now - timedelta(days=1, seconds=-90))
        with store.write() as conn:
            queue_digest(conn, "digest-1", "digest:slack:1", "slack", {}, [_alert_id(store, a1, "slack")], now)
        mark_delivered(store, "digest-1", 200, now - timedelta(days=2) + timedelta(hours=2))

        for source, new_articles, status in [
            ("ledger", 2, "ok"),
            ("herald", 1, "ok"),
            ("wire", 1, "ok"),
            ("wire", 0, "failed"),
            ("gone", 0, "failed"),
            ("gone", 0, "failed"),
        ]:
            run = start_run(store, source, now - timedelta(hours=1))
            finish_run(store, run, {"pages": new_articles, "new_articles": new_articles}, status, now)
    return Charted(config, str(db), now)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def marks_in(svg_or_html: str, name: str) -> int:
    return len(re.findall(rf'<g id="{name}-mark-\d+">', svg_or_html))


def test_the_report_holds_the_data_of_each_chart(charted: Charted) -> None:
    code, out = invoke("--config", charted.config, "--db", charted.db, "report", "--since", "3d", "--json")
    assert code == 0, out
    data = json.loads(out)
    day = [(charted.now - timedelta(days=n)).date().isoformat() for n in (2, 1, 0)]
    assert data["rules_per_day"] == [
        {"day": day[0], "rule": "sanctions", "matches": 1},
        {"day": day[1], "rule": "nato", "matches": 1},
        {"day": day[1], "rule": "sanctions", "matches": 1},
        {"day": day[2], "rule": "nato", "matches": 2},
    ]
    # One match per article and rule, however many destinations the article alerted.
    assert {r["rule"]: (r["matches"], r["alerted_articles"]) for r in data["rules"]} == {
        "nato": (3, 2),
        "sanctions": (2, 2),
    }
    assert [(s["title"], s["outlets"]) for s in data["widest_stories"]] == [
        (HOSTILE, 2),
        ("NATO and sanctions", 1),
        ("Sanctions on banks", 1),
    ]
    assert sorted(data["widest_stories"][0]["sources"].split(",")) == ["ledger", "wire"]
    assert data["delivery_latency"] == [
        {"destination": "hook", "bucket": "< 10 s", "alerts": 1},
        {"destination": "hook", "bucket": "1 – 5 min", "alerts": 1},
        {"destination": "slack", "bucket": "1 h – 1 day", "alerts": 1},  # digested: to its digest's delivery
    ]


def test_report_html_writes_one_file_with_each_chart_inline_and_every_scraped_string_escaped(
    charted: Charted, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    code, out = invoke("--config", charted.config, "--db", charted.db, "report", "--since", "3d", "--html", str(path))
    assert code == 0, out
    page = path.read_text(encoding="utf-8")
    assert {name: marks_in(page, name) for name in CHART_NAMES} == MARKS
    assert page.count("<svg ") == 4 and "<script" not in page
    assert re.findall(r"""(?:src|href)=["'](?!https://n\.test/)[^"'#]""", page) == []  # nothing to fetch
    assert "<img" not in page and "&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;" in page
    assert "cost $5 and $6" in page  # a dollar sign, not mathtext


def test_report_html_to_a_folder_that_does_not_exist_is_a_one_line_error(charted: Charted, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "report.html"
    result = CliRunner().invoke(
        cli, ["--config", charted.config, "--db", charted.db, "report", "--html", str(path)], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {path}: cannot write the report: No such file or directory"


def test_an_empty_period_draws_every_chart_with_no_marks_and_says_why(charted: Charted, tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    code, out = invoke(
        "--config",
        charted.config,
        "--db",
        charted.db,
        "report",
        "--since",
        "30d",
        "--until",
        "20d",
        "--html",
        str(path),
    )
    assert code == 0, out
    page = path.read_text(encoding="utf-8")
    assert page.count("<svg ") == 4 and all(marks_in(page, name) == 0 for name in CHART_NAMES)
    for message in ("No rule matched", "No matched story", "No source ran", "No alert delivered"):
        assert message in page


CHART_DATA = ChartData(
    days=("2026-01-01", "2026-01-02"),
    rule_days=(RuleDay("2026-01-01", "nato", 2), RuleDay("2026-01-02", "nato", 1), RuleDay("2026-01-02", "eu", 0)),
    stories=(StoryReach("<b>Bold</b> & $x$", 3, "a,b,c"),),
    sources=(SourceActivity("ledger", 4, 0), SourceActivity("gone", 0, 2)),
    latency_buckets=("< 10 s", "10 s – 1 min"),
    latency=(LatencyCount("hook", "< 10 s", 3),),
)


@pytest.mark.parametrize(("name", "marks"), [(n, m) for n, m in zip(CHART_NAMES, (2, 1, 2, 1), strict=True)])
def test_each_chart_is_the_same_svg_every_time_with_a_titled_group_per_mark(name: str, marks: int) -> None:
    svg = render_svg(name, CHART_DATA)
    assert svg == render_svg(name, CHART_DATA)
    assert svg.startswith("<svg ") and f'id="{name}"' in svg.split(">", 1)[0]
    assert len(re.findall(rf'<g id="{name}-mark-\d+"><title>[^<]+</title>', svg)) == marks
    assert "<b>" not in svg and "Date" not in svg


def test_render_png_gives_the_same_800_pixel_wide_png_every_time() -> None:
    png = render_png("stories-by-outlets", CHART_DATA)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == render_png("stories-by-outlets", CHART_DATA)
    assert int.from_bytes(png[16:20], "big") == 800
    assert int.from_bytes(render_png("sources", CHART_DATA, dpi=200)[16:20], "big") == 1600


# In the browser: each chart's marks, counted in the DOM, each one drawn (a box of some size).
COUNT_MARKS = """
const counts = {};
for (const name of arguments[0]) {
  const marks = [...document.querySelectorAll(`figure#chart-${name} svg g[id^="${name}-mark-"]`)];
  counts[name] = marks.filter(g => { const b = g.getBBox(); return b.width > 0 && b.height > 0; }).length;
}
return counts;
"""


def _screenshot_whole_page(driver: Any, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height + 100, 1000), 6000))
    driver.save_screenshot(str(path))
    assert_screenshot(path)


@pytest.mark.slow
def test_the_html_report_draws_each_chart_offline_in_a_real_browser(charted: Charted, tmp_path: Path) -> None:
    browser = chromium()
    path = tmp_path / "report.html"
    code, out = invoke("--config", charted.config, "--db", charted.db, "report", "--since", "3d", "--html", str(path))
    assert code == 0, out
    driver = chrome(browser, tmp_path / "chromium-profile")
    try:
        driver.get(path.as_uri())
        assert driver.execute_script(COUNT_MARKS, list(CHART_NAMES)) == MARKS
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        # The hostile headline is text: no image, no script run.
        assert driver.execute_script("return [document.images.length, window.pwned === undefined]") == [0, True]
        assert HOSTILE in driver.find_element("css selector", "ol").text
        tooltips = driver.execute_script(
            "return [...document.querySelectorAll('g[id^=\"stories-by-outlets-mark-\"] > title')].map(t => t.textContent)"
        )
        assert tooltips[0].startswith(HOSTILE) and "2 outlets" in tooltips[0]
        _screenshot_whole_page(driver, tmp_path / "report.png")
    finally:
        driver.quit()


@pytest.mark.slow
def test_browse_shows_the_same_charts_beside_the_canned_queries_offline(charted: Charted, tmp_path: Path) -> None:
    browser = chromium()
    with browsing(charted.config, charted.db) as base:
        driver = chrome(browser, tmp_path / "chromium-profile")
        try:
            driver.get(base + "/")
            driver.find_element("css selector", "section.content a[href='/-/charts']").click()  # linked from the index
            assert driver.current_url == base + "/-/charts"
            driver.get(base + "/-/charts?since=3d")
            assert driver.execute_script(COUNT_MARKS, list(CHART_NAMES)) == MARKS
            queries = [a.text for a in driver.find_elements("css selector", "aside a")]
            assert "Matches per rule per day" in queries and "Stories by number of outlets" in queries
            fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
            assert fetched and all(url.startswith(base + "/") for url in fetched), fetched  # Datasette's CSS only
            assert driver.execute_script("return [document.images.length, window.pwned === undefined]") == [0, True]
            _screenshot_whole_page(driver, tmp_path / "browse-charts.png")
        finally:
            driver.quit()


@pytest.mark.slow
def test_the_demo_writes_its_report_with_charts_and_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--db", str(db)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = tmp_path / "demo-report.html"
    assert f"The report, with its charts, is {report} (one HTML file: open it in a browser)." in result.stdout
    page = report.read_text(encoding="utf-8")
    assert all(f'<figure class="chart" id="chart-{name}">' in page for name in CHART_NAMES)
    assert marks_in(page, "stories-by-outlets") == 1  # the NATO story, carried by both demo sites
