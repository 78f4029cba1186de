"""The `monitor` command: exit codes, refusing a bad config before any fetch, and every output format."""

from __future__ import annotations

import csv
import io
import json
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
