"""Exploring the store: filters on search and matches, the period report, and Datasette in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import DestinationSpec
from monitor.demo import start_sites
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.runs import run_crawl
from monitor.store import Store
from monitor.timestamps import utcnow
from tests.sitekit import config_text, write
from tests.storekit import database

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
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


@pytest.fixture
def crawled_store(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A store made by a real crawl of the local demo sites."""
    ledger, herald = start_sites()
    try:
        sources = (
            f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
            f"  - name: herald\n    type: sitemap\n    url: {herald.base}/sitemap.xml\n"
        )
        config = write(tmp_path / "rules.yaml", config_text(sources))
        run_crawl(config, str(tmp_path / "monitor.db"))
        yield config, str(tmp_path / "monitor.db")
    finally:
        ledger.stop()
        herald.stop()


def chromium_or_skip() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium and chromium-driver (see .ci/run)")
        pytest.skip("needs Debian's chromium and chromium-driver")
    return browser, driver


@pytest.mark.slow
def test_browse_serves_the_store_in_datasette_in_a_real_browser(crawled_store: tuple[str, str]) -> None:
    browser_path, driver_path = chromium_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    config, db = crawled_store
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
                    raise AssertionError("Datasette did not start: " + server.stdout.read().decode()) from None
                time.sleep(0.3)
        options = webdriver.ChromeOptions()
        options.binary_location = browser_path
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1400,1000",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        try:
            driver.get(f"{base}/monitor/articles?_search=sanctions")
            rows = driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
            titles = [row.text for row in rows]
            assert len(rows) == 2 and all("NATO" in title for title in titles), titles
            assert "One row per article" in driver.page_source  # the table's description from our metadata
            ARTIFACTS.mkdir(exist_ok=True)
            driver.execute_script("document.querySelector('table.rows-and-columns').scrollIntoView()")
            driver.save_screenshot(str(ARTIFACTS / "browse-search.png"))

            driver.get(f"{base}/monitor/matches_per_rule_per_day")
            assert "Matches per rule per day" in driver.title or "Matches per rule per day" in driver.page_source
            cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns td.col-rule")]
            assert {"nato", "ukraine", "sanctions"} <= set(cells), cells
            driver.save_screenshot(str(ARTIFACTS / "browse-canned-query.png"))
        finally:
            driver.quit()
        # Read-only: Datasette refuses writes to the store.
        with Store.open(db) as store:
            count = database(store)["articles"].count
        assert count == 5
    finally:
        server.terminate()  # monitor browse passes it on to Datasette
        server.wait(timeout=10)
    assert not _datasette_running(db), "Datasette outlived monitor browse"


def _datasette_running(db: str) -> bool:
    result = subprocess.run(["pgrep", "-f", f"datasette serve {db}"], capture_output=True, text=True)
    return bool(result.stdout.strip())
