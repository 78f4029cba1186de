"""The rules shipped in rules.yaml, on a page of our own: which word forms each rule catches, and which it must not."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest

from monitor.config import load_config
from monitor.demo import QUIET_PATH, SEED_PATH, load_stories
from monitor.extract import extract_article
from monitor.models import Article, Verdict
from monitor.rules import RuleSet, compile_rules, score_article

ROOT = Path(__file__).resolve().parent.parent
PAGE = Path(__file__).resolve().parent / "fixtures" / "shipped_rules.html"
URL = "https://courier.example.org/world/fresh-sanction-package"
CONFIG = load_config(ROOT / "rules.yaml", {})
RULES: RuleSet = compile_rules(CONFIG.rules)


def paragraphs() -> list[tuple[str, frozenset[str]]]:
    """The page's paragraphs, each with the rules its ``data-rules`` says it must match (and no others)."""
    tree = lxml.html.fromstring(PAGE.read_bytes())
    return [
        (" ".join(p.text_content().split()), frozenset(p.get("data-rules").split()))
        for p in tree.iterfind(".//p[@data-rules]")
    ]


def verdict(title: str, text: str) -> Verdict:
    article = Article(url=URL, canonical_url=URL, title=title, text=text)
    return score_article(RULES, article, threshold=CONFIG.alerts.threshold)


def matched(result: Verdict) -> set[str]:
    return {match.rule for match in result.matches}


@pytest.mark.parametrize(("text", "rules"), [pytest.param(*case, id=case[0][:48]) for case in paragraphs()])
def test_each_paragraph_matches_exactly_its_rules(text: str, rules: frozenset[str]) -> None:
    assert matched(verdict("", text)) == rules


def test_the_page_covers_every_shipped_rule_and_lookalikes_of_each() -> None:
    cases = paragraphs()
    names = [rule.name for rule in CONFIG.rules]
    assert names == ["nato", "ukraine", "sanctions", "armed-conflict"]
    assert {name for _, rules in cases if len(rules) == 1 for name in rules} == set(names)
    assert sum(1 for _, rules in cases if not rules) >= 5


def test_the_singular_in_a_headline_is_a_title_hit() -> None:
    result = verdict("EU readies a fresh sanction package", "")
    assert [(hit.rule, hit.field, hit.snippet) for hit in result.hits] == [
        ("sanctions", "title", "EU readies a fresh **sanction** package")
    ]


def test_the_extracted_page_keeps_every_paragraph_and_alerts() -> None:
    article = extract_article(PAGE.read_text(encoding="utf-8"), URL)
    text = " ".join(article.text.split())
    assert all(paragraph in text for paragraph, _ in paragraphs())
    result = score_article(RULES, article, threshold=CONFIG.alerts.threshold)
    assert result.alert
    assert matched(result) == {"nato", "ukraine", "sanctions", "armed-conflict"}
    assert [hit.snippet for hit in result.hits if hit.rule == "sanctions" and hit.field == "title"] == [
        "EU readies a fresh **sanction** package as NATO's ministers meet"
    ]


def test_the_shipped_rules_keep_the_demo_as_it_is() -> None:
    stories = {story.path: story for story in load_stories()["ledger"]}
    seed = extract_article(stories[SEED_PATH].html, "https://ledger.example.org" + SEED_PATH)
    quiet = extract_article(stories[QUIET_PATH].html, "https://ledger.example.org" + QUIET_PATH)
    assert score_article(RULES, seed, threshold=CONFIG.alerts.threshold).alert
    assert matched(score_article(RULES, quiet, threshold=CONFIG.alerts.threshold)) == set()
