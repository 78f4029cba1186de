"""What a verdict decides: per-rule thresholds, per-rule destinations, and the recency gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.rules import RuleSpec, compile_rules, explain, score_article
from monitor.rules.engine import Meta, score

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = 86_400
ALL = ("newsroom", "ingest", "legal")


def article(published: datetime | None, title: str = "NATO summit", text: str = "NATO met.") -> Article:
    return Article("https://n.test/a", "https://n.test/a", title, text, published, ["Jane Doe"], "en", "wire")


def test_rules_without_a_threshold_alert_together_on_the_article_score() -> None:
    ruleset = compile_rules([RuleSpec("a", ("alpha",)), RuleSpec("b", ("beta",))])
    verdict = score(ruleset, "", "alpha beta", threshold=3.0)  # 2 + 2 in the lead
    assert verdict.score == 4.0 and verdict.alert
    assert [m.rule for m in verdict.alerting()] == ["a", "b"]
    assert not score(ruleset, "", "alpha", threshold=3.0).alert


@pytest.mark.parametrize(("body", "alerts"), [("alpha", False), ("alpha alpha alpha. x. alpha", True)])
def test_a_rule_with_its_own_threshold_alerts_on_its_own_score(body: str, alerts: bool) -> None:
    ruleset = compile_rules([RuleSpec("a", ("alpha",), threshold=3.5)])
    verdict = score(ruleset, "", body, threshold=1.0)  # the global threshold does not apply to it
    assert verdict.alert is alerts


def test_a_rule_with_its_own_threshold_stays_out_of_the_pool() -> None:
    ruleset = compile_rules([RuleSpec("a", ("alpha",), threshold=10.0), RuleSpec("b", ("beta",))])
    verdict = score(ruleset, "", "alpha beta", threshold=3.0)
    assert verdict.score == 4.0  # the article score still sums every match
    assert not verdict.alert  # but b alone (2) is below 3 and a is below its own 10


def test_destinations_route_each_rules_alert() -> None:
    ruleset = compile_rules(
        [
            RuleSpec("legal", ("lawsuit",), threshold=1.0, destinations=("legal",)),
            RuleSpec("news", ("NATO",), threshold=1.0, destinations=("newsroom", "ingest")),
            RuleSpec("all", ("war",), threshold=1.0),
        ]
    )
    owed = {
        body: score(ruleset, "", body, threshold=1.0).alert_destinations(ALL) for body in ("lawsuit", "NATO", "war")
    }
    assert owed == {"lawsuit": ("legal",), "NATO": ("newsroom", "ingest"), "war": ALL}
    both = score(ruleset, "", "lawsuit NATO", threshold=1.0).alert_destinations(ALL)
    assert both == ("newsroom", "ingest", "legal")  # in the configured order
    # A destination that is switched off (not among the names given) is owed nothing.
    assert score(ruleset, "", "lawsuit", threshold=1.0).alert_destinations(("newsroom",)) == ()


def test_a_verdict_built_by_hand_still_alerts_as_before() -> None:
    hit = Hit("nato", "NATO", "title", 1, "**NATO**")
    assert Verdict(5.0, 3.0, (RuleMatch("nato", 5.0, (hit,)),)).alert_destinations(["a", "b"]) == ("a", "b")
    assert Verdict(2.0, 3.0, (RuleMatch("nato", 2.0, (hit,)),)).alert_destinations(["a"]) == ()
    assert not Verdict(0.0, 0.0, ()).alert


@pytest.mark.parametrize(
    ("age_days", "rule_max_age", "default", "gated"),
    [
        (1, 7 * DAY, None, False),
        (10, 7 * DAY, None, True),
        (10, None, 7 * DAY, True),  # the default (a global max_age) applies to rules without one
        (10, 30 * DAY, 7 * DAY, False),  # a rule's own max_age wins
        (10, None, None, False),
        (None, 7 * DAY, None, False),  # an undated article is never too old
    ],
)
def test_the_recency_gate(age_days: int | None, rule_max_age: int | None, default: int | None, gated: bool) -> None:
    ruleset = compile_rules([RuleSpec("nato", ("NATO",), max_age_seconds=rule_max_age)])
    published = NOW - timedelta(days=age_days) if age_days is not None else None
    verdict = score_article(ruleset, article(published), threshold=1.0, now=NOW, max_age_seconds=default)
    [match] = verdict.matches  # stored and scored either way
    assert match.score == 5.0
    assert (match.gate is not None) is gated
    assert verdict.alert is not gated
    assert verdict.alert_destinations(ALL) == (() if gated else ALL)
    if gated:
        assert match.gate.startswith(f"published {published:%Y-%m-%d %H:%M} UTC, 10d ago: older than max_age")


def test_no_clock_no_gate_and_naive_dates_are_utc() -> None:
    ruleset = compile_rules([RuleSpec("nato", ("NATO",), max_age_seconds=DAY)])
    old = NOW - timedelta(days=3)
    assert score_article(ruleset, article(old), threshold=1.0).alert  # no now: the engine never reads the clock
    naive = score_article(ruleset, article(old.replace(tzinfo=None)), threshold=1.0, now=NOW.replace(tzinfo=None))
    assert naive.matches[0].gate is not None


def test_a_gated_match_keeps_the_pool_from_alerting() -> None:
    ruleset = compile_rules([RuleSpec("old", ("NATO",), max_age_seconds=DAY), RuleSpec("war", ("war",))])
    verdict = score_article(ruleset, article(NOW - timedelta(days=3), "NATO", "war"), threshold=3.0, now=NOW)
    assert verdict.score == 5.0 and not verdict.alert  # war alone scores 2


def test_score_article_passes_the_metadata_to_filters() -> None:
    ruleset = compile_rules([RuleSpec("q", (), query='NATO AND author:"Jane Doe" AND site:n.test AND lang:en')])
    assert score_article(ruleset, article(None), threshold=1.0).matches
    assert not score(ruleset, "NATO", "", threshold=1.0, meta=Meta()).matches


def test_the_explanation_states_the_decision_the_arithmetic_and_the_gate() -> None:
    ruleset = compile_rules(
        [
            RuleSpec("nato", ("NATO",), weight=2.0, destinations=("legal",), threshold=1.0),
            RuleSpec("old", ("summit",), max_age_seconds=DAY),
            RuleSpec("sport", (), query="NATO AND NOT summit"),
        ]
    )
    verdict = score_article(ruleset, article(NOW - timedelta(days=3)), threshold=3.0, now=NOW)
    lines = explain(verdict, ALL)
    assert lines[0] == "score 13 (threshold 3): ALERT to legal"
    assert "  rule nato: 10 = 2 × (3 + 2) (alerts: reaches its own threshold 1; to legal)" in lines
    assert "    'NATO' in title ×1 = 3: **NATO** summit" in lines
    assert any(line.startswith("  rule old: 3 = 3 (no alert: published") for line in lines)
    assert "  rule sport: 5 = 3 + 2 (vetoed, no match)" in lines
    assert "    vetoed by 'summit' in title ×1: NATO **summit**" in lines
