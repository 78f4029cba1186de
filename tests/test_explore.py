"""Exploring the store: filters on search and matches, the period report, and Datasette in a real browser."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import DestinationSpec
from monitor.demo import start_sites
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.runs import run_crawl
from monitor.store import Store
from monitor.store.canned import canned_queries
from monitor.timestamps import utcnow
from tests.sitekit import config_text, write
from tests.storekit import database

SOURCES = "  - name: ledger\n    type: rss\n    url: http://127.0.0.1:9/feed.xml\n"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def explored(tmp_path: Path) -> tuple[str, str]:
    """A config and a store with three articles caught at different times, two matching."""
    config = write(tmp_path / "rules.yaml", config_text(SOURCES))
    db = tmp_path / "m.db"
    hook = (DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/h"),)
    now = utcnow()
    with Store.open(db) as store:
        for key, title, rule, score, age, source in [
            ("old", "Old sanctions story", "sanctions", 4.0, timedelta(days=10), "ledger"),
            ("new", "New sanctions on banks", "sanctions", 2.0, timedelta(hours=2), "herald"),
            ("nato", "NATO summit opens", "nato", 6.0, timedelta(hours=1), "ledger"),
        ]:
            hit = Hit(rule=rule, term=rule, field="title", count=1, snippet=f"**{rule}**")
            article = Article(
                url=f"https://n.test/{key}",
                canonical_url=f"https://n.test/{key}",
                title=title,
                text=f"{title}. More about {rule} here.",
                source=source,
            )
            save_article(store, article, Verdict(score, 3.0, (RuleMatch(rule, score, (hit,)),)), hook, now=now - age)
    return config, str(db)


def test_search_filters_by_time_source_rule_and_score(explored: tuple[str, str]) -> None:
    config, db = explored

    def titles(*flags: str) -> list[str]:
        code, out = invoke("--config", config, "--db", db, "search", "sanctions OR NATO", "--json", *flags)
        assert code == 0, out
        return sorted(row["title"] for row in json.loads(out))

    assert titles() == ["NATO summit opens", "New sanctions on banks", "Old sanctions story"]
    assert titles("--since", "1d") == ["NATO summit opens", "New sanctions on banks"]
    assert titles("--until", "1d") == ["Old sanctions story"]
    assert titles("--source", "herald") == ["New sanctions on banks"]
    assert titles("--rule", "nato") == ["NATO summit opens"]
    assert titles("--min-score", "3") == ["NATO summit opens", "Old sanctions story"]


def test_matches_take_the_same_filters(explored: tuple[str, str]) -> None:
    config, db = explored
    code, out = invoke("--config", config, "--db", db, "matches", "--since", "1d", "--min-score", "3", "--ndjson")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["title"] for row in rows] == ["NATO summit opens"]


def test_report_summarises_the_period_in_text_markdown_and_json(explored: tuple[str, str]) -> None:
    config, db = explored
    code, text = invoke("--config", config, "--db", db, "report", "--since", "1d")
    assert code == 0, text
    assert "2 new articles, 2 matched at least one rule." in text
    assert "1. NATO summit opens (ledger, score 6" in text and "Old sanctions story" not in text
    code, markdown = invoke("--config", config, "--db", db, "report", "--since", "1d", "--markdown")
    assert code == 0 and markdown.startswith("# Monitoring report") and "| rule | matches |" in markdown
    assert "[NATO summit opens](https://n.test/nato)" in markdown
    code, raw = invoke("--config", config, "--db", db, "report", "--since", "30d", "--json")
    data = json.loads(raw)
    assert {r["rule"]: r["matches"] for r in data["rules"]} == {"sanctions": 2, "nato": 1}
    assert data["delivery"] == [{"destination": "hook", "status": "pending", "alerts": 2}]  # 2.0 < threshold


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BROWSER_OPT_OUT = "MONITOR_SKIP_BROWSER_TEST"  # =1 skips the browser test on a machine without Chromium (never in CI)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture
def crawled_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A store made by a real crawl of the local demo sites, a source that fails and a webhook: rows for every query."""
    monkeypatch.setenv("EXPLORE_HOOK_URL", "http://127.0.0.1:9/hook")  # never called: the alerts stay pending
    ledger, herald = start_sites()
    try:
        sources = (
            f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
            f"  - name: herald\n    type: sitemap\n    url: {herald.base}/sitemap.xml\n"
            f"  - name: gone\n    type: rss\n    url: http://127.0.0.1:{free_port()}/feed.xml\n"
        )
        hook = "    - name: hook\n      type: webhook\n      url: ${EXPLORE_HOOK_URL}\n"
        config = write(tmp_path / "rules.yaml", config_text(sources, destinations=hook))
        run_crawl(config, str(tmp_path / "monitor.db"))
        yield config, str(tmp_path / "monitor.db")
    finally:
        ledger.stop()
        herald.stop()


def chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver; without them a failure saying what to install (a skip only if opted out)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.environ.get(BROWSER_OPT_OUT) == "1" and not os.environ.get("CI"):
        pytest.skip(f"no chromium or chromedriver on PATH, and {BROWSER_OPT_OUT}=1 opts out of the browser test")
    pytest.fail(
        "The Datasette browser test needs a browser: install Debian's chromium and chromium-driver"
        " (apt-get install chromium chromium-driver; .ci/run does it in CI)."
        + ("" if os.environ.get("CI") else f" To skip it on a local run, set {BROWSER_OPT_OUT}=1.")
    )


@contextlib.contextmanager
def browsing(config: str, db: str) -> Iterator[str]:
    """``monitor browse`` on a free port for the block; its base URL, once Datasette answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", config, "--db", db, "browse", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    assert server.stdout is not None
                    raise AssertionError("Datasette did not start: " + server.stdout.read().decode()) from None
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()  # monitor browse passes it on to Datasette
        server.wait(timeout=10)


def chrome(browser: tuple[str, str], profile: Path) -> Any:
    """A headless Chromium (Debian's, see ``chromium``) driven by selenium, with a profile folder of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser[0]
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=browser[1]), options=options)


@pytest.fixture
def browser() -> tuple[str, str]:
    """Chromium and its driver, looked for before the store is crawled."""
    return chromium()


@pytest.mark.parametrize(
    ("environment", "outcome"),
    [({}, "failed"), ({BROWSER_OPT_OUT: "1"}, "skipped"), ({BROWSER_OPT_OUT: "1", "CI": "true"}, "failed")],
)
def test_a_missing_browser_fails_the_browser_test_unless_opted_out_outside_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], outcome: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium, no chromedriver
    for name in ("CI", BROWSER_OPT_OUT):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    expected = pytest.skip.Exception if outcome == "skipped" else pytest.fail.Exception
    with pytest.raises(expected) as raised:
        chromium()
    message = str(raised.value)
    if outcome == "failed":
        assert "install Debian's chromium and chromium-driver" in message
        assert (BROWSER_OPT_OUT in message) is ("CI" not in environment)


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG file (failing the test if it is not one)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


def assert_screenshot(path: Path) -> None:
    """The screenshot exists and shows a rendered page: full size, many shades (text), not a blank window."""
    assert path.is_file() and path.stat().st_size > 20_000, f"{path}: missing or tiny"
    width, height, pixels = png_pixels(path)
    assert width >= 1000 and height >= 600, (width, height)
    assert len(set(pixels)) > 32, f"{path}: almost one colour, nothing rendered"


def shown_table(driver: Any) -> tuple[list[str], list[list[str]]]:
    """The column names and cell texts of the results table, as the browser renders them."""
    columns, rows = driver.execute_script(
        "const table = document.querySelector('table.rows-and-columns');"
        "if (!table) return [[], []];"
        "return [[...table.querySelectorAll('thead th')].map(th => th.innerText),"
        " [...table.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.innerText))];"
    )
    return [c.strip() for c in columns], [[cell.strip() for cell in row] for row in rows]


def as_shown(value: object) -> str:
    """How Datasette displays a value in a results table: NULL as an empty cell, anything else as its text."""
    return "" if value is None else str(value)


@pytest.mark.slow
def test_browse_serves_the_store_in_datasette_in_a_real_browser(
    browser: tuple[str, str], crawled_store: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    config, db = crawled_store
    with Store.open(db) as store:
        expected = {name: store.query(query["sql"]) for name, query in canned_queries().items()}
        articles = database(store)["articles"].count
    assert all(expected.values()), {name: len(rows) for name, rows in expected.items()}  # every query has rows
    with browsing(config, db) as base:
        driver = chrome(browser, tmp_path / "chromium-profile")
        try:
            driver.get(f"{base}/monitor/articles?_search=sanctions")
            rows = driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
            titles = [row.text for row in rows]
            assert len(rows) == 2 and all("NATO" in title for title in titles), titles
            assert "One row per article" in driver.page_source  # the table's description from our metadata
            driver.execute_script("document.querySelector('table.rows-and-columns').scrollIntoView()")
            driver.save_screenshot(str(tmp_path / "browse-search.png"))
            assert_screenshot(tmp_path / "browse-search.png")

            for name, query in canned_queries().items():
                driver.get(f"{base}/monitor/{name}")
                heading = driver.find_element(By.TAG_NAME, "h1").text
                assert query["title"] in heading, (name, heading)
                assert query.get("description", "") in driver.find_element(By.TAG_NAME, "body").text, name
                columns, cells = shown_table(driver)
                want = expected[name]
                assert columns == list(want[0]), (name, columns)
                assert cells == [[as_shown(v) for v in row.values()] for row in want], name
                driver.execute_script("document.querySelector('table.rows-and-columns').scrollIntoView()")
                shot = tmp_path / f"canned-{name}.png"
                driver.save_screenshot(str(shot))
                assert_screenshot(shot)
        finally:
            driver.quit()
        # Read-only: Datasette refuses writes to the store.
        with Store.open(db) as store:
            assert database(store)["articles"].count == articles == 5
    assert not _datasette_running(db), "Datasette outlived monitor browse"


def _datasette_running(db: str) -> bool:
    result = subprocess.run(["pgrep", "-f", f"datasette serve {db}"], capture_output=True, text=True)
    return bool(result.stdout.strip())
