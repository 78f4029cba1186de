"""Extraction on saved pages: the demo sites' articles and small fixtures, all offline."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import trafilatura

from monitor.errors import ExtractionError
from monitor.extract import extract_article
from monitor.extract.article import canonicalize_url, looks_like_html
from monitor.extract.pagemeta import plain_text, resolve_title
from monitor.extract.published import Candidate, reconcile, url_date

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "monitor" / "demo" / "pages"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BASE = "http://127.0.0.1:9"
WATCHED = ("NATO", "Ukraine", "sanctions", "armed conflict")

LEDGER_NATO = "ledger/world/nato-offers-arms-talks.html"
LEDGER_ROSE = "ledger/lifestyle/savar-rose-village.html"
LEDGER_FAIR = "ledger/business/trade-fair-opens.html"
HERALD_NATO = "herald/2022/01/12/nato-russia-arms-talks.html"
HERALD_FESTIVAL = "herald/2022/01/11/harbour-festival.html"
ALL_PAGES = (LEDGER_NATO, LEDGER_ROSE, LEDGER_FAIR, HERALD_NATO, HERALD_FESTIVAL)


def raw_page(name: str) -> str:
    """A demo page as stored, with the {base} placeholder."""
    return (PAGES / name).read_text(encoding="utf-8")


def page_url(name: str) -> str:
    """The URL the demo server would serve ``name`` at."""
    return BASE + "/" + name.split("/", 1)[1]


def extract_page(name: str, url: str | None = None) -> Any:
    """Extract a demo page as if fetched from BASE."""
    return extract_article(raw_page(name).replace("{base}", BASE), url or page_url(name), source=name.split("/")[0])


def synthetic(head: str = "", body: str = "", lang: str = "en") -> str:
    """A small article page with the given extra <head> markup and article body."""
    lang_attr = f' lang="{lang}"' if lang else ""
    paragraphs = body or (
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms.</p>"
        "<p>Members agreed to commission a survey before committing to the work, which could cost more than "
        "the board's entire maintenance budget for the year.</p>"
    )
    return (
        f"<!DOCTYPE html><html{lang_attr}><head><meta charset='utf-8'>{head}</head><body>"
        f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>Harbour board weighs channel dredging</h1>{paragraphs}</article>"
        f"<footer class='site-footer'>© The Example Courier</footer></body></html>"
    )


def words_in(text: str) -> set[str]:
    """Which watched words occur in ``text``, case-insensitively."""
    return {word for word in WATCHED if word.lower() in text.lower()}


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse and record every non-loopback connection or DNS lookup made during the test."""
    attempts: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> Any:
        host = str(address[0] if isinstance(address, tuple) else address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(f"connect {host}")
            raise OSError(f"network blocked: {host}")
        return real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost", None):
            attempts.append(f"getaddrinfo {host}")
            raise OSError(f"network blocked: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts


# ---------------------------------------------------------------- the Daily Ledger's NATO story (the seed)


def test_ledger_nato_title_and_metadata() -> None:
    article = extract_page(LEDGER_NATO)
    assert article.title == "NATO offers arms talks with Russia to avert 'real risk' of conflict"
    assert article.published == datetime(2022, 1, 12, 15, 50, tzinfo=UTC)
    assert article.published.utcoffset() == timedelta(hours=6)
    assert (article.authors, article.organisations) == ([], ["Reuters"])  # an agency, not a person
    assert article.language == "en"
    assert article.canonical_url == f"{BASE}/world/nato-offers-arms-talks.html"
    assert article.url == page_url(LEDGER_NATO)
    assert article.source == "ledger"


def test_ledger_nato_body_has_the_whole_story() -> None:
    text = extract_page(LEDGER_NATO).text
    assert text.startswith("Summary:")  # the repeated <h1> headline is dropped
    for passage in (
        "NATO says it's willing to discuss missiles, confidence measures",
        "No compromise on right of countries to determine own security",
        "NATO said on Wednesday it was willing to talk to Russia about arms control",
        '"There is a real risk for new armed conflict in Europe," Stoltenberg told a news conference.',
        "\nHigh price\n",
        "US Senate Democrats on Wednesday unveiled a bill to impose sweeping sanctions",
        'it needs to draw "red lines" now to protect itself.',
    ):
        assert passage in text
    # the "Related News" teaser repeats this sentence; the body must hold it once
    assert text.count("dangerous spheres of influence") == 1


@pytest.mark.parametrize(
    "clutter",
    [
        "Most Read",
        "MOST VIEWED",
        "Top Stories",
        "Related News",
        "moderation decisions are subjective",
        "Pig’s heart",
        "Gateway to Hell",
        "More Videos",
        "Freelancing his way",
        "gas hydrates",
        "We use cookies",
        "Subscribe to our newsletter",
        "The Morning Ledger",
        "Olivier Hoslet",  # the image caption
        "Last modified",
        "Advertisement",
        "Share on Facebook",
        "Nato arms talk",  # topic tags
        "Editorial Policy",  # footer
        "Skip to main content",
    ],
)
def test_ledger_nato_clutter_is_dropped(clutter: str) -> None:
    assert clutter in raw_page(LEDGER_NATO)
    assert clutter not in extract_page(LEDGER_NATO).text


# ---------------------------------------------------------------- the rose village: watched words only in clutter


def test_rose_village_raw_html_mentions_every_watched_word() -> None:
    assert words_in(raw_page(LEDGER_ROSE)) == set(WATCHED)


def test_rose_village_article_mentions_no_watched_word() -> None:
    article = extract_page(LEDGER_ROSE)
    assert article.title == "Savar's rose village blooms again as winter buyers return"
    assert "Golap Gram" in article.text
    assert "Roses are like children." in article.text
    assert words_in(article.title + "\n" + article.text) == set()
    assert article.authors == ["Nusrat Jahan", "Rafiqul Islam"]
    assert article.published == datetime(2022, 1, 12, 14, 30, tzinfo=timezone(timedelta(hours=6)))


@pytest.mark.parametrize("name", [LEDGER_FAIR, HERALD_FESTIVAL])
def test_neutral_stories_mention_no_watched_word(name: str) -> None:
    article = extract_page(name)
    assert len(article.text) > 1500
    assert words_in(article.title + "\n" + article.text) == set()


# ---------------------------------------------------------------- the Harbour Herald's version


def test_herald_nato_metadata() -> None:
    article = extract_page(HERALD_NATO)
    assert article.title == "NATO offers Russia arms talks, warns of 'real risk' of conflict"
    assert article.published == datetime(2022, 1, 12, 16, 20, tzinfo=UTC)
    assert article.published.utcoffset() == timedelta(0)
    assert (article.authors, article.organisations) == ([], ["Reuters"])  # an agency, not a person
    assert article.language == "en"  # from lang="en-GB"
    assert article.canonical_url == f"{BASE}/2022/01/12/nato-russia-arms-talks.html"


def test_herald_nato_body_is_trimmed_and_clean() -> None:
    text = extract_page(HERALD_NATO).text
    assert "willing to talk to Russia about arms control" in text
    assert text.rstrip().endswith("was due to brief reporters later.")
    assert "red lines" not in text
    for clutter in (
        "Most Popular",
        "Leave a Reply",
        "Herald Briefing",
        "This website uses cookies",
        "Olivier Hoslet",
        "Read more",
        "no sign of a breakthrough",
        "Tide times",
        "Share this",
        "Post navigation",
        "Seal pup",
    ):
        assert clutter in raw_page(HERALD_NATO)
        assert clutter not in text, clutter


@pytest.mark.parametrize("name", ALL_PAGES)
def test_every_demo_page_extracts(name: str) -> None:
    article = extract_page(name)
    assert article.title
    assert article.published is not None and article.published.tzinfo is not None
    assert article.published_from == "json-ld"
    assert article.authors or article.organisations
    assert article.language == "en"
    assert article.canonical_url == page_url(name)


def test_catalog_matches_the_pages() -> None:
    catalog = json.loads((PAGES / "catalog.json").read_text(encoding="utf-8"))
    assert {entry["site"] + entry["path"] for entry in catalog} == set(ALL_PAGES)
    for entry in catalog:
        article = extract_page(entry["site"] + entry["path"])
        assert article.title == entry["title"]
        assert article.published == datetime.fromisoformat(entry["published"])
        assert "{" not in entry["summary"]


def test_pages_use_only_the_base_placeholder() -> None:
    for name in ALL_PAGES:
        placeholders = set(re.findall(r"\{[a-z_]+\}", raw_page(name)))
        assert placeholders == {"{base}"}, name
        assert 15_000 <= len(raw_page(name).encode("utf-8")) <= 60_000, name


# ---------------------------------------------------------------- small fixtures


def test_inline_markup_reads_as_plain_words() -> None:
    html = (FIXTURES / "inline_markup.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://www.example.com/world/border-talks-resume?utm_source=tw")
    assert "fears of a slide into armed conflict between the two neighbours" in article.text
    assert article.title == "Border talks resume after a tense week"
    assert article.canonical_url == "https://www.example.com/world/border-talks-resume"  # relative link resolved
    assert article.published == datetime(2022, 2, 3, 7, 15, tzinfo=UTC)


def test_title_only_page_is_an_article_with_empty_text_and_its_reason() -> None:
    html = (FIXTURES / "title_only.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://example.com/live")
    assert (article.title, article.text) == ("Live: election results as they come in", "")
    assert article.text_missing == "no article text found"


@pytest.mark.parametrize(
    "data",
    [
        (bytes(range(256)) * 40).decode("latin-1"),
        "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + "\x00\x01\x02\x03<html>" * 200,
        "",
        "   \n\t ",
        "Just some plain text, with no markup at all.",
    ],
)
def test_not_html_raises(data: str) -> None:
    with pytest.raises(ExtractionError, match="not HTML"):
        extract_article(data, "https://example.com/a")


def test_looks_like_html() -> None:
    assert looks_like_html(b"<!DOCTYPE html><html><body><p>Hello</p></body></html>")
    assert looks_like_html("<div class='x'><p>Hello</p></div>")
    assert looks_like_html("\ufeff<html><p>Bonjour</p></html>".encode("utf-16"))
    assert not looks_like_html(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8)  # gzip
    assert not looks_like_html(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj")
    assert not looks_like_html('{"title": "not a page"}')
    assert not looks_like_html(b"")


# ---------------------------------------------------------------- dates, titles, languages


@pytest.mark.parametrize(
    ("head", "expected", "signal"),
    [
        # JSON-LD wins over the meta tag
        (
            '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2022-01-12T21:50:00+06:00"}'
            '</script><meta property="article:published_time" content="2022-01-13T09:00:00Z">',
            datetime(2022, 1, 12, 15, 50, tzinfo=UTC),
            "json-ld",
        ),
        # a naive time is taken as UTC
        (
            '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2022-03-01T09:30:00"}'
            "</script>",
            datetime(2022, 3, 1, 9, 30, tzinfo=UTC),
            "json-ld",
        ),
        # a date-only value is refined by a precise one on the same day
        (
            '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2022-01-12"}</script>'
            '<meta property="article:published_time" content="2022-01-12T08:05:00-05:00">',
            datetime(2022, 1, 12, 13, 5, tzinfo=UTC),
            "meta",
        ),
        # the article type's date beats a WebPage's in a Yoast-style @graph
        (
            '<script type="application/ld+json">{"@graph": ['
            '{"@type": "WebPage", "datePublished": "2021-12-01T00:00:00Z"}, '
            '{"@type": "NewsArticle", "datePublished": "2022-01-12T10:00:00Z"}]}</script>',
            datetime(2022, 1, 12, 10, 0, tzinfo=UTC),
            "json-ld",
        ),
        # itemprop, then <time> inside the article; broken JSON-LD is skipped
        (
            '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": </script>'
            '<meta itemprop="datePublished" content="Wed, 12 Jan 2022 16:20:00 +0000">',
            datetime(2022, 1, 12, 16, 20, tzinfo=UTC),
            "meta",
        ),
        # JSON-LD in a CDATA section, as XHTML-minded templates write it
        (
            '<script type="application/ld+json">//<![CDATA[\n{"@type": "BlogPosting", '
            '"datePublished": "2022-04-05T06:00:00Z"}\n//]]></script>',
            datetime(2022, 4, 5, 6, 0, tzinfo=UTC),
            "json-ld",
        ),
        # less common <meta> names, matched whatever their case; the most specific wins
        (
            '<meta name="DC.date.issued" content="2022-05-01"><meta name="parsely-pub-date" '
            'content="2022-05-02T07:00:00Z"><meta name="sailthru.date" content="2022-05-03 08:00:00">',
            datetime(2022, 5, 2, 7, 0, tzinfo=UTC),
            "meta",
        ),
        # a year no news page can have is not a date
        (
            '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "0001-01-01T00:00:00Z"}'
            '</script><meta property="article:published_time" content="2022-06-01T12:00:00Z">',
            datetime(2022, 6, 1, 12, 0, tzinfo=UTC),
            "meta",
        ),
    ],
)
def test_published_sources(head: str, expected: datetime, signal: str) -> None:
    article = extract_article(synthetic(head), "https://example.com/news/dredging")
    assert article.published == expected
    assert article.published is not None and article.published.tzinfo is not None
    assert article.published_from == signal


def test_published_falls_back_to_the_hint() -> None:
    naive_hint = datetime(2022, 1, 12, 6, 0)
    article = extract_article(synthetic(), "https://example.com/news/dredging", hint_published=naive_hint)
    assert article.published == datetime(2022, 1, 12, 6, 0, tzinfo=UTC)
    assert article.published_from == "index"
    bare = extract_article(synthetic(), "https://example.com/news/dredging")
    assert bare.published is None and bare.published_from is None


def test_time_element_inside_the_article() -> None:
    body = (
        '<p class="dateline"><time datetime="2022-01-11T19:05:00+00:00">11 January</time></p>'
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms and now limits the largest ferries.</p>"
    )
    article = extract_article(synthetic(body=body), "https://example.com/news/dredging")
    assert article.published == datetime(2022, 1, 11, 19, 5, tzinfo=UTC)
    assert article.published_from == "text"


def test_title_suffix_and_hint() -> None:
    head = (
        "<title>Harbour board weighs channel dredging | The Example Courier</title>"
        '<meta property="og:site_name" content="The Example Courier">'
    )
    assert extract_article(synthetic(head), "https://example.com/a").title == "Harbour board weighs channel dredging"
    bare = (
        "<!DOCTYPE html><html><body><div class='content'>"
        + "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel.</p>" * 4
        + "</div></body></html>"
    )
    article = extract_article(bare, "https://example.com/a", hint_title="From the feed")
    assert article.title == "From the feed"
    assert article.language is None
    assert article.authors == []


@pytest.mark.parametrize(("lang", "expected"), [("pt-BR", "pt"), ("EN_gb", "en"), ("de", "de"), ("", None)])
def test_language(lang: str, expected: str | None) -> None:
    assert extract_article(synthetic(lang=lang), "https://example.com/a").language == expected


def test_the_feed_date_beats_the_url_and_the_text_but_not_page_metadata() -> None:
    hint = datetime(2022, 1, 12, 7, 45, tzinfo=UTC)
    url = "https://example.com/2022/01/12/dredging"
    body = (
        '<p class="dateline"><time datetime="2022-01-12T09:00:00Z">12 January</time></p>'
        + synthetic().split("<article><h1>Harbour board weighs channel dredging</h1>")[1].split("</article>")[0]
    )
    article = extract_article(synthetic(body=body), url, hint_published=hint)
    assert (article.published, article.published_from) == (hint, "index")
    meta = '<meta property="article:published_time" content="2022-01-12T06:00:00Z">'
    article = extract_article(synthetic(meta, body=body), url, hint_published=hint)
    assert (article.published, article.published_from) == (datetime(2022, 1, 12, 6, 0, tzinfo=UTC), "meta")


def test_the_url_day_overrules_a_far_off_date_and_takes_a_time_from_the_same_day() -> None:
    # a template that stamps every page with today's date: the URL, fixed at publication, says otherwise
    head = (
        '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2023-05-01T10:00:00Z"}</script>'
    )
    body = (
        '<p><time datetime="2022-01-12T18:40:00+01:00">12 Jan</time></p>'
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms and now limits the largest ferries.</p>"
    )
    article = extract_article(synthetic(head, body), "https://example.com/news/2022/01/12/dredging")
    assert article.published == datetime(2022, 1, 12, 17, 40, tzinfo=UTC)
    assert article.published_from == "text"
    only_url = extract_article(synthetic(head), "https://example.com/news/2022/01/12/dredging")
    assert (only_url.published, only_url.published_from) == (datetime(2022, 1, 12, tzinfo=UTC), "url")


def test_a_url_date_alone_is_the_date() -> None:
    article = extract_article(synthetic(), "https://example.com/2021-11-30-dredging.html")
    assert (article.published, article.published_from) == (datetime(2021, 11, 30, tzinfo=UTC), "url")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://e.com/news/2022/01/12/story", (2022, 1, 12)),
        ("https://e.com/2022/1/5/story", (2022, 1, 5)),
        ("https://e.com/2022-01-12-story.html", (2022, 1, 12)),
        ("https://e.com/2022/02/30/story", None),  # no such day
        ("https://e.com/2022/01/story", None),  # a month is not a day
        ("https://e.com/id/20220112/story", None),
        ("https://e.com/story?date=2022/01/12/", None),  # only the path counts
        ("https://e.com/1850/01/12/archive", None),
    ],
)
def test_url_date(url: str, expected: tuple[int, int, int] | None) -> None:
    found = url_date(url)
    assert (None if found is None else (found.year, found.month, found.day)) == expected


def test_reconcile_prefers_trust_order_and_refines_a_bare_day() -> None:
    day = Candidate(datetime(2022, 1, 12, tzinfo=UTC), "json-ld", False)
    later = Candidate(datetime(2022, 1, 12, 15, 0, tzinfo=UTC), "text", True)
    other_day = Candidate(datetime(2022, 1, 14, 9, 0, tzinfo=UTC), "index", True)
    assert reconcile([]) == (None, None)
    assert reconcile([day, other_day, later]) == (later.value, "text")
    assert reconcile([other_day, later]) == (other_day.value, "index")


# ---------------------------------------------------------------- body: a fuller pass, and JSON-LD articleBody


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_a_story_the_precise_pass_misses_is_found_by_the_fuller_one() -> None:
    html = fixture("div_paragraphs.html")
    precise = trafilatura.bare_extraction(html, fast=True, favor_precision=True, include_comments=False)
    assert "silted up" not in str(getattr(precise, "text", ""))  # what the first pass alone keeps
    text = extract_article(html, "https://example.com/news/dredging").text
    for passage in ("silted up faster than expected", "borrow against the harbour dues for the next decade"):
        assert passage in text


def test_a_page_rendered_by_script_is_read_from_its_json_ld_article_body() -> None:
    html = fixture("jsonld_shell.html")
    article = extract_article(html, "https://example.com/news/ferry-fares")
    assert article.title == "Ferry fares to rise in April"
    assert article.text.splitlines() == [
        "Ferry fares to the islands will rise by eight per cent in April, the operator said on Monday, blaming "
        "the price of fuel.",
        "Season tickets for islanders will rise by less, at three per cent, after a campaign by the community council.",
        "Timetable unchanged",
        "The winter timetable will stay as it is until the end of March, with two sailings a day on weekdays "
        "and one on Sundays.",
        "The operator said it would review fares again in the autumn, once the new vessel has entered service "
        "& its running costs are known.",
    ]
    assert (article.published, article.published_from) == (datetime(2022, 2, 14, 6, 30, tzinfo=UTC), "json-ld")
    without = re.sub(r"<script.*?</script>", "", html, flags=re.DOTALL)
    shell = extract_article(without, "https://example.com/news/ferry-fares")
    assert (shell.text, shell.text_missing) == ("", "no article text found")


def test_a_full_json_ld_article_body_vouches_for_each_line() -> None:
    html = fixture("jsonld_vouches.html")
    text = extract_article(html, "https://example.com/news/library").text
    assert "Read more" not in text and "Share this story" not in text
    assert words_in(text) == set()  # the teaser named three watched words
    assert len(text.splitlines()) == 4 and "reading hour at three o'clock" in text
    without = extract_article(re.sub(r"<script.*?</script>", "", html, flags=re.DOTALL), "https://example.com/a")
    assert "Read more: NATO ministers" in without.text  # the clutter is there without the publisher's body


def test_a_json_ld_summary_changes_nothing() -> None:
    html = fixture("jsonld_vouches.html")
    summary = re.sub(r'"articleBody": "[^"]*"', '"articleBody": "The library will open on Sundays."', html)
    plain = re.sub(r"<script.*?</script>", "", html, flags=re.DOTALL)
    assert extract_article(summary, "https://e.com/a").text == extract_article(plain, "https://e.com/a").text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>One &amp; two.</p><p>Three<br>four</p>", "One & two.\nThree\nfour"),
        (
            "Plain text with an entity: caf&eacute;.\n\n  Second   line ",
            "Plain text with an entity: café.\nSecond line",
        ),
        ("<h2>Head</h2>Tail text", "Head\nTail text"),
    ],
)
def test_plain_text_from_an_article_body(raw: str, expected: str) -> None:
    assert plain_text(raw) == expected


