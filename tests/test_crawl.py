"""Real Scrapy crawls (in their own process, as `monitor run` does) against sites on 127.0.0.1."""

from __future__ import annotations

import gzip
import queue
import time
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo import QUIET_PATH, SEED_PATH, load_stories
from monitor.demo.sites import LocalSite, Route, Story
from monitor.models import SourceRunSummary
from monitor.runs import EngineSupervisor, run_crawl, run_once
from monitor.store import Store
from tests.sitekit import config_text, write
from tests.storekit import database

pytestmark = pytest.mark.slow


def sources_for(ledger: LocalSite, herald: LocalSite) -> str:
    return (
        f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
        f"  - name: herald\n    type: sitemap\n    url: {herald.base}/sitemap.xml\n"
    )


def test_a_crawl_stores_every_article_and_queues_alerts_only_for_relevant_ones(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    ledger, herald = sites
    destinations = "    - name: hook\n      type: webhook\n      url: ${HOOK_URL:-http://127.0.0.1:9/hook}\n"
    config = write(
        tmp_path / "rules.yaml", config_text(sources_for(ledger, herald), destinations=destinations, workers=2)
    )
    report = run_crawl(config, str(tmp_path / "m.db"), ["ledger", "herald"])
    by_source = {s["source"]: s for s in report.sources}
    assert by_source["ledger"]["status"] == "ok" and by_source["ledger"]["new_articles"] == 3
    assert by_source["herald"]["status"] == "ok" and by_source["herald"]["new_articles"] == 2
    with Store.open(tmp_path / "m.db") as store:
        # An alert is owed per story: every outlet of an alerting story counts as alerted.
        alerted = {
            r["fetched_url"]
            for r in store.query(
                "SELECT a.fetched_url FROM articles a JOIN stories s ON s.id = a.story_id"
                " WHERE s.key IN (SELECT story_key FROM alerts)"
            )
        }
        assert ledger.base + SEED_PATH in alerted
        assert ledger.base + QUIET_PATH not in alerted
        quiet = store.query("SELECT score FROM articles WHERE fetched_url = ?", [ledger.base + QUIET_PATH])[0]
        assert quiet["score"] == 0
        runs = store.query("SELECT source, status, pages, new_articles, median_age_seconds FROM runs ORDER BY source")
        assert [(r["source"], r["status"]) for r in runs] == [("herald", "ok"), ("ledger", "ok")]
        # The demo stories were published in January 2022: the median new article is years old.
        assert all(r["median_age_seconds"] > 4 * 365 * 86400 for r in runs)


def test_scheduled_and_manual_runs_crawl_with_the_validated_configuration_not_the_file_edited_since(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    ledger, herald = sites
    path = tmp_path / "rules.yaml"
    config = load_config(write(path, config_text(sources_for(ledger, herald))))
    # An edit monitor serve refused (it keeps running the configuration it had): the crawls must too.
    path.write_text("sources: [this is: not valid\n", encoding="utf-8")
    db = str(tmp_path / "m.db")
    finished: queue.Queue[SourceRunSummary] = queue.Queue()
    engine = EngineSupervisor(config, db, on_finished=finished.put, on_busy=print, on_alerts=lambda: None)
    engine.start()
    assert engine.submit("ledger", 60)
    assert finished.get(timeout=60).status == "ok"
    engine.stop(5)
    with Store.open(db) as store:
        summary = run_once(config, store, ["herald"], send=False)
        runs = store.query("SELECT source, status, new_articles FROM runs ORDER BY source")
    assert not summary.crashed
    assert [(r["source"], r["status"], r["new_articles"]) for r in runs] == [("herald", "ok", 2), ("ledger", "ok", 3)]


def test_a_second_crawl_fetches_no_known_article_and_owes_no_new_alert(
    sites: tuple[LocalSite, LocalSite], tmp_path: Path
) -> None:
    ledger, herald = sites
    destinations = "    - name: hook\n      type: webhook\n      url: ${HOOK_URL:-http://127.0.0.1:9/hook}\n"
    config = write(tmp_path / "rules.yaml", config_text(sources_for(ledger, herald), destinations=destinations))
    run_crawl(config, str(tmp_path / "m.db"))
    before = len(ledger.requests)
    again = run_crawl(config, str(tmp_path / "m.db"))
    assert again.total("new_articles") == 0 and again.total("alerts_queued") == 0
    article_requests = [p for p in ledger.requests[before:] if p.endswith(".html")]
    assert article_requests == []
    with Store.open(tmp_path / "m.db") as store:
        assert database(store)["alerts"].count == 1  # the seed story on both sites: one story, one destination


def test_a_dead_source_is_recorded_and_the_others_go_on(sites: tuple[LocalSite, LocalSite], tmp_path: Path) -> None:
    ledger, _ = sites
    with LocalSite("closed") as closed:
        dead_url = closed.base + "/feed.xml"
    sources = (
        f"  - name: ledger\n    type: rss\n    url: {ledger.base}/feed.xml\n"
        f"  - name: dead\n    type: rss\n    url: {dead_url}\n"
    )
    config = write(tmp_path / "rules.yaml", config_text(sources))
    report = {s["source"]: s for s in run_crawl(config, str(tmp_path / "m.db")).sources}
    assert report["dead"]["status"] == "failed" and report["dead"]["errors"] >= 1
    assert report["ledger"]["status"] == "ok" and report["ledger"]["new_articles"] == 3
    with Store.open(tmp_path / "m.db") as store:
        errors = store.query("SELECT source, kind, message FROM run_errors WHERE source = 'dead'")
        assert errors and errors[0]["kind"] == "fetch"


def hostile_site() -> LocalSite:
    """A feed whose entries are each broken in their own way, plus one good article."""
    seed = next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)
    site = LocalSite("hostile").start()
    good = Story("/good.html", seed.title, seed.published, "good", seed.html)
    site.add_news("Hostile", [good])
    site.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    entries = [
        "/good.html",
        "/missing.html",
        "/error.html",
        "/gone.html",
        "/image.html",
        "/huge.html",
        "/bomb.html",
        "/binary.html",
        "/private/secret.html",
        "/loop.html",
        "file:///etc/passwd",
        "data:text/html,hi",
    ]
    items = "".join(f"<item><title>{p}</title><link>{p if ':' in p else site.base + p}</link></item>" for p in entries)
    site.routes["/feed.xml"] = Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>H</title>{items}</channel></rss>'.encode(),
        "application/rss+xml",
    )
    site.routes["/error.html"] = Route(b"oops", status=500)
    site.routes["/gone.html"] = Route(b"gone", status=410)
    site.routes["/image.html"] = Route(b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000, "image/png")
    site.routes["/huge.html"] = Route(b"<html><body><p>" + b"NATO " * 400_000 + b"</p></body></html>")
    site.routes["/bomb.html"] = Route(
        gzip.compress(b"<html>" + b" " * 50_000_000), headers={"Content-Encoding": "gzip"}
    )
    site.routes["/binary.html"] = Route(bytes(range(256)) * 200)
    site.routes["/private/secret.html"] = Route(seed.html.encode())
    site.routes["/loop.html"] = Route(b"", status=302, headers={"Location": "/loop.html"})
    return site


