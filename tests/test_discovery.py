"""Feeds, sitemaps and listing pages become article links; hostile ones are refused."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from monitor.extract import (
    DiscoveryError,
    Link,
    fresh_links,
    links_from_feed,
    links_from_listing,
    links_from_sitemap,
    site_root,
    sitemaps_from_robots,
)

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>NATO talks</title><link>https://news.test/a</link><pubDate>Wed, 12 Jan 2022 15:50:00 GMT</pubDate></item>
<item><title>Relative</title><link>/b</link></item>
<item><title>Local file</title><link>file:///etc/passwd</link></item>
<item><title>Data</title><link>data:text/html,hi</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><title>Atom story</title><link href="https://news.test/atom-1"/><updated>2022-01-12T10:00:00+02:00</updated></entry>
</feed>"""

BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><title>&lol2;</title><item><title>&lol2;</title><link>https://x.test/</link></item>
</channel></rss>"""


def test_rss_entries_become_links_with_titles_and_dates() -> None:
    links = links_from_feed(RSS, "https://news.test/feed.xml")
    assert [link.url for link in links] == ["https://news.test/a", "https://news.test/b"]
    assert links[0].title == "NATO talks"
    assert links[0].published == datetime(2022, 1, 12, 15, 50, tzinfo=UTC)


def test_atom_entries_become_links_with_utc_dates() -> None:
    [link] = links_from_feed(ATOM, "https://news.test/atom.xml")
    assert link.url == "https://news.test/atom-1"
    assert link.published == datetime(2022, 1, 12, 8, 0, tzinfo=UTC)


def test_a_feed_declaring_entities_is_refused() -> None:
    with pytest.raises(DiscoveryError, match="entities"):
        links_from_feed(BOMB, "https://x.test/feed")


def test_garbage_is_not_a_feed() -> None:
    with pytest.raises(DiscoveryError, match="not a readable feed"):
        links_from_feed(b"\x00\x01\x02 binary junk", "https://x.test/feed")


SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://news.test/a</loc><lastmod>2022-01-12</lastmod></url>
<url><loc>https://news.test/n</loc><news:news><news:publication_date>2022-01-12T15:50:00Z</news:publication_date>
<news:title>News title</news:title></news:news></url>
<url><loc>file:///etc/passwd</loc></url>
</urlset>"""

INDEX = b"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.test/sitemap-1.xml</loc></sitemap></sitemapindex>"""


def test_sitemap_urls_with_lastmod_and_google_news_dates() -> None:
    content = links_from_sitemap(SITEMAP, "https://news.test/sitemap.xml")
    assert [link.url for link in content.links] == ["https://news.test/a", "https://news.test/n"]
    assert content.links[0].published == datetime(2022, 1, 12, tzinfo=UTC)
    assert content.links[1].published == datetime(2022, 1, 12, 15, 50, tzinfo=UTC)
    assert content.links[1].title == "News title"


def test_a_sitemap_index_lists_child_sitemaps() -> None:
    content = links_from_sitemap(INDEX, "https://news.test/sitemap.xml")
    assert content.sitemaps == [Link(url="https://news.test/sitemap-1.xml")] and content.links == []


def test_gzipped_sitemaps_are_read() -> None:
    assert len(links_from_sitemap(gzip.compress(SITEMAP), "https://news.test/s.xml.gz").links) == 2


def test_an_entity_bomb_in_a_sitemap_is_not_expanded() -> None:
    bomb = BOMB.replace(b"<rss", b"<urlset").replace(b"</rss>", b"</urlset>")
    with pytest.raises(DiscoveryError):
        links_from_sitemap(bomb, "https://x.test/sitemap.xml")


def test_listing_links_matching_the_pattern_once_each_in_page_order() -> None:
    html = """<html><body><nav><a href="/about">About</a></nav>
    <a href="/news/2">Second</a><a href="/news/1#comments">First</a><a href="/news/2">Second again</a>
    <a href="javascript:alert(1)">x</a><a href="https://other.test/news/3">Elsewhere</a></body></html>"""
    links = links_from_listing(html, "https://news.test/", r"/news/\d+$")
    assert [link.url for link in links] == [
        "https://news.test/news/2",
        "https://news.test/news/1",
        "https://other.test/news/3",
    ]
    assert links[0].title == "Second"


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
<url><loc>https://news.test/world/nato-talks</loc>
  <image:image><image:loc>https://cdn.test/photo.jpg</image:loc><image:title>A photo</image:title></image:image>
  <news:news>
    <news:publication><news:name>The Test Times</news:name><news:language>EN</news:language></news:publication>
    <news:publication_date>2022-01-12T21:50:00+06:00</news:publication_date>
    <news:title>NATO offers arms talks</news:title>
    <news:keywords>NATO, Russia , arms control,</news:keywords>
  </news:news>
  <lastmod>2022-01-14T08:00:00Z</lastmod>
</url>
<url><loc>https://news.test/plain</loc></url>
</urlset>"""


def test_google_news_fields_are_read_and_an_image_is_not_the_article() -> None:
    first, plain = links_from_sitemap(NEWS_SITEMAP, "https://news.test/news-sitemap.xml").links
    assert first.url == "https://news.test/world/nato-talks"
    assert first.title == "NATO offers arms talks"  # news:title, not image:title
    assert first.published == datetime(2022, 1, 12, 15, 50, tzinfo=UTC)  # publication_date beats lastmod
    assert first.keywords == ("NATO", "Russia", "arms control")
    assert first.language == "en"
    assert plain == Link(url="https://news.test/plain")


def test_a_sitemap_index_gives_each_child_its_lastmod() -> None:
    index = INDEX.replace(b"</loc></sitemap>", b"</loc><lastmod>2022-01-10</lastmod></sitemap>")
    [child] = links_from_sitemap(index, "https://news.test/sitemap.xml").sitemaps
    assert child == Link(url="https://news.test/sitemap-1.xml", published=datetime(2022, 1, 10, tzinfo=UTC))


def test_sitemaps_named_in_robots_txt() -> None:
    robots = """User-agent: *
Disallow: /private/
sitemap: https://news.test/news-sitemap.xml
Sitemap:/sitemap-index.xml   # relative, and a comment
  SITEMAP : https://news.test/news-sitemap.xml
Sitemap: file:///etc/passwd
Sitemap: ftp://news.test/s.xml
# Sitemap: https://news.test/commented-out.xml
"""
    assert sitemaps_from_robots(robots, "https://news.test/robots.txt") == [
        "https://news.test/news-sitemap.xml",
        "https://news.test/sitemap-index.xml",
    ]
    assert sitemaps_from_robots("User-agent: *\nDisallow:\n", "https://news.test/robots.txt") == []


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://news.test", "https://news.test/"),
        ("https://news.test/", "https://news.test/"),
        ("http://127.0.0.1:8080/section/?q=1#x", "http://127.0.0.1:8080/"),
    ],
)
def test_site_root(url: str, root: str) -> None:
    assert site_root(url) == root


def test_fresh_links_drop_what_is_older_than_max_age_and_keep_the_undated() -> None:
    now = datetime(2022, 1, 12, 12, 0, tzinfo=UTC)
    new = Link("https://news.test/new", published=now - timedelta(hours=1))
    edge = Link("https://news.test/edge", published=now - timedelta(days=2))
    old = Link("https://news.test/old", published=now - timedelta(days=2, seconds=1))
    undated = Link("https://news.test/undated")
    links = [new, edge, old, undated]
    assert fresh_links(links, now, 2 * 86400) == ([new, edge, undated], [old])
    assert fresh_links(links, now, None) == (links, [])