# ---------------------------------------------------------------- titles the page confirms


def title_of(head: str, h1s: list[str], extracted: str | None, others: list[str | None], site: str | None) -> str:
    headings = "".join(f"<h1>{h}</h1>" for h in h1s)
    tree = lxml.html.document_fromstring(f"<html><head>{head}</head><body>{headings}<p>x</p></body></html>")
    return resolve_title(tree, extracted, others, site)


@pytest.mark.parametrize(
    ("h1s", "extracted", "others", "site", "expected"),
    [
        # a site name the page does not declare is cut off because the <h1> confirms the rest
        (
            ["Ferry fares to rise in April"],
            "Ferry fares to rise in April | Aktuálně.cz",
            [],
            None,
            "Ferry fares to rise in April",
        ),
        (
            ["Ferry fares to rise in April"],
            "Courier: Ferry fares to rise in April",
            [],
            None,
            "Ferry fares to rise in April",
        ),
        # a stray heading the extractor picked loses to the <title> that an <h1> confirms
        (
            ["Ferry fares to rise in April"],
            "Take your next trip with us!",
            [None, "Ferry fares to rise in April - The Example Courier"],
            None,
            "Ferry fares to rise in April",
        ),
        # an extracted title that og:title repeats stands, even when the visible <h1> words it differently
        (
            ["Why fares are rising again"],
            "Ferry fares to rise in April",
            ["Ferry fares to rise in April", None],
            None,
            "Ferry fares to rise in April",
        ),
        # an <h1> that is the site's name confirms nothing; the declared site name is cut all the same
        (
            ["The Example Courier"],
            "The Example Courier - Ferry fares to rise in April",
            [],
            "The Example Courier",
            "Ferry fares to rise in April",
        ),
        (
            ["Ferries"],
            "Ferries | Ferry fares to rise in April and May",
            [],
            None,
            "Ferries | Ferry fares to rise in April and May",
        ),
        # nothing confirmed: the extracted title, less a declared site name
        (
            [],
            "Ferry fares to rise in April | The Example Courier",
            [],
            "The Example Courier",
            "Ferry fares to rise in April",
        ),
        ([], None, [None, "From og:title"], None, "From og:title"),
    ],
)
def test_resolve_title(
    h1s: list[str], extracted: str | None, others: list[str | None], site: str | None, expected: str
) -> None:
    assert title_of("", h1s, extracted, others, site) == expected


