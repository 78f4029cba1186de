"""Source health: one notice when a source starts failing or goes quiet, one when it recovers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts.discord import render_discord
from monitor.alerts.facts import notice_lines
from monitor.alerts.slack import render_slack
from monitor.alerts.teams import render_teams
from monitor.config import Config, parse_config
from monitor.runs import check_sources
from monitor.runs.source_health import HISTORY_RUNS, QUIET_RUNS
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


NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def runs_at(store: Store, source: str, counts: list[int], first: datetime, every: timedelta) -> datetime:
    """Successful runs of ``source`` bringing ``counts`` new articles, started ``every`` apart; the last start."""
    moment = first
    for count in counts:
        run_id = start_run(store, source, moment)
        finish_run(store, run_id, {"new_articles": count}, "ok", moment + timedelta(seconds=10))
        moment += every
    return moment - every


def test_three_minutes_of_testing_are_no_history_to_call_a_source_quiet(store: Store) -> None:
    # A first run takes in the feed's backlog, the next ones find nothing new: that is no silence.
    last = runs_at(store, "steady", [5] + [0] * QUIET_RUNS, NOON, timedelta(seconds=30))
    assert check_sources(store, config(), last + timedelta(seconds=30)) == []
    assert notices(store) == []


def test_a_source_is_called_quiet_only_after_many_runs_or_several_days_of_them(store: Store) -> None:
    settings = config()
    every = timedelta(minutes=15)
    last = runs_at(store, "steady", [3] * (HISTORY_RUNS - 1) + [0] * QUIET_RUNS, NOON, every)
    assert check_sources(store, settings, last + every) == []  # nine runs and three hours: not yet a history
    runs_at(store, "wire", [3] * HISTORY_RUNS + [0] * QUIET_RUNS, NOON, every)
    assert len(check_sources(store, settings, last + every)) == 2  # ten runs are
    assert {(n["source"], n["health"]) for n in notices(store)} == {("wire", "quiet")}


def test_a_daily_source_is_called_quiet_after_several_days(store: Store) -> None:
    settings = config()
    day = timedelta(days=1)
    last = runs_at(store, "wire", [6, 4] + [0] * QUIET_RUNS, NOON, day)
    assert len(check_sources(store, settings, last + timedelta(hours=1))) == 2  # seven days of runs
    runs_at(store, "steady", [6, 4] + [0] * QUIET_RUNS, NOON, timedelta(hours=6))
    assert check_sources(store, settings, NOON + timedelta(days=2), ["steady"]) == []  # two days of runs: too soon
    assert {(n["source"], n["health"]) for n in notices(store)} == {("wire", "quiet")}


def test_a_quiet_notice_reads_as_sentences(store: Store) -> None:
    last = runs_at(store, "steady", [3] * 12 + [0] * QUIET_RUNS, NOON, timedelta(minutes=15))
    check_sources(store, config(), last + timedelta(minutes=15))
    event = {k: v for k, v in notices(store)[0].items() if k != "destination"}
    assert notice_lines(event) == (
        "Source quiet: steady",
        [
            "Why: no new article in its last 5 runs, though the 12 runs before them brought 36.",
            "Since: 2026-03-02 16:15 UTC.",
            "Details: monitor status shows its last run and the new articles it brought.",
        ],
    )
    # Slack's notification text (and Discord's message) join the lines into one paragraph.
    assert render_slack(event)["text"] == (
        "Source quiet: steady. Why: no new article in its last 5 runs, though the 12 runs before them brought 36."
        " Since: 2026-03-02 16:15 UTC. Details: monitor status shows its last run and the new articles it brought."
    )


def test_a_failing_notice_reads_as_sentences(store: Store) -> None:
    for _ in range(3):
        run(store, "wire", "failed")
    check_sources(store, config(), NOON)
    event = {k: v for k, v in notices(store)[0].items() if k != "destination"}
    assert notice_lines(event)[1] == [
        "Why: its last 3 runs failed; last error: fetch: connection refused.",
        "Since: 2026-03-02 12:00 UTC.",
        "Details: monitor status, and run_errors in the store for source wire.",
    ]