def test_hostile_pages_are_refused_or_survived_and_recorded(tmp_path: Path) -> None:
    site = hostile_site()
    try:
        sources = f"  - name: hostile\n    type: rss\n    url: {site.base}/feed.xml\n"
        config = write(tmp_path / "rules.yaml", config_text(sources, extra_crawl="  max_page_bytes: 1000000\n"))
        [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    finally:
        site.stop()
    assert report["status"] == "ok" and report["new_articles"] == 1  # the good page got through
    assert "/private/secret.html" not in site.requests  # robots.txt obeyed
    with Store.open(tmp_path / "m.db") as store:
        errors = {
            row["url"].rsplit("/", 1)[-1]: row["kind"]
            for row in store.query("SELECT url, kind FROM run_errors WHERE url IS NOT NULL")
        }
    assert errors["missing.html"] == "http" and errors["error.html"] == "http" and errors["gone.html"] == "http"
    assert errors["image.html"] == "content-type"
    assert errors["huge.html"] == "size" and errors["bomb.html"] == "size"  # the size cap, before and after gunzip
    assert errors["binary.html"] in ("extract", "content-type")
    assert errors["secret.html"] == "robots"
    assert errors["loop.html"] == "redirect"
    assert report["errors"] >= 8


def test_a_listing_source_follows_only_links_matching_its_pattern(tmp_path: Path) -> None:
    stories = load_stories()["ledger"]
    with LocalSite("listing") as site:
        site.add_news("Listing", stories)
        links = "".join(f'<a href="{s.path}">{s.title}</a>' for s in stories)
        site.routes["/"] = Route(f"<html><body><a href='/about'>About</a>{links}</body></html>".encode())
        sources = f"  - name: listing\n    type: listing\n    url: {site.base}/\n    link_pattern: '/world/'\n"
        config = write(tmp_path / "rules.yaml", config_text(sources))
        [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    assert report["new_articles"] == 1
    assert "/about" not in site.requests


def test_an_article_seen_again_is_refetched_only_when_its_sitemap_says_it_changed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    seed = next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)
    with LocalSite("changing") as site:
        site.add_news("Changing", [seed])
        sources = f"  - name: changing\n    type: sitemap\n    url: {site.base}/sitemap.xml\n"
        config = write(tmp_path / "rules.yaml", config_text(sources))
        first = run_crawl(config, str(tmp_path / "m.db")).sources[0]
        assert first["new_articles"] == 1
        fetched_before = site.requests.count(SEED_PATH)
        again = run_crawl(config, str(tmp_path / "m.db")).sources[0]  # lastmod 2022: nothing changed since
        assert site.requests.count(SEED_PATH) == fetched_before == 1
        assert again["updated_articles"] == again["new_articles"] == 0
        # The publisher corrects the story and bumps lastmod: the next run fetches and rescores it.
        changed = seed.html.replace(
            "It was not immediately clear how Moscow would respond.", "Moscow said it would study the offer."
        )
        site.routes[SEED_PATH] = Route(changed.replace("{base}", site.base).encode())
        time.sleep(1.1)  # last_seen has one-second resolution: the correction comes after our fetch
        lastmod = datetime.now(UTC).isoformat(timespec="seconds")
        site.routes["/sitemap.xml"] = Route(
            (
                '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{site.base}{SEED_PATH}</loc><lastmod>{lastmod}</lastmod></url></urlset>"
            ).encode(),
            "application/xml",
        )
        time.sleep(1.1)
        third = run_crawl(config, str(tmp_path / "m.db")).sources[0]
    assert third["updated_articles"] == 1 and third["alerts_queued"] == 0
    with Store.open(tmp_path / "m.db") as store:
        assert "study the offer" in store.query("SELECT text FROM articles")[0]["text"]
