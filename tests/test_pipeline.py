"""The core pipeline: a page becomes a scored article, and the global recency gate keeps old news quiet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.demo import SEED_PATH, load_stories
from monitor.ingest import Analyser, analyse, workers
from monitor.models import Page
from monitor.rules import RuleSet, compile_rules
from tests.sitekit import config_text


def seed_page(fetched_at: datetime) -> Page:
    story = next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)
    url = "https://ledger.test" + SEED_PATH
    return Page(
        source="ledger", url=url, html=story.html.replace("{base}", "https://ledger.test"), fetched_at=fetched_at
    )


def test_global_max_age_is_read_from_the_alerts_section() -> None:
    config = parse_config(
        config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n").replace(
            "alerts:\n  threshold: 3.0\n", "alerts:\n  threshold: 3.0\n  max_age: 2d\n"
        ),
        "rules.yaml",
        {},
    )
    assert config.alerts.max_age_seconds == 2 * 86400


def test_the_seed_story_alerts_when_fresh_and_stays_quiet_when_older_than_the_global_max_age() -> None:
    config = parse_config(config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"), "r.yaml", {})
    ruleset = compile_rules(config.rules)
    fresh = analyse(seed_page(datetime(2022, 1, 13, tzinfo=UTC)), ruleset, 3.0, max_age_seconds=7 * 86400)
    stale = analyse(seed_page(datetime(2022, 3, 1, tzinfo=UTC)), ruleset, 3.0, max_age_seconds=7 * 86400)
    assert fresh.verdict.alert is True
    assert stale.verdict.alert is False and stale.verdict.score == fresh.verdict.score  # scored, stored, quiet


def test_the_worker_pool_gives_the_same_verdict_as_analysing_inline() -> None:
    config = parse_config(config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"), "r.yaml", {})
    page = seed_page(datetime(2022, 1, 13, tzinfo=UTC))
    inline = Analyser(config.rules, 3.0, workers=1).submit(page).result()
    pool = Analyser(config.rules, 3.0, workers=2)
    try:
        pooled = pool.submit(page).result(timeout=60)
    finally:
        pool.close()
    assert pooled.verdict == inline.verdict and pooled.article.title == inline.article.title
    assert pooled.fingerprint == inline.fingerprint and pooled.fingerprint.signature is not None


def test_with_worker_processes_the_crawl_process_compiles_the_rules_only_when_it_needs_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = parse_config(config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"), "r.yaml", {})
    compiled: list[int] = []

    def counting(rules: Any) -> RuleSet:  # the real compiler, counted: workers compile their own
        compiled.append(len(rules))
        return compile_rules(rules)

    monkeypatch.setattr(workers, "compile_rules", counting)
    pool = Analyser(config.rules, 3.0, workers=2)
    try:
        assert pool.submit(seed_page(datetime(2022, 1, 13, tzinfo=UTC))).result(timeout=60).verdict.alert
        assert compiled == []  # the workers compiled theirs; this process had no use for them
        assert pool.ruleset.rules == tuple(config.rules)  # the prefilter asks: compiled then, once
        assert pool.ruleset is pool.ruleset and compiled == [len(config.rules)]
    finally:
        pool.close()
