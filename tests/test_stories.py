"""One story, many outlets: the same wire story republished elsewhere is one story and alerts once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import DestinationSpec, parse_config
from monitor.demo import SEED_PATH, load_stories
from monitor.demo.receiver import Receiver
from monitor.demo.sites import LocalSite, Story
from monitor.extract import extract_article, fingerprint_of, signature, similarity
from monitor.ingest import analyse, save_article
from monitor.models import Article, Hit, Page, RuleMatch, Verdict
from monitor.rules import compile_rules
from monitor.store import Store
from tests.sitekit import config_text, write
from tests.storekit import database

HOOK = (
    DestinationSpec(name="hook", type="webhook", url="http://127.0.0.1:9/h"),
    DestinationSpec(name="slack", type="slack", url="http://127.0.0.1:9/s"),
)
HERALD_PATH = "/2022/01/12/nato-russia-arms-talks.html"


def page(site: str, path: str) -> Story:
    return next(s for s in load_stories()[site] if s.path == path)


def article_of(story: Story, base: str, source: str) -> Article:
    extracted = extract_article(story.html.replace("{base}", base), base + story.path, source=source)
    return extracted


def variant(text: str, *, drop_last: int = 0, dateline: str = "") -> str:
    """The wire copy as another outlet runs it: a dateline added, the last paragraphs trimmed."""
    paragraphs = [p for p in text.split("\n") if p.strip()]
    kept = paragraphs[: len(paragraphs) - drop_last] if drop_last else paragraphs
    return dateline + "\n".join(kept)


def verdict() -> Verdict:
    hit = Hit(rule="nato", term="NATO", field="title", count=1, snippet="**NATO**")
    return Verdict(9.0, 3.0, (RuleMatch("nato", 9.0, (hit,)),))


def test_republished_copies_are_similar_and_unrelated_stories_are_not() -> None:
    ledger = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    rose = article_of(page("ledger", "/lifestyle/savar-rose-village.html"), "https://ledger.test", "ledger")
    seed_sig, herald_sig, rose_sig = (signature(a.text) for a in (ledger, herald, rose))
    assert seed_sig is not None and herald_sig is not None and rose_sig is not None
    assert similarity(seed_sig, herald_sig) >= 0.5
    trimmed = signature(variant(ledger.text, drop_last=3, dateline="BRUSSELS (Reuters) - "))
    assert trimmed is not None and similarity(seed_sig, trimmed) >= 0.5
    assert similarity(seed_sig, rose_sig) < 0.2
    assert signature("Too short to compare.") is None


def test_the_seed_story_on_four_outlets_is_one_story_with_one_alert_per_destination(store: Store) -> None:
    ledger = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    copies = [
        herald,
        ledger,
        Article(
            url="https://third.test/n/1",
            canonical_url="https://third.test/n/1",
            source="third",
            title="NATO ready for arms talks with Moscow",
            published=ledger.published - timedelta(hours=1),
            text=variant(ledger.text, drop_last=4, dateline="BRUSSELS, Jan 12 (Reuters) - "),
        ),
        Article(
            url="https://fourth.test/x",
            canonical_url="https://fourth.test/x",
            source="fourth",
            title="Stoltenberg: real risk of conflict",
            published=ledger.published + timedelta(hours=2),
            text=variant(ledger.text, drop_last=2),
        ),
    ]
    outcomes = [save_article(store, copy, verdict(), HOOK) for copy in copies]
    assert [o.new_story for o in outcomes] == [True, False, False, False]
    assert len({o.story_id for o in outcomes}) == 1
    assert sum(o.alerts_queued for o in outcomes) == 2  # one per destination, from the first copy
    story = store.query("SELECT s.key, a.source AS lead FROM stories s JOIN articles a ON a.id = s.lead_article_id")
    assert story == [{"key": herald.canonical_url, "lead": "third"}]  # the earliest published copy leads
    payloads = store.query("SELECT json_extract(payload, '$.story.outlets') AS outlets FROM alerts")
    for row in payloads:
        # Earliest published first: third (14:50 UTC), ledger (15:50), herald (16:20), fourth (17:50).
        assert [o["source"] for o in json.loads(row["outlets"])] == ["third", "ledger", "herald", "fourth"]


def test_an_unrelated_article_starts_its_own_story(store: Store) -> None:
    seed = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    rose = article_of(page("ledger", "/lifestyle/savar-rose-village.html"), "https://ledger.test", "ledger")
    first, second = (save_article(store, a, verdict(), HOOK) for a in (seed, rose))
    assert first.story_id != second.story_id and second.new_story
    assert second.alerts_queued == 2


def test_an_alert_that_went_out_is_not_resent_when_another_outlet_appears(store: Store) -> None:
    seed = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    save_article(store, seed, verdict(), HOOK)
    with store.write() as conn:
        conn.execute("UPDATE alerts SET status = 'delivered'")
    again = save_article(store, herald, verdict(), HOOK)
    assert again.alerts_queued == 0
    sent = store.query("SELECT json_array_length(payload, '$.story.outlets') AS n FROM alerts")
    assert sent == [{"n": 1}, {"n": 1}]  # what went out is history: it is not rewritten
    outlets = store.query("SELECT COUNT(*) AS n FROM articles WHERE story_id = (SELECT MIN(id) FROM stories)")
    assert outlets == [{"n": 2}]


def alert_rows(store: Store) -> list[dict[str, object]]:
    return store.query(
        "SELECT id, destination, status, article_id, created_at, payload FROM alerts ORDER BY destination"
    )


def test_an_unsent_alert_describes_the_earliest_published_copy_whichever_was_stored_first(store: Store) -> None:
    ledger = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    later = Article(
        url="https://fourth.test/x",
        canonical_url="https://fourth.test/x",
        source="fourth",
        title="Stoltenberg: real risk of conflict",
        published=ledger.published + timedelta(hours=2),
        text=variant(ledger.text, drop_last=2),
    )
    first = save_article(store, herald, verdict(), HOOK)  # 16:20 UTC, stored first
    queued = alert_rows(store)
    with store.write() as conn:  # one alert waits for its digest, the other to be sent
        conn.execute("UPDATE alerts SET status = 'held', route = 'digest' WHERE destination = 'slack'")
    earliest_verdict = Verdict(12.0, 3.0, (RuleMatch("nato", 12.0, (Hit("nato", "NATO", "body", 2, "**NATO**"),)),))
    earliest = save_article(store, ledger, earliest_verdict, HOOK)  # 15:50 UTC
    later_outcome = save_article(store, later, verdict(), HOOK)  # 17:50 UTC
    assert first.alerts_queued == 2 and earliest.alerts_queued == 0 and later_outcome.alerts_queued == 0
    rows = alert_rows(store)
    assert [(r["id"], r["created_at"]) for r in rows] == [(r["id"], r["created_at"]) for r in queued]
    assert [r["status"] for r in rows] == ["pending", "held"]
    for row in rows:
        event = json.loads(str(row["payload"]))
        assert row["article_id"] == earliest.article_id
        assert event["article"]["id"] == earliest.article_id
        assert event["article"]["url"] == ledger.canonical_url and event["article"]["source"] == "ledger"
        assert event["article"]["title"] == ledger.title
        assert event["score"] == 12.0 and event["rules"][0]["score"] == 12.0  # the reasons are that copy's
        assert event["id"] == row["id"] and event["created_at"] == json.loads(str(queued[0]["payload"]))["created_at"]
        assert event["story"]["key"] == herald.canonical_url  # the story keeps its key, so it never alerts twice
        assert [o["source"] for o in event["story"]["outlets"]] == ["ledger", "herald", "fourth"]


def test_an_earlier_copy_that_did_not_match_does_not_take_over_the_alert(store: Store) -> None:
    ledger = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    alerted = save_article(store, herald, verdict(), HOOK)
    save_article(store, ledger, Verdict(0.0, 3.0, ()), HOOK)
    for row in alert_rows(store):
        event = json.loads(str(row["payload"]))
        # The alert explains why it fired: its article is the copy whose rules matched.
        assert row["article_id"] == alerted.article_id and event["article"]["source"] == "herald"
        assert [o["source"] for o in event["story"]["outlets"]] == ["ledger", "herald"]


@pytest.mark.parametrize("status", ["delivered", "sending", "dead"])
def test_an_alert_sent_or_being_sent_keeps_the_copy_it_went_out_with(store: Store, status: str) -> None:
    ledger = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    alerted = save_article(store, herald, verdict(), HOOK)
    with store.write() as conn:
        conn.execute("UPDATE alerts SET status = ?", (status,))
    before = alert_rows(store)
    again = save_article(store, ledger, verdict(), HOOK)
    assert again.alerts_queued == 0
    assert alert_rows(store) == before  # what went out (or is going out) is history: never rewritten nor resent
    assert all(row["article_id"] == alerted.article_id for row in before)
    lead = store.query("SELECT lead_article_id FROM stories")
    assert lead == [{"lead_article_id": again.article_id}]  # the story itself is led by the earliest copy


def test_the_fingerprint_the_worker_computes_is_what_the_store_keeps(store: Store) -> None:
    story = page("ledger", SEED_PATH)
    url = "https://ledger.test" + SEED_PATH
    seed = Page(
        "ledger", url, story.html.replace("{base}", "https://ledger.test"), fetched_at=datetime(2022, 1, 13, tzinfo=UTC)
    )
    config = parse_config(config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"), "r.yaml", {})
    analysis = analyse(seed, compile_rules(config.rules), 3.0)
    marks = analysis.fingerprint
    assert marks.signature is not None and marks.signature == signature(analysis.article.text)
    assert marks.content_hash == analysis.article.content_hash
    outcome = save_article(store, analysis.article, analysis.verdict, HOOK, fingerprint=marks)
    [row] = store.query("SELECT signature, content_hash FROM articles WHERE id = ?", (outcome.article_id,))
    assert row == {"signature": marks.signature, "content_hash": marks.content_hash}
    bands = store.query("SELECT hash FROM story_bands WHERE article_id = ? ORDER BY band", (outcome.article_id,))
    assert tuple(band["hash"] for band in bands) == marks.bands and len(marks.bands) == 16
    # Saved again with the same fingerprint, it is known unchanged: only last_seen moves.
    assert save_article(store, analysis.article, analysis.verdict, HOOK, fingerprint=marks).status == "unchanged"


def test_the_store_groups_stories_from_given_fingerprints_without_computing_a_signature(tmp_path: Path) -> None:
    ledger = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    given = [
        {"article": a.to_dict(), "hash": m.content_hash, "signature": (m.signature or b"").hex(), "bands": m.bands}
        for a, m in ((ledger, fingerprint_of(ledger)), (herald, fingerprint_of(herald)))
    ]
    code = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from monitor.config import DestinationSpec\n"
        "from monitor.extract import Fingerprint\n"
        "from monitor.models import Article, Verdict\n"
        "from monitor.store import Store, write_article\n"
        "given = json.loads(sys.stdin.read())\n"
        "with Store.open(sys.argv[1]) as store:\n"
        "    outcomes = []\n"
        "    for item in given:\n"
        "        data = {**item['article'], **{k: datetime.fromisoformat(item['article'][k]) if item['article'][k] else None for k in ('published', 'updated')}}\n"
        "        marks = Fingerprint(item['hash'], bytes.fromhex(item['signature']), tuple(item['bands']))\n"
        "        outcome = write_article(store, Article(**data), Verdict(0.0, 3.0, ()), (), {}, marks)\n"
        "        outcomes.append(outcome.story_id)\n"
        "print(json.dumps({'stories': outcomes, 'minhash_loaded': 'datasketch' in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m.db")],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stories"][0] == report["stories"][1]  # the wire copy and its re-run: one story
    assert report["minhash_loaded"] is False


@pytest.fixture
def three_sites() -> Iterator[list[LocalSite]]:
    """The seed story republished on three sites, each with its own clutter, headline and ending."""
    ledger_story, herald_story = page("ledger", SEED_PATH), page("herald", HERALD_PATH)
    third_html = re.sub(r"<p>[^<]*Grushko[^<]*</p>", "", herald_story.html)  # a trimmed ending
    third_html = third_html.replace("NATO offers Russia arms talks, warns of", "Alliance offers Moscow talks amid")
    third = Story(
        "/world/alliance-offers-talks.html",
        "Alliance offers Moscow talks",
        herald_story.published,
        "wire copy",
        third_html,
    )
    sites = [LocalSite(name).start() for name in ("ledger", "herald", "third")]
    for site, story in zip(sites, (ledger_story, herald_story, third), strict=True):
        site.add_news(site.name, [story])
    yield sites
    for site in sites:
        site.stop()


@pytest.mark.slow
def test_a_crawl_of_three_outlets_sends_one_alert_listing_them_all(
    three_sites: list[LocalSite], tmp_path: Path
) -> None:
    sources = "".join(f"  - name: {s.name}\n    type: rss\n    url: {s.base}/feed.xml\n" for s in three_sites)
    destinations = "    - name: hook\n      type: webhook\n      url: ${STORY_HOOK}\n"
    config = write(tmp_path / "rules.yaml", config_text(sources, destinations=destinations))
    with Receiver() as receiver:
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", config, "--db", str(tmp_path / "m.db"), "run"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "STORY_HOOK": receiver.base + "/hook"},
        )
        assert result.returncode == 0, result.stderr
        posts = receiver.posts("/hook")
    assert "3 new articles" in result.stdout
    assert len(posts) == 1
    outlets = posts[0].json()["story"]["outlets"]
    assert sorted(o["source"] for o in outlets) == ["herald", "ledger", "third"]
    with Store.open(tmp_path / "m.db") as store:
        assert database(store)["stories"].count == 1 and database(store)["articles"].count == 3


def test_monitor_stories_lists_outlets_and_alert_status(store: Store, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    seed = article_of(page("ledger", SEED_PATH), "https://ledger.test", "ledger")
    herald = article_of(page("herald", HERALD_PATH), "https://herald.test", "herald")
    rose = article_of(page("ledger", "/lifestyle/savar-rose-village.html"), "https://ledger.test", "ledger")
    for copy in (seed, herald):
        save_article(store, copy, verdict(), HOOK)
    save_article(store, rose, Verdict(0.0, 3.0, ()), HOOK)
    config = write(tmp_path / "rules.yaml", config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"))
    result = CliRunner().invoke(
        cli, ["--config", config, "--db", store.path, "stories", "--json", "--source", "herald"]
    )
    assert result.exit_code == 0, result.output
    [story] = json.loads(result.output)
    assert story["outlets"] == 2 and story["sources"] == "ledger, herald" and story["lead_source"] == "ledger"
    assert story["alerts"] == "hook:pending slack:pending"
    everything = json.loads(
        CliRunner().invoke(cli, ["--config", config, "--db", store.path, "stories", "--json"]).output
    )
    assert len(everything) == 2
