"""The `monitor` command: exit codes, refusing a bad config before any fetch, and every output format."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.cli.common import EXIT_CONFIG
from monitor.config import DestinationSpec
from monitor.demo import SEED_PATH, load_stories
from monitor.demo.sites import LocalSite
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store
from tests.sitekit import config_text, write

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def config(tmp_path: Path) -> str:
    return write(tmp_path / "rules.yaml", config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"))


@pytest.fixture
def filled_db(tmp_path: Path) -> str:
    """A store with two articles, one matching."""
    path = tmp_path / "m.db"
    hook = (DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/h"),)
    with Store.open(path) as store:
        hit = Hit(rule="sanctions", term="sanctions", field="body", count=2, snippet="new **sanctions** on banks")
        for index, (title, text, score) in enumerate(
            [
                ("EU agrees new sanctions", "The EU agreed new sanctions on Russian banks on Monday.", 4.0),
                ("Harbour festival opens", "Lantern boats lit up the harbour.", 0.0),
            ]
        ):
            article = Article(
                url=f"https://news.test/{index}",
                canonical_url=f"https://news.test/{index}",
                title=title,
                text=text,
                source="news",
            )
            matches = (RuleMatch("sanctions", score, (hit,)),) if score else ()
            save_article(store, article, Verdict(score, 3.0, matches), hook)
    return str(path)


def test_check_accepts_the_shipped_rules_yaml() -> None:
    code, out = invoke("--config", str(ROOT / "rules.yaml"), "check")
    assert code == 0, out
    assert "5 sources" in out and "4 rules: nato, ukraine, sanctions, armed-conflict" in out


def test_check_shows_destinations_redacted(tmp_path: Path) -> None:
    text = config_text(
        "  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n",
        destinations="    - name: s\n      type: slack\n      url: ${S_URL}\n",
    )
    path = write(tmp_path / "r.yaml", text)
    code, out = invoke("--config", path, "check", env={"S_URL": "https://hooks.slack.com/services/T0/B0/SECRETX"})
    assert code == 0, out
    assert "hooks.slack.com" in out and "SECRETX" not in out


def test_check_names_an_off_destination_loudly_with_the_alerts_it_did_not_get(tmp_path: Path, filled_db: str) -> None:
    text = config_text(
        "  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n",
        destinations="    - name: hook\n      type: webhook\n      url: ${H_URL}\n"
        "    - name: s\n      type: slack\n      url: ${S_URL}\n",
    )
    path = write(tmp_path / "r.yaml", text)
    env = {"H_URL": "http://127.0.0.1:9/h", "S_URL": ""}  # set, but empty
    code, out = invoke("--config", path, "--db", filled_db, "check", env=env)
    assert code == 0, out
    # The matching article alerted hook; s was off and never got it.
    assert "destination s (slack, immediate): OFF (its URL variable is empty): it did not get 1 alert(s)" in out
    assert "Warning: destination s is OFF" in out and "monitor alerts replay --since DURATION --destination s" in out
    code, out = invoke("--config", path, "--db", str(tmp_path / "none.db"), "check", env=env)
    assert code == 0 and "destination s (slack, immediate): OFF (its URL variable is empty)\n" in out
    assert not (tmp_path / "none.db").exists()  # check creates no store


def test_check_refuses_an_invalid_config_with_file_line_field_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "sources:\n  - name: a\n    type: rss\n    url: nope\nrules: []\n")
    code, out = invoke("--config", path, "check")
    assert code == EXIT_CONFIG
    assert f"{path}:4: sources[0].url: must be an http:// or https:// URL" in out


def test_run_refuses_an_invalid_config_before_fetching_anything(tmp_path: Path) -> None:
    with LocalSite("never") as site:
        text = (
            f"sources:\n  - name: a\n    type: rss\n    url: {site.base}/feed.xml\n"
            "rules:\n  - name: r\n    terms: [x]\n    wieght: 2\n"
        )
        path = write(tmp_path / "bad.yaml", text)
        code, out = invoke("--config", path, "--db", str(tmp_path / "m.db"), "run")
    assert code == EXIT_CONFIG and "rules[0].wieght: unknown key" in out
    assert site.requests == []
    assert not (tmp_path / "m.db").exists()


def test_run_refuses_an_unknown_source(config: str, tmp_path: Path) -> None:
    code, out = invoke("--config", config, "--db", str(tmp_path / "m.db"), "run", "--source", "nope")
    assert code == EXIT_CONFIG and "no source named nope" in out


def test_config_and_db_come_from_the_environment(config: str, filled_db: str) -> None:
    code, out = invoke("matches", "--json", env={"MONITOR_CONFIG": config, "MONITOR_DB": filled_db})
    assert code == 0, out
    assert json.loads(out)[0]["title"] == "EU agrees new sanctions"


def test_score_json_on_a_saved_page(config: str, tmp_path: Path) -> None:
    seed = next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)
    page = tmp_path / "seed.html"
    page.write_text(seed.html.replace("{base}", "https://ledger.test"), encoding="utf-8")
    code, out = invoke("--config", config, "score", str(page), "--url", "https://ledger.test" + SEED_PATH, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["title"].startswith("NATO offers arms talks") and result["alert"] is True
    assert result["canonical_url"] == "https://ledger.test" + SEED_PATH
    assert result["published"].startswith("2022-01-12T21:50:00+06:00")
    rules = {hit["rule"] for hit in result["hits"]}
    assert {"nato", "ukraine", "sanctions", "armed-conflict"} <= rules
    assert all({"rule", "field", "count", "snippet"} <= set(hit) for hit in result["hits"])


def test_score_a_quiet_page_says_no_alert(config: str, tmp_path: Path) -> None:
    quiet = next(s for s in load_stories()["ledger"] if "rose" in s.path)
    page = tmp_path / "rose.html"
    page.write_text(quiet.html.replace("{base}", "https://ledger.test"), encoding="utf-8")
    code, out = invoke("--config", config, "score", str(page))
    assert code == 0 and "no alert" in out


def test_score_a_url_from_a_local_site(config: str) -> None:
    seed = next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)
    with LocalSite("one") as site:
        site.add_news("One", [seed])
        code, out = invoke("--config", config, "score", site.base + SEED_PATH, "--explain")
    assert code == 0, out
    assert "ALERT" in out and "rule nato" in out and "**NATO**" in out


def test_score_a_missing_file_is_an_error_not_a_traceback(config: str) -> None:
    code, out = invoke("--config", config, "score", "/nonexistent/page.html")
    assert code == 1 and "Error:" in out


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "csv"])
def test_search_in_every_format(config: str, filled_db: str, fmt: str) -> None:
    flags = [] if fmt == "table" else [f"--{fmt}"]
    code, out = invoke("--config", config, "--db", filled_db, "search", "sanction*", *flags)
    assert code == 0, out
    if fmt == "json":
        rows = json.loads(out)
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in out.splitlines()]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
    else:
        assert "EU agrees new sanctions" in out and "Harbour" not in out
        return
    assert [row["title"] for row in rows] == ["EU agrees new sanctions"]
    assert "**sanctions**" in rows[0]["snippet"]


def test_search_with_a_bad_query_is_a_clear_error(config: str, filled_db: str) -> None:
    code, out = invoke("--config", config, "--db", filled_db, "search", '"unbalanced')
    assert code == EXIT_CONFIG and "cannot search" in out


def test_search_before_any_run_says_so(config: str, tmp_path: Path) -> None:
    code, out = invoke("--config", config, "--db", str(tmp_path / "none.db"), "search", "x")
    assert code == EXIT_CONFIG and "no store here yet" in out


def test_matches_filters_by_rule_and_since(config: str, filled_db: str) -> None:
    code, out = invoke(
        "--config", config, "--db", filled_db, "matches", "--rule", "sanctions", "--since", "1d", "--csv"
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["rule"] == "sanctions" and "hook:pending" in rows[0]["alerts"]
    code, out = invoke("--config", config, "--db", filled_db, "matches", "--rule", "nato", "--json")
    assert code == 0 and json.loads(out) == []


def test_a_bad_since_is_a_usage_error(config: str, filled_db: str) -> None:
    code, out = invoke("--config", config, "--db", filled_db, "matches", "--since", "yesterday-ish")
    assert code == EXIT_CONFIG and "--since" in out


@pytest.mark.parametrize("query", ["sanctions or banks", "sanctions and banks", "NOT harbour or sanctions", "Or banks"])
def test_search_refuses_a_lower_case_operator_as_rules_do(config: str, filled_db: str, query: str) -> None:
    code, out = invoke("--config", config, "--db", filled_db, "search", query)
    assert code == EXIT_CONFIG, out
    word = next(w for w in query.split() if w.upper() in ("AND", "OR") and w != w.upper())
    assert f"{word!r} at column {query.index(word) + 1}: operators are upper-case ({word.upper()})" in out
    assert f'quote it ("{word}") to search for the word' in out


def test_search_takes_upper_case_operators_and_a_quoted_or(config: str, filled_db: str) -> None:
    code, out = invoke("--config", config, "--db", filled_db, "search", "harbour OR sanctions", "--json")
    assert code == 0 and len(json.loads(out)) == 2
    code, out = invoke("--config", config, "--db", filled_db, "search", 'sanctions "on"', "--json")
    assert code == 0 and [row["title"] for row in json.loads(out)] == ["EU agrees new sanctions"]


@pytest.fixture
def failed_runs(tmp_path: Path) -> str:
    """A store where source `dead` failed twice (its feed refused, then a 503) and source `fine` ran well."""
    from datetime import timedelta

    from monitor.store import finish_run, record_error, start_run
    from monitor.timestamps import iso, utcnow
    from tests.storekit import database

    path = tmp_path / "m.db"
    with Store.open(path) as store:
        old = start_run(store, "dead", utcnow() - timedelta(days=3))
        record_error(store, old, "dead", "http://127.0.0.1:9/feed.xml", "fetch", "Connection refused")
        database(store)["run_errors"].update(1, {"at": iso(utcnow() - timedelta(days=3))})
        finish_run(store, old, {"errors": 1}, "failed", utcnow() - timedelta(days=3))
        fine = start_run(store, "fine")
        finish_run(store, fine, {"pages": 3}, "ok")
        last = start_run(store, "dead")
        record_error(store, last, "dead", "http://127.0.0.1:9/feed.xml", "http", "HTTP 503")
        finish_run(store, last, {"errors": 1}, "failed")
    return str(path)


def test_errors_says_why_a_source_failed_newest_first(tmp_path: Path, failed_runs: str) -> None:
    sources = "  - name: dead\n    type: rss\n    url: http://127.0.0.1:9/feed.xml\n"
    config = write(
        tmp_path / "r.yaml", config_text(sources + "  - name: fine\n    type: rss\n    url: http://127.0.0.1:9/f\n")
    )
    code, out = invoke("--config", config, "--db", failed_runs, "errors", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [(row["source"], row["kind"], row["message"]) for row in rows] == [
        ("dead", "http", "HTTP 503"),
        ("dead", "fetch", "Connection refused"),
    ]
    assert rows[0]["url"] == "http://127.0.0.1:9/feed.xml" and isinstance(rows[0]["run_id"], int)
    code, out = invoke("--config", config, "--db", failed_runs, "errors", "--source", "dead", "--since", "1d")
    assert code == 0 and "HTTP 503" in out and "Connection refused" not in out
    code, out = invoke("--config", config, "--db", failed_runs, "errors", "--source", "fine")
    assert code == 0 and "(nothing found)" in out
    code, out = invoke("--config", config, "--db", failed_runs, "status")
    assert code == 0, out
    assert "source dead failed its last run: `monitor errors --source dead` says why" in out
    assert "source fine failed" not in out


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` unwritable for the block: chmod, or for root (whom modes do not stop) the immutable flag."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root on a file system where a folder cannot be made immutable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_store_in_a_read_only_folder_is_refused_naming_the_folder_and_the_reason(
    config: str, filled_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    shutil.copy(filled_db, folder / "m.db")
    with unwritable(folder):
        for db, args in ((folder / "m.db", ["matches"]), (folder / "new.db", ["run"])):
            code, out = invoke("--config", config, "--db", str(db), *args)
            assert code == EXIT_CONFIG, out
            assert f"Error: {db}: cannot open the store: its folder {folder} is not writable (" in out
            assert "unable to open database file" not in out
            assert "make the folder writable, or put the store somewhere writable with --db or MONITOR_DB" in out
        code, out = invoke("--config", config, "--db", str(folder / "sub" / "m.db"), "run")
        assert code == EXIT_CONFIG and f"cannot create the store's folder {folder / 'sub'}: " in out
    code, out = invoke("--config", config, "--db", str(tmp_path / "m.db" / "x.db"), "run")
    assert code == EXIT_CONFIG and f"cannot create the store's folder {tmp_path / 'm.db'}: it is a file" in out


def test_browse_stops_cleanly_with_exit_status_0_on_sigterm(config: str, filled_db: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    browse = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", config, "--db", filled_db, "browse", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert browse.poll() is None and time.monotonic() < deadline, (
                    browse.stderr.read() if browse.stderr else ""
                )
                time.sleep(0.2)
        browse.send_signal(signal.SIGTERM)
        assert browse.wait(timeout=30) == 0
    finally:
        if browse.poll() is None:
            browse.kill()
            browse.wait()
