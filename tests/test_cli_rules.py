"""``monitor rules check``, ``monitor rules test`` and ``monitor score --explain`` on a tmp store and real configs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.cli.common import EXIT_CONFIG
from monitor.cli.rules import rules as rules_group
from monitor.config import load_config
from monitor.demo import SEED_PATH, load_stories
from monitor.ingest import save_article
from monitor.models import Article
from monitor.rules import compile_rules, score_article
from monitor.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)
HEAD = "version: 1\nalerts:\n  threshold: 3\n  destinations:\n    - name: newsroom\n      type: slack\n      url: ${NO_SUCH_URL:-}\nsources: []\n"
CURRENT = HEAD + "rules:\n  - name: nato\n    terms: [NATO]\n  - name: war\n    terms: [war]\n"
DRAFT = (
    HEAD
    + """rules:
  - name: nato
    query: 'NATO AND NOT "football club"'
    exclude: [friendly]
    max_age: 30d
  - name: sanctions
    all:
      - any: [sanction~, embargo]
      - {near: [EU, sanction~], within: 5}
    destinations: [newsroom]
"""
)
STORIES = [
    ("NATO weighs new sanctions on Russia", "NATO said sanctions would follow.", 1),
    ("Nato football club wins the cup", "The football club Nato beat its rivals.", 2),
    ("Old story: NATO in 1999", "NATO bombed targets.", 90),
    ("EU agrees sanctions", "The EU sanctioned three banks and an embargo.", 3),
    ("Harbour festival", "Lanterns lit up the harbour.", 1),
]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A current rules.yaml, a draft with changed and new rules, and a store scored with the current rules."""
    current, draft = tmp_path / "rules.yaml", tmp_path / "draft.yaml"
    current.write_text(CURRENT, encoding="utf-8")
    draft.write_text(DRAFT, encoding="utf-8")
    ruleset = compile_rules(load_config(current, env={}).rules)
    db = tmp_path / "monitor.db"
    with Store.open(db) as store:
        for index, (title, text, age) in enumerate(STORIES):
            published = NOW - timedelta(days=age)
            article = Article(
                f"https://n.test/{index}", f"https://n.test/{index}", title, text, published, [], "en", "wire"
            )
            save_article(store, article, score_article(ruleset, article, threshold=3.0, now=published), ())
    return {"config": str(current), "draft": str(draft), "db": str(db)}


def test_rules_check_prints_each_rule_as_parsed(files: dict[str, str]) -> None:
    code, out = invoke("--config", files["draft"], "rules", "check")
    assert code == 0, out
    assert out.splitlines()[0] == f"{files['draft']}: 2 rules OK"
    assert (
        "nato (line 10): weight 1, alerts with the article score (threshold 3), to every destination, max_age 30d"
        in out
    )
    assert '  word "NATO"\n  VETO phrase "football club"\n  VETO word "friendly"' in out
    assert "sanctions (line 14): weight 1, alerts with the article score (threshold 3), to newsroom, no max_age" in out
    assert '  ├─ ANY of\n  │  ├─ word "sanction", inflections\n  │  └─ word "embargo"' in out
    assert "  └─ EU within 5 words of sanction~" in out


def test_rules_check_refuses_a_broken_rule_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(HEAD + "rules:\n  - name: r\n    query: 'NATO NEAR sanctions'\n", encoding="utf-8")
    code, out = invoke("--config", str(broken), "rules", "check")
    assert code == EXIT_CONFIG
    assert f"{broken}:11: rules[0].query: NEAR at column 6 needs a distance, as in NEAR/10" in out


def test_rules_test_shows_what_a_changed_rule_would_newly_match_and_now_miss(files: dict[str, str]) -> None:
    code, out = invoke(
        "--config", files["config"], "--db", files["db"], "rules", "test", "nato", "--file", files["draft"]
    )
    assert code == 0, out
    assert f"rule nato from {files['draft']}, against 5 stored articles:" in out
    assert "would match 2 (stored matches 3): 0 would newly match, 1 would now miss, 2 still match" in out
    assert "matching but too old to alert: 1" in out
    missed = out.split("Would now miss:")[1]
    assert "Nato football club wins the cup" in missed
    assert "now: vetoed" in missed and "**football club**" in missed


def test_rules_test_a_new_rule_only_newly_matches(files: dict[str, str]) -> None:
    code, out = invoke(
        "--config",
        files["config"],
        "--db",
        files["db"],
        "rules",
        "test",
        "sanctions",
        "--file",
        files["draft"],
        "--json",
    )
    assert code == 0, out
    result = json.loads(out)
    assert (result["would_match"], result["stored_matches"], result["still_match"]) == (1, 0, 0)
    [newly] = result["newly_match"]
    assert newly["title"] == "EU agrees sanctions" and newly["stored_score"] is None
    assert {hit["term"] for hit in newly["match"]["hits"]} >= {"sanction~", "embargo", "EU NEAR/5 sanction~"}