def test_a_stray_heading_does_not_become_the_title_of_a_page() -> None:
    head = "<title>Harbour board weighs channel dredging - The Example Courier</title>"
    body = (
        "<aside><h1>Take your next trip with the Courier!</h1></aside>"
        "<p>The harbour board met on Tuesday evening to discuss the dredging of the outer channel, which has "
        "silted up faster than expected since the autumn storms and now limits the largest ferries.</p>"
    )
    article = extract_article(synthetic(head, body), "https://example.com/news/dredging")
    assert article.title == "Harbour board weighs channel dredging"


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a/b?utm_source=rss&utm_medium=feed&id=7#comments", "http://example.com/a/b?id=7"),
        ("https://example.com/story?fbclid=IwAR0abc", "https://example.com/story"),
        ("https://example.com/story?b=2&gclid=x&a=1", "https://example.com/story?a=1&b=2"),
        ("https://example.com/story?ref=home&ocid=msn&cmpid=rss&mc_cid=1&mc_eid=2", "https://example.com/story"),
        ("https://example.com/story?UTM_Campaign=winter", "https://example.com/story"),
        ("https://example.com/story?reference=9", "https://example.com/story?reference=9"),
        ("https://EXAMPLE.com/Path/Keeps/Case#top", "https://example.com/Path/Keeps/Case"),
        ("https://www.example.com", "https://www.example.com/"),
    ],
)
def test_canonicalize_url(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected
    assert canonicalize_url(expected) == expected


@pytest.mark.parametrize(
    ("link", "url", "expected"),
    [
        # another host: ignored, the fetched URL is used
        (
            "https://aggregator.example.net/story/123",
            "https://news.example.com/a?utm_source=x",
            "https://news.example.com/a",
        ),
        # a sibling subdomain of the same site is fine
        ("https://www.example.com/a", "https://m.example.com/a?fbclid=1", "https://www.example.com/a"),
        ("https://example.com/a", "https://www.example.com/a", "https://example.com/a"),
        # relative, resolved against the fetched URL
        ("/world/a?utm_medium=x#frag", "https://example.com/b", "https://example.com/world/a"),
        # not http(s)
        ("javascript:void(0)", "https://example.com/b", "https://example.com/b"),
        # a look-alike host is not a subdomain
        ("https://badexample.com/a", "https://example.com/b", "https://example.com/b"),
    ],
)
def test_canonical_link(link: str, url: str, expected: str) -> None:
    head = f'<link rel="canonical" href="{link}">'
    assert extract_article(synthetic(head), url).canonical_url == expected


# ---------------------------------------------------------------- no network


def test_extraction_makes_no_network_call(network_attempts: list[str]) -> None:
    for name in ALL_PAGES:
        extract_page(name)
    # hosts that courlan's fast path cannot parse send it to the tld package's suffix list
    for url in ("http://localhost:9/a", "https://www.bbc.co.uk/news/world-1", "https://xn--80ak6aa92e.com/x"):
        extract_article(raw_page(HERALD_NATO).replace("{base}", BASE), url)
    assert network_attempts == []


def test_extraction_in_a_fresh_process_makes_no_network_call() -> None:
    """Cold caches: nothing (tld's suffix list included) is loaded from the network on first use."""
    script = textwrap.dedent(
        f"""
        import socket, sys
        attempts = []
        def refuse(self, address, *args):
            attempts.append(repr(address))
            raise OSError("network blocked")
        def no_dns(host, *args, **kwargs):
            attempts.append(repr(host))
            raise OSError("network blocked")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = no_dns
        sys.path.insert(0, {str(ROOT)!r})
        from monitor.extract import extract_article
        html = open({str(PAGES / LEDGER_NATO)!r}, encoding="utf-8").read().replace("{{base}}", "http://localhost:9")
        article = extract_article(html, "http://localhost:9/world/nato-offers-arms-talks.html")
        assert "There is a real risk for new armed conflict" in article.text
        print(len(attempts), "tldextract" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]
