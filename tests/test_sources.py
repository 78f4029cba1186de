"""Sources: a site found through its robots.txt, Google News sitemaps, max_age, and their validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.demo.sites import LocalSite, Route, Story, rss_feed
from monitor.errors import ConfigError
from monitor.runs import run_crawl
from tests.sitekit import config_text, write

NOW = datetime.now(UTC)


def article_html(title: str) -> str:
    """A small article page of its own."""
    paragraph = (
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms and now limits the largest ferries.</p>"
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{paragraph * 4}</article></body></html>"
    )


def news_sitemap(base: str, entries: list[tuple[str, datetime]]) -> bytes:
    """A Google News sitemap of (path, publication time) entries."""
    urls = "".join(
        f"<url><loc>{base}{path}</loc><news:news><news:publication><news:name>Test</news:name>"
        f"<news:language>en</news:language></news:publication>"
        f"<news:publication_date>{when.isoformat()}</news:publication_date><news:title>Story {path}</news:title>"
        f"<news:keywords>harbour, dredging</news:keywords></news:news></url>"
        for path, when in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
    ).encode()


def sitemap_index(base: str, children: list[tuple[str, datetime]]) -> bytes:
    items = "".join(
        f"<sitemap><loc>{base}{path}</loc><lastmod>{when.isoformat()}</lastmod></sitemap>" for path, when in children
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    ).encode()


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite("news") as running:
        for path in ("/fresh-1.html", "/fresh-2.html", "/old.html", "/archived.html"):
            running.routes[path] = Route(article_html(f"Harbour story {path}").encode())
        yield running


def site_source(site: LocalSite, extra: str = "    max_age: 2d\n") -> str:
    return f"  - name: news\n    type: site\n    url: {site.base}/\n{extra}"


def crawl(tmp_path: Path, sources: str) -> dict[str, object]:
    config = write(tmp_path / "rules.yaml", config_text(sources))
    [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    return report


# ---------------------------------------------------------------- crawls of local sites


@pytest.mark.slow
def test_a_site_is_read_through_its_robots_txt_sitemaps_skipping_old_articles_unfetched(
    site: LocalSite, tmp_path: Path
) -> None:
    xml = "application/xml"
    site.routes["/robots.txt"] = Route(
        f"User-agent: *\nDisallow: /private/\nSitemap: {site.base}/sitemap-index.xml\n".encode(), "text/plain"
    )
    site.routes["/sitemap-index.xml"] = Route(
        sitemap_index(site.base, [("/news-sitemap.xml", NOW), ("/archive-2019.xml", datetime(2019, 5, 1, tzinfo=UTC))]),
        xml,
    )
    site.routes["/news-sitemap.xml"] = Route(
        news_sitemap(
            site.base,
            [
                ("/fresh-1.html", NOW - timedelta(hours=1)),
                ("/fresh-2.html", NOW - timedelta(hours=30)),
                ("/old.html", NOW - timedelta(days=10)),
            ],
        ),
        xml,
    )
    site.routes["/archive-2019.xml"] = Route(news_sitemap(site.base, [("/archived.html", NOW)]), xml)
    report = crawl(tmp_path, site_source(site))
    assert report["status"] == "ok" and report["new_articles"] == 2
    assert "/old.html" not in site.requests  # skipped by its news:publication_date, never fetched
    assert "/archive-2019.xml" not in site.requests  # a child sitemap last changed long ago is not read
    assert "/sitemap.xml" not in site.requests


@pytest.mark.slow
@pytest.mark.parametrize("robots", [None, b"User-agent: *\nDisallow: /private/\n"])
def test_a_site_without_sitemap_lines_falls_back_to_sitemap_xml(
    site: LocalSite, tmp_path: Path, robots: bytes | None
) -> None:
    if robots is not None:
        site.routes["/robots.txt"] = Route(robots, "text/plain")
    site.routes["/sitemap.xml"] = Route(
        news_sitemap(site.base, [("/fresh-1.html", NOW), ("/old.html", NOW - timedelta(days=3))]), "application/xml"
    )
    report = crawl(tmp_path, site_source(site, extra=""))  # no max_age: everything new is fetched
    assert report["status"] == "ok" and report["new_articles"] == 2
    assert "/sitemap.xml" in site.requests


@pytest.mark.slow
def test_a_site_with_no_sitemap_at_all_is_a_failed_run(site: LocalSite, tmp_path: Path) -> None:
    report = crawl(tmp_path, site_source(site))
    assert report["status"] == "failed" and report["new_articles"] == 0 and report["errors"] >= 1


@pytest.mark.slow
def test_max_age_applies_to_feed_entries_too(site: LocalSite, tmp_path: Path) -> None:
    stories = [
        Story("/fresh-1.html", "Fresh", NOW - timedelta(minutes=5), "s", ""),
        Story("/old.html", "Old", NOW - timedelta(days=40), "s", ""),
    ]
    site.routes["/feed.xml"] = Route(rss_feed("News", site.base, stories).encode(), "application/rss+xml")
    source = f"  - name: news\n    type: rss\n    url: {site.base}/feed.xml\n    max_age: 1w\n"
    report = crawl(tmp_path, source)
    assert report["new_articles"] == 1
    assert "/fresh-1.html" in site.requests and "/old.html" not in site.requests


# ---------------------------------------------------------------- validation

BASE = "version: 1\n{crawl}sources:\n{sources}rules:\n  - name: r\n    terms: [x]\n"


def parse(sources: str = "  - name: s\n    type: rss\n    url: https://e.test/feed.xml\n", crawl: str = "") -> object:
    return parse_config(BASE.format(sources=sources, crawl=crawl), "rules.yaml", {})


def problems(sources: str = "  - name: s\n    type: rss\n    url: https://e.test/feed.xml\n", crawl: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        parse(sources, crawl)
    return "\n".join(str(p) for p in caught.value.problems)


def test_a_site_source_and_max_age_load() -> None:
    config = parse("  - name: s\n    type: site\n    url: https://news.example.org\n    max_age: 2d\n")
    [source] = config.sources  # type: ignore[attr-defined]
    assert (source.type, source.url, source.max_age_seconds) == ("site", "https://news.example.org", 172800)
    [feed] = parse().sources  # type: ignore[attr-defined]
    assert feed.max_age_seconds is None


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (
            "  - name: s\n    type: site\n    url: https://news.example.org/world/feed.xml\n",
            "rules.yaml:5: sources[0].url: a site source takes the site's root, like https://news.example.org/",
        ),
        (
            "  - name: s\n    type: listing\n    url: https://e.test/\n    link_pattern: '/n/'\n    max_age: 1d\n",
            "rules.yaml:7: sources[0].max_age: listing pages give no dates",
        ),
        (
            "  - name: s\n    type: rss\n    url: https://e.test/f\n    max_age: soon\n",
            "rules.yaml:6: sources[0].max_age: must be a duration",
        ),
        (
            "  - name: s\n    type: rss\n    url: https://e.test/f\n    max_age: 0\n",
            "sources[0].max_age: must be longer than 0 seconds",
        ),
    ],
)
def test_source_problems(sources: str, message: str) -> None:
    assert message in problems(sources)


@pytest.mark.parametrize(
    ("user_agent", "message"),
    [
        ("monitor/0.1", "crawl.user_agent: must include a contact URL (http:// or https://)"),
        ("monitor/0.1 (+mailto:me@example.org)", "must include a contact URL"),
        ("''", "crawl.user_agent: must be a non-empty string"),
        ('"monitor/0.1 (+https://e.test)\\r\\nX-Injected: 1"', "must be one line without control characters"),
    ],
)
def test_an_honest_user_agent_names_a_contact_url(user_agent: str, message: str) -> None:
    assert message in problems(crawl=f"crawl:\n  user_agent: {user_agent}\n")


def test_user_agent_and_max_retry_after_load() -> None:
    crawl = "crawl:\n  user_agent: 'newsbot/2 (+https://newsroom.example/bot)'\n  max_retry_after: 5m\n"
    settings = parse(crawl=crawl).crawl  # type: ignore[attr-defined]
    assert settings.user_agent == "newsbot/2 (+https://newsroom.example/bot)"
    assert settings.max_retry_after_seconds == 300
    assert parse(crawl="crawl:\n  max_retry_after: 0\n").crawl.max_retry_after_seconds == 0  # type: ignore[attr-defined]
    assert "crawl.max_retry_after: must be a duration" in problems(crawl="crawl:\n  max_retry_after: later\n")
    assert "https://" in parse().crawl.user_agent  # type: ignore[attr-defined]  # the default is honest too
