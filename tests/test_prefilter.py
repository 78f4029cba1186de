"""The opt-in Google News prefilter: links whose index title and keywords match no rule are not fetched."""

from __future__ import annotations

from pathlib import Path

from monitor.config import parse_config
from monitor.demo.sites import LocalSite, Route
from monitor.extract import Link
from monitor.ingest import may_be_relevant
from monitor.rules import compile_rules
from monitor.runs import run_crawl
from tests.sitekit import config_text, write

RULESET = compile_rules(
    parse_config(config_text("  - name: a\n    type: rss\n    url: http://127.0.0.1:9/f\n"), "r.yaml", {}).rules
)


def test_a_link_is_relevant_when_its_title_or_keywords_match_a_rule() -> None:
    assert may_be_relevant(RULESET, Link("https://n.test/1", title="NATO summit opens in Vilnius"), "s")
    assert may_be_relevant(RULESET, Link("https://n.test/2", title="Talks resume", keywords=("Ukraine", "EU")), "s")
    assert not may_be_relevant(
        RULESET, Link("https://n.test/3", title="Harbour festival opens", keywords=("culture", "boats")), "s"
    )
    assert may_be_relevant(RULESET, Link("https://n.test/4"), "s")  # nothing to judge by: fetch it


def test_a_prefiltered_news_sitemap_crawl_skips_the_irrelevant_links(tmp_path: Path) -> None:
    page = (
        "<html><head><title>{t}</title></head><body><article><h1>{t}</h1>"
        + "<p>{t}. Officials met on Monday and talked for several hours about the plan.</p>" * 6
        + "</article></body></html>"
    )
    entries = [
        ("/nato.html", "NATO summit opens", "defence, alliance"),
        ("/boats.html", "Harbour festival opens", "culture, boats"),
        ("/untitled.html", "", ""),
    ]
    with LocalSite("news") as site:
        urls = ""
        for path, title, keywords in entries:
            site.routes[path] = Route(page.format(t=title or "An untitled story").encode())
            news = (
                f"<news:news><news:title>{title}</news:title><news:keywords>{keywords}</news:keywords></news:news>"
                if title
                else ""
            )
            urls += f"<url><loc>{site.base}{path}</loc>{news}</url>"
        site.routes["/news-sitemap.xml"] = Route(
            (
                '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
            ).encode(),
            "application/xml",
        )
        site.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
        sources = f"  - name: news\n    type: sitemap\n    url: {site.base}/news-sitemap.xml\n    prefilter: true\n"
        config = write(tmp_path / "rules.yaml", config_text(sources))
        [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    assert report["new_articles"] == 2
    assert "/nato.html" in site.requests and "/untitled.html" in site.requests and "/boats.html" not in site.requests
