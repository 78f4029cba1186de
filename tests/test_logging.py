"""What `monitor run` says on stderr: one line per error, -v one line per article, -vv the crawl's own details."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.demo import load_stories
from monitor.demo.sites import LocalSite
from tests.sitekit import config_text, write

# Every line the monitor logs in text format starts like this: "2026-11-28 14:06:25,123 WARNING monitor.crawl: …"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
HOOK = "    - name: hook\n      type: webhook\n      url: ${HOOK_URL}\n"


def monitor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m monitor ARGS…` in its own process, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_an_unreachable_source_is_one_line_of_stderr_and_its_traceback_waits_for_vv(tmp_path: Path) -> None:
    sources = (
        "  - name: closed\n    type: rss\n    url: http://127.0.0.1:9/feed.xml\n"  # nothing listens on port 9
        "  - name: nowhere\n    type: rss\n    url: http://nonexistent.invalid/feed.xml\n"  # .invalid never resolves
    )
    config = write(tmp_path / "rules.yaml", config_text(sources))
    result = monitor("--config", config, "--db", str(tmp_path / "m.db"), "run")
    assert result.returncode == 1, result.stderr  # every source failed
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert all(LOG_LINE.match(line) and "Traceback" not in line for line in lines), result.stderr
    closed = next(line for line in lines if "source closed:" in line)
    nowhere = next(line for line in lines if "source nowhere:" in line)
    assert "http://127.0.0.1:9/feed.xml" in closed and "refused" in closed
    assert "http://nonexistent.invalid/feed.xml" in nowhere and "DNS lookup failed" in nowhere

    detailed = monitor("--config", config, "--db", str(tmp_path / "m.db"), "-vv", "run")
    assert "Traceback (most recent call last)" in detailed.stderr
    assert "Gave up retrying" in detailed.stderr  # Scrapy's own account, at -vv only


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """One crawl of the demo's ledger site at each level of detail: stdout and stderr per level."""
    stories = load_stories()["ledger"]
    outputs: dict[str, tuple[str, str]] = {}
    with LocalSite("ledger") as site:
        site.add_news("Ledger", stories)
        for level in ("", "-v", "-vv"):
            folder = tmp_path_factory.mktemp(f"crawl{level}")
            config = write(
                folder / "rules.yaml",
                config_text(f"  - name: ledger\n    type: rss\n    url: {site.base}/feed.xml\n", destinations=HOOK),
            )
            args = ["--config", config, "--db", str(folder / "m.db"), *([level] if level else []), "run", "--no-send"]
            result = monitor(*args, env={"HOOK_URL": "http://127.0.0.1:9/hook"})
            assert result.returncode == 0, result.stderr
            outputs[level] = (result.stdout, result.stderr)
    return outputs


def article_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " monitor.crawl: source ledger: " in line]


def test_by_default_a_run_that_goes_well_says_nothing_on_stderr(crawled: dict[str, tuple[str, str]]) -> None:
    stdout, stderr = crawled[""]
    assert "3 new articles" in stdout and "1 alerts queued" in stdout
    assert stderr == ""


def test_v_says_one_line_per_article_alerted(crawled: dict[str, tuple[str, str]]) -> None:
    _, stderr = crawled["-v"]
    alerted = [line for line in article_lines(stderr) if "1 alert(s) queued" in line]
    assert len(alerted) == 1 and "/world/nato-offers-arms-talks.html" in alerted[0], stderr
    assert "scrapy" not in stderr  # Scrapy's own lines wait for -vv
    assert all(LOG_LINE.match(line) for line in stderr.splitlines()), stderr


def test_v_says_one_line_per_article_stored(crawled: dict[str, tuple[str, str]]) -> None:
    _, stderr = crawled["-v"]
    lines = article_lines(stderr)
    paths = [story.path for story in load_stories()["ledger"]]
    assert len(lines) == len(paths) == 3, stderr
    for path in paths:
        assert sum(path in line for line in lines) == 1, (path, stderr)


def test_vv_adds_the_crawls_own_details_one_line_each(crawled: dict[str, tuple[str, str]]) -> None:
    _, stderr = crawled["-vv"]
    lines = stderr.splitlines()
    assert any("scrapy.core.engine: Spider opened" in line for line in lines), stderr
    stats = [line for line in lines if "Dumping Scrapy stats" in line]
    # the whole dump, first key to last, on its line
    assert len(stats) == 1 and "'downloader/request_bytes'" in stats[0] and "'start_time'" in stats[0]
    # No pretty-printed dump runs over several lines, so the article lines stand out.
    assert all(LOG_LINE.match(line) for line in lines), stderr
    assert len(article_lines(stderr)) == len(article_lines(crawled["-v"][1]))


def record(name: str, level: int, message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, message, args, exc_info)


def raised() -> BaseException:
    try:
        raise ConnectionRefusedError("Connection was refused by other side")
    except ConnectionRefusedError as error:
        return error


def test_below_vv_an_exception_is_its_type_and_message_on_the_events_line() -> None:
    from monitor.logs import JsonFormatter, TextFormatter

    event = record("scrapy.core.scraper", logging.ERROR, "Spider error processing %s", "<GET x>", exc=raised())
    line = TextFormatter().format(event)
    assert "\n" not in line
    assert line.endswith(
        "Spider error processing <GET x> (ConnectionRefusedError: Connection was refused by other side)"
    )
    assert "Traceback (most recent call last)" in TextFormatter(tracebacks=True).format(event)
    assert JsonFormatter(tracebacks=False).format(event).count("\\n") == 0


def test_a_multi_line_message_is_printed_on_one_line() -> None:
    from monitor.logs import TextFormatter

    dump = record("scrapy.statscollectors", logging.INFO, "Dumping Scrapy stats:\n{'a': 1,\n 'b': 2}")
    assert TextFormatter().format(dump).endswith("Dumping Scrapy stats: {'a': 1, 'b': 2}")


def test_scrapys_reports_of_a_failed_download_wait_for_vv_and_the_monitors_own_lines_never_do() -> None:
    from monitor.logs import DetailFilter

    gave_up = record("scrapy.downloadermiddlewares.retry", logging.ERROR, "Gave up retrying %(request)s", {})
    robots = record("scrapy.downloadermiddlewares.robotstxt", logging.ERROR, "Error downloading %(request)s", {})
    spider_error = record("scrapy.core.scraper", logging.ERROR, "Spider error processing")
    opened = record("scrapy.core.engine", logging.INFO, "Spider opened")
    own = record("monitor.crawl", logging.WARNING, "source a: fetch error")
    root = logging.getLogger()
    saved = root.level
    try:
        root.setLevel(logging.WARNING)
        concise = DetailFilter(logging.WARNING)
        assert [concise.filter(r) for r in (gave_up, robots, spider_error, opened, own)] == [
            False,
            False,
            True,
            False,
            True,
        ]
        root.setLevel(logging.DEBUG)
        detailed = DetailFilter(logging.DEBUG)
        assert all(detailed.filter(r) for r in (gave_up, robots, spider_error, opened, own))
        assert not detailed.filter(record("scrapy.core.scraper", logging.DEBUG, "Scraped from <200 x>"))
    finally:
        root.setLevel(saved)
