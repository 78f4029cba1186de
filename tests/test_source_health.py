"""Source health: one notice when a source starts failing or goes quiet, one when it recovers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from monitor.alerts.discord import render_discord
from monitor.alerts.slack import render_slack
from monitor.alerts.teams import render_teams
from monitor.config import Config, parse_config
from monitor.runs import check_sources
from monitor.runs.source_health import QUIET_RUNS
from monitor.store import Store, finish_run, record_error, start_run
from monitor.timestamps import utcnow
from tests.sitekit import config_text

DESTINATIONS = (
    "    - name: team-slack\n      type: slack\n      url: ${HEALTH_SLACK}\n"
    "    - name: hook\n      type: webhook\n      url: ${HEALTH_HOOK}\n"
)
ENV = {"HEALTH_SLACK": "http://127.0.0.1:9/slack", "HEALTH_HOOK": "http://127.0.0.1:9/hook"}


def config() -> Config:
    sources = (
        "  - name: wire\n    type: rss\n    url: http://127.0.0.1:9/w\n"
        "  - name: steady\n    type: rss\n    url: http://127.0.0.1:9/s\n"
    )
    return parse_config(config_text(sources, destinations=DESTINATIONS), "rules.yaml", ENV)


def run(store: Store, source: str, status: str, new_articles: int = 0) -> None:
    run_id = start_run(store, source)
    if status == "failed":
        record_error(store, run_id, source, None, "fetch", "connection refused")
    finish_run(store, run_id, {"new_articles": new_articles, "errors": int(status == "failed")}, status)


def notices(store: Store) -> list[dict]:
    rows = store.query("SELECT destination, payload FROM alerts WHERE kind = 'notice' ORDER BY rowid")
    return [{"destination": r["destination"], **json.loads(r["payload"])} for r in rows]


def test_a_source_that_keeps_failing_raises_one_notice_per_destination_then_one_on_recovery(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    settings = config()
    for _ in range(2):
        run(store, "wire", "failed")
        assert check_sources(store, settings, utcnow()) == []  # two failures are not yet a pattern
    run(store, "wire", "failed")
    with caplog.at_level(logging.WARNING, "monitor.health"):
        assert len(check_sources(store, settings, utcnow())) == 2
    sent = notices(store)
    assert {n["destination"] for n in sent} == {"team-slack", "hook"}
    assert all(n["type"] == "source.health" and n["source"] == "wire" and n["health"] == "failing" for n in sent)
    assert "connection refused" in sent[0]["reason"]
    assert any("source wire is now failing" in r.getMessage() for r in caplog.records)
    for _ in range(3):  # still failing: nothing new
        run(store, "wire", "failed")
        assert check_sources(store, settings, utcnow()) == []
    run(store, "wire", "ok", new_articles=4)
    assert len(check_sources(store, settings, utcnow())) == 2
    assert [n["health"] for n in notices(store)] == ["failing", "failing", "ok", "ok"]
    assert store.query("SELECT health FROM source_state WHERE name = 'wire'") == [{"health": "ok"}]


def test_a_source_that_goes_quiet_well_below_its_usual_volume_raises_a_notice(store: Store) -> None:
    settings = config()
    for _ in range(10):
        run(store, "steady", "ok", new_articles=3)
    assert check_sources(store, settings, utcnow()) == []
    for _ in range(QUIET_RUNS):
        run(store, "steady", "ok", new_articles=0)
    assert len(check_sources(store, settings, utcnow())) == 2
    assert {n["health"] for n in notices(store)} == {"quiet"}


def test_a_new_source_with_nothing_yet_is_not_called_quiet(store: Store) -> None:
    for _ in range(QUIET_RUNS):
        run(store, "steady", "ok", new_articles=0)
    assert check_sources(store, config(), utcnow()) == []


def test_source_notices_render_for_every_destination_type(store: Store) -> None:
    for _ in range(3):
        run(store, "wire", "failed")
    check_sources(store, config(), utcnow())
    event = {k: v for k, v in notices(store)[0].items() if k != "destination"}
    slack = json.dumps(render_slack(event))
    assert "Source failing: wire" in slack
    discord = render_discord(event)["content"]  # Discord markdown is escaped: "Source failing\\: wire"
    assert discord.startswith("Source failing") and "wire" in discord
    assert "Source failing: wire" in json.dumps(render_teams(event))


def test_monitor_run_judges_health_after_a_dead_source_fails_three_times(tmp_path: Path) -> None:
    from monitor.runs import run_once

    # The crawl process expands ${VAR}s from its own environment, which has no HEALTH_HOOK: hence the default.
    text = config_text(
        "  - name: dead\n    type: rss\n    url: http://127.0.0.1:9/feed.xml\n",
        destinations="    - name: hook\n      type: webhook\n      url: ${HEALTH_HOOK:-http://127.0.0.1:9/h}\n",
    )
    settings = parse_config(text, str(tmp_path / "rules.yaml"), ENV)
    (tmp_path / "rules.yaml").write_text(text)
    with Store.open(tmp_path / "m.db") as store:
        for _ in range(3):
            run_once(settings, store, send=False)
        assert [n["health"] for n in notices(store)] == ["failing"]
