"""Entity declarations anywhere in a feed's or sitemap's prolog are refused; harmless DOCTYPEs still parse."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.demo.sites import LocalSite, Route
from monitor.extract import DiscoveryError, links_from_feed, links_from_sitemap
from monitor.runs import run_crawl
from monitor.store import Store
from tests.sitekit import config_text, write

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Each pushes what follows past the first 64 KB.
PADDINGS = {
    "comment": "<!-- " + "padding " * 9000 + "-->",
    "processing instruction": "<?padding " + "x" * 70_000 + "?>",
    "whitespace": " \n\t" * 24_000,
}
DOCTYPES = {
    "billion laughs": '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>',
    "xxe": '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    "parameter entity": '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>',
    # a '<a', a '>' and a ']>' where a naive scan would take the root element or the DOCTYPE's end to be
    "markup in literals and comments": (
        '<!DOCTYPE rss SYSTEM "x>]<a" [<!-- ]> <rss> --><?pi ]> <rss>?><!ENTITY lol "<rss>]>"><!ENTITY lol2 "&lol;">]>'
    ),
    # after a whole declaration, whose '>' does not end the DOCTYPE, a notation's literal holds a '<rss>'
    "declarations before the entities": (
        '<!DOCTYPE rss [<!ELEMENT rss ANY><!NOTATION n SYSTEM "<rss>"><!ENTITY lol "lol"><!ENTITY lol2 "&lol;">]>'
    ),
}
FEED = (
    '<rss version="2.0"><channel><title>T</title>'
    "<item><title>NATO talks &amp; more</title><link>https://news.test/a</link></item></channel></rss>"
)
SITEMAP = (
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>https://news.test/a</loc><lastmod>2022-01-12</lastmod></url></urlset>"
)


def feed(prolog: str) -> bytes:
    return (DECLARATION + prolog + FEED).encode()


def sitemap(prolog: str) -> bytes:
    return (DECLARATION + prolog + SITEMAP).encode()


# ---------------------------------------------------------------- refused, however deep in the prolog


@pytest.mark.parametrize("doctype", DOCTYPES.values(), ids=DOCTYPES.keys())
@pytest.mark.parametrize("padding", PADDINGS.values(), ids=PADDINGS.keys())
def test_a_feed_declaring_entities_after_70_kb_of_prolog_is_refused_like_one_at_the_top(
    padding: str, doctype: str
) -> None:
    for body in (feed(doctype), feed(padding + doctype)):
        with pytest.raises(DiscoveryError, match=r"^feed declares XML entities; refused"):
            links_from_feed(body, "https://news.test/feed.xml")


@pytest.mark.parametrize("doctype", DOCTYPES.values(), ids=DOCTYPES.keys())
@pytest.mark.parametrize("padding", PADDINGS.values(), ids=PADDINGS.keys())
def test_a_sitemap_declaring_entities_after_70_kb_of_prolog_is_refused_plain_and_gzipped(
    padding: str, doctype: str
) -> None:
    body = sitemap(padding + doctype)
    for sent in (body, gzip.compress(body)):
        with pytest.raises(DiscoveryError, match=r"^sitemap declares XML entities; refused"):
            links_from_sitemap(sent, "https://news.test/sitemap.xml")


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-16 with a BOM": lambda text: text.replace("UTF-8", "UTF-16").encode("utf-16"),
    "utf-16be without a BOM": lambda text: text.replace("UTF-8", "UTF-16BE").encode("utf-16-be"),
    "utf-32 with a BOM": lambda text: text.replace("UTF-8", "UTF-32").encode("utf-32"),
    "ebcdic": lambda text: text.replace("UTF-8", "cp037").encode("cp037"),
    # '<' '[' '"' '>' ']' written the UTF-7 way: '+ADw-' and so on, no '<!ENTITY' byte string anywhere
    "utf-7": lambda text: text.replace("UTF-8", "UTF-7").encode().replace(b"<!", b"+ADw-!").replace(b"[", b"+AFs-"),
}


@pytest.mark.parametrize("encode", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_entities_are_refused_in_whatever_encoding_the_document_is_read(encode: Callable[[str], bytes]) -> None:
    doctype = DOCTYPES["billion laughs"]
    with pytest.raises(DiscoveryError, match="feed declares XML entities"):
        links_from_feed(encode(DECLARATION + doctype + FEED), "https://news.test/feed.xml")
    with pytest.raises(DiscoveryError, match="sitemap declares XML entities"):
        links_from_sitemap(encode(DECLARATION + doctype + SITEMAP), "https://news.test/sitemap.xml")


# ---------------------------------------------------------------- harmless DOCTYPEs and entity-like text still read

HARMLESS = {
    "bare": "<!DOCTYPE rss>",
    "netscape dtd": (
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    ),
    "html entity set": (
        '<!DOCTYPE rss PUBLIC "-//W3C//ENTITIES Latin 1 for XHTML//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml-lat1.ent">'
    ),
    "internal subset without entities": "<!DOCTYPE rss [<!ELEMENT rss ANY><!-- no entities here -->]>",
}


@pytest.mark.parametrize("doctype", HARMLESS.values(), ids=HARMLESS.keys())
@pytest.mark.parametrize("padding", ["", PADDINGS["comment"]], ids=["at the top", "after a long comment"])
def test_a_doctype_declaring_no_entities_still_parses(padding: str, doctype: str) -> None:
    [link] = links_from_feed(feed(padding + doctype), "https://news.test/feed.xml")
    assert (link.url, link.title) == ("https://news.test/a", "NATO talks & more")
    [page] = links_from_sitemap(sitemap(padding + doctype.replace("rss", "urlset")), "https://news.test/s.xml").links
    assert page.url == "https://news.test/a"


def test_entity_declarations_quoted_in_an_article_are_text_not_declarations() -> None:
    body = FEED.replace(
        "</item>",
        '<description><![CDATA[How <!ENTITY xxe SYSTEM "file:///etc/passwd"> attacks work]]></description></item>',
    )
    [link] = links_from_feed((DECLARATION + body).encode(), "https://news.test/feed.xml")
    assert link.url == "https://news.test/a"


# ---------------------------------------------------------------- a crawl records the refusal as a run error


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite("entities") as running:
        running.routes["/a.html"] = Route(b"<html><body><p>never fetched</p></body></html>")
        yield running


@pytest.mark.slow
def test_a_crawl_refuses_a_padded_feed_and_a_gzipped_sitemap_named_in_robots_txt(
    site: LocalSite, tmp_path: Path
) -> None:
    laughs = DOCTYPES["billion laughs"]
    site.routes["/feed.xml"] = Route(
        feed(PADDINGS["comment"] + laughs).replace(b"https://news.test", site.base.encode()), "application/rss+xml"
    )
    site.routes["/news.xml.gz"] = Route(
        gzip.compress(sitemap(PADDINGS["whitespace"] + laughs).replace(b"https://news.test", site.base.encode())),
        "application/gzip",
    )
    site.routes["/robots.txt"] = Route(f"User-agent: *\nSitemap: {site.base}/news.xml.gz\n".encode(), "text/plain")
    sources = (
        f"  - name: feed\n    type: rss\n    url: {site.base}/feed.xml\n"
        f"  - name: site\n    type: site\n    url: {site.base}/\n"
    )
    reports = run_crawl(write(tmp_path / "rules.yaml", config_text(sources)), str(tmp_path / "m.db")).sources
    assert [(report["status"], report["new_articles"]) for report in reports] == [("failed", 0), ("failed", 0)]
    with Store.open(tmp_path / "m.db") as store:
        errors = {
            row["url"]: (row["source"], row["kind"], row["message"])
            for row in store.query("SELECT url, source, kind, message FROM run_errors")
        }
    refused = "declares XML entities; refused (entity expansion attack)"
    assert errors == {
        f"{site.base}/feed.xml": ("feed", "index", f"feed {refused}"),
        f"{site.base}/news.xml.gz": ("site", "index", f"sitemap {refused}"),
    }
    assert "/a.html" not in site.requests