def test_rules_test_query_tries_a_new_definition_of_a_rule_without_a_file(files: dict[str, str]) -> None:
    query = 'NATO AND NOT "football club"'
    code, out = invoke("--config", files["config"], "--db", files["db"], "rules", "test", "nato", "--query", query)
    assert code == 0, out
    assert f"rule nato from --query {query!r}, against 5 stored articles:" in out
    assert "would match 2 (stored matches 3): 0 would newly match, 1 would now miss, 2 still match" in out
    missed = out.split("Would now miss:")[1]
    assert "Nato football club wins the cup" in missed and "**football club**" in missed


def test_rules_test_query_tries_a_rule_that_does_not_exist_yet(files: dict[str, str]) -> None:
    args = ["rules", "test", "eu", "--query", "EU NEAR/5 sanction~", "--json"]
    code, out = invoke("--config", files["config"], "--db", files["db"], *args)
    assert code == 0, out
    result = json.loads(out)
    assert (result["rule"], result["would_match"], result["stored_matches"]) == ("eu", 1, 0)
    [newly] = result["newly_match"]
    assert newly["title"] == "EU agrees sanctions"


def test_rules_test_since_limits_the_archive(files: dict[str, str]) -> None:
    code, out = invoke(
        "--config", files["config"], "--db", files["db"], "rules", "test", "nato", "--since", "30d", "--json"
    )
    assert code == 0, out
    result = json.loads(out)
    assert result["articles"] == 4 and result["would_match"] == 2 and result["still_match"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rules", "test", "nope"], "no rule named 'nope'"),
        (["rules", "test", "nato", "--since", "soon"], "--since must be a duration"),
        (["rules", "test", "nato", "--query", "NATO NEAR sanctions"], "--query: rule 'nato': query: NEAR at column 6"),
        (["rules", "test", "nato", "--query", "(NATO"], "--query: rule 'nato': query:"),
    ],
)
def test_rules_test_refuses_bad_arguments(files: dict[str, str], args: list[str], message: str) -> None:
    code, out = invoke("--config", files["config"], "--db", files["db"], *args)
    assert code == EXIT_CONFIG and message in out


def test_rules_test_needs_an_existing_store(files: dict[str, str], tmp_path: Path) -> None:
    code, out = invoke("--config", files["config"], "--db", str(tmp_path / "none.db"), "rules", "test", "nato")
    assert code == EXIT_CONFIG and "no store here yet" in out
    assert not (tmp_path / "none.db").exists()  # read-only: nothing created


@pytest.fixture
def seed_page(tmp_path: Path) -> str:
    seed = next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)
    page = tmp_path / "seed.html"
    page.write_text(seed.html.replace("{base}", "https://ledger.test"), encoding="utf-8")
    return str(page)


def test_score_explain_accounts_for_every_rule(tmp_path: Path, seed_page: str) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(
        HEAD + "rules:\n  - name: nato\n    terms: [NATO, Stoltenberg]\n    weight: 2\n", encoding="utf-8"
    )
    code, out = invoke("--config", str(config), "score", seed_page, "--explain")
    assert code == 0, out
    assert "score 17.095 (threshold 3): ALERT" in out
    assert "  rule nato: 17.095 = 2 × (3 + 2 + 1.8333 + 1.7143)" in out
    assert "    'NATO' in title ×1 = 3: **NATO** offers arms talks with Russia to avert 'real risk' of conflict" in out


def test_score_json_explain_carries_points_and_the_explanation(tmp_path: Path, seed_page: str) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(CURRENT.replace("terms: [war]", "query: 'war AND NOT Stoltenberg'"), encoding="utf-8")
    code, out = invoke("--config", str(config), "score", seed_page, "--json", "--explain")
    assert code == 0, out
    result = json.loads(out)
    assert result["alert_rules"] == ["nato"] and result["destinations"] == []  # the only destination is off
    [nato] = result["matches"]
    assert nato["score"] == round(sum(hit["points"] for hit in nato["hits"]), 3)
    [war] = result["vetoed"]
    assert war["rule"] == "war" and war["vetoed_by"][0]["term"] == "Stoltenberg"
    assert result["explanation"][0].startswith("score ")


def test_every_rules_command_has_an_example() -> None:
    assert "Example:" in (rules_group.help or "")
    for command in rules_group.commands.values():
        assert isinstance(command, click.Command)
        assert "Example:" in (command.help or ""), command.name
