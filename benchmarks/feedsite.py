"""A loopback site of many RSS feeds for ``bench_feeds.py``: conditional GET, article pages, items that appear.

One threaded ``http.server`` on 127.0.0.1 serves ``feeds`` RSS feeds, ``/feeds/<i>.xml``, each
listing its newest ``items`` articles, and the articles, ``/a/<i>/<j>.html``: 5-20 KB pages
generated from a seed (title, byline, date, JSON-LD, 250-600 words of news prose, a menu,
"more stories" cards and a footer that name no watched word). One start-up item in five is about
NATO and alerts with the shipped rules; every item added later does too. Feeds and robots.txt
carry an ETag and a Last-Modified and answer 304 to a matching If-None-Match (or, without one,
to an If-Modified-Since not older than the last change). ``FeedSite.add_item`` puts a new
article at the top of a feed, records when (monotonic and UTC) and changes the feed's ETag;
``Publisher`` does that at a steady random rate from a thread.

Usage::

    with FeedSite(2000) as site, Publisher(site, feeds=200, per_second=0.3).start() as publisher:
        ...crawl site.feed_url(0) ... site.feed_url(199)...
    publisher.appeared  # list[Appearance]
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from http.server import BaseHTTPRequestHandler

from sitegen import AUTHORS, PLACES, REASONS, TOPICS, WATCHED, Topic

from monitor.localserver import LocalServer, QuietHandler

SITE_NAME = "The Loopback Courier"
WATCHED_EVERY = 5  # one start-up item in five is about the watched topics
ITEM_SPACING = timedelta(minutes=47)  # between two start-up items of a feed
NATO_HEADLINES = tuple(h for h in WATCHED.headlines if "NATO" in h)
NEUTRAL_HEADLINES = (
    "City council approves new bus lanes",
    "Local bakery wins regional bread prize",
    "Heavy traffic expected for the holiday weekend",
    "University opens new science library",
    "Harbour festival returns after two years",
    "Water supply works planned for next month",
    "Museum extends opening hours in summer",
    "Schools prepare for the new term",
)


def _choices(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


SYLLABLES = tuple(c + v for c in "bdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "an", "el", "or"))
# Clauses that sentences are put together from ("|" separates the choices).
OPENERS = _choices(
    "|On balance,|Late on Monday,|In a brief statement,|Speaking to reporters,|Once again,|For now,|Privately,"
    "|Until recently,|In public,|As expected,|Above all,|In the capital,"
)
SAYS = _choices(
    "said|told reporters|announced|confirmed|warned|insisted|suggested|argued|wrote|hinted|conceded|repeated"
    "|stressed|noted"
)
WHEN = _choices(
    "on Monday|on Tuesday|late on Wednesday|this week|earlier today|last night|on Friday morning|after the meeting"
    "|before the vote|at a briefing|in an interview|over the weekend"
)
MODALS = _choices(
    "would|could|might|was ready to|planned to|had agreed to|was unlikely to|hoped to|refused to|wanted to"
    "|was expected to|had promised to|would soon|could still"
)
LINKS = _choices("after|despite|because of|amid|following|in response to|regardless of|partly due to")
LISTS = {"openers": OPENERS, "says": SAYS, "when": WHEN, "modals": MODALS, "links": LINKS, "reasons": REASONS}
MENU = ("Home", "Local", "Business", "Climate", "Health", "Sport", "Culture", "Opinion")
PAGE = re.compile(r"^/a/(\d+)/(\d+)\.html$")
FEED = re.compile(r"^/feeds/(\d+)\.xml$")


@dataclass(frozen=True)
class Appearance:
    """A new item in a feed, and when it appeared (``time.monotonic()`` and UTC)."""

    feed: int
    item: int
    url: str
    monotonic: float
    utc: datetime


@dataclass
class _Feed:
    count: int  # items so far; the feed lists the newest ``items`` of them
    version: int = 0
    modified: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    body: bytes | None = None  # the RSS document of this version, built on first request


class FeedSite(LocalServer):
    """``feeds`` RSS feeds of ``items`` items each, their articles and robots.txt; a context manager."""

    def __init__(self, feeds: int, items: int = 20, *, seed: int = 13):
        self.feeds, self.items, self.seed = feeds, items, seed
        self.started = datetime.now(UTC).replace(microsecond=0)
        self._state = [_Feed(count=items, modified=self.started) for _ in range(feeds)]
        self._added: dict[tuple[int, int], datetime] = {}  # (feed, item) -> published, for items added later
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()  # "feed 200", "feed 304", "page", "robots 200", "robots 304", "404"
        self._robots = b"User-agent: *\nDisallow: /private/\n"
        super().__init__(self._handler(), thread_name="feed-site", report_errors=False)

    def feed_url(self, feed: int) -> str:
        return f"{self.base}/feeds/{feed}.xml"

    def page_url(self, feed: int, item: int) -> str:
        return f"{self.base}/a/{feed}/{item}.html"

    def add_item(self, feed: int) -> Appearance:
        """A new (alerting) article at the top of ``feed``: a new ETag and Last-Modified."""
        with self._lock:
            state = self._state[feed]
            item = state.count
            now = datetime.now(UTC)
            self._added[(feed, item)] = now
            state.count += 1
            state.version += 1
            state.modified = now
            state.body = None
            return Appearance(feed, item, self.page_url(feed, item), time.monotonic(), now)

    def counts(self) -> dict[str, int]:
        """Requests answered so far, by kind."""
        with self._lock:
            return dict(self.hits)

    # --- what is served ------------------------------------------------------------------------------------------

    def published(self, feed: int, item: int) -> datetime:
        """When the item was published: start-up items are spaced out before the site started."""
        added = self._added.get((feed, item))
        if added is not None:
            return added
        return self.started - ITEM_SPACING * (self.items - item) - timedelta(minutes=feed % 47)

    def watched(self, feed: int, item: int) -> bool:
        return item >= self.items or (feed + item) % WATCHED_EVERY == 0

    def _feed_body(self, feed: int) -> tuple[bytes, str, datetime]:
        with self._lock:
            state = self._state[feed]
            if state.body is None:
                first = max(0, state.count - self.items)
                entries = [self._entry(feed, item) for item in range(state.count - 1, first - 1, -1)]
                state.body = rss(f"{SITE_NAME}: feed {feed}", self.base, entries, state.modified).encode()
            return state.body, f'"f{feed}-v{state.version}"', state.modified

    def _entry(self, feed: int, item: int) -> tuple[str, str, datetime, str]:
        title, summary = headline(self.seed, feed, item, self.watched(feed, item))
        return title, self.page_url(feed, item), self.published(feed, item), summary

    def _page(self, feed: int, item: int) -> bytes | None:
        with self._lock:
            exists = feed < self.feeds and item < self._state[feed].count
        if not exists:
            return None
        return article_page(
            self.seed, self.page_url(feed, item), feed, item, self.published(feed, item), self.watched(feed, item)
        ).encode()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.hits[kind] += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/robots.txt":
                    self._conditional("robots", site._robots, "text/plain", '"robots-1"', site.started)
                elif (match := FEED.match(path)) and int(match[1]) < site.feeds:
                    body, etag, modified = site._feed_body(int(match[1]))
                    self._conditional("feed", body, "application/rss+xml; charset=utf-8", etag, modified)
                elif (match := PAGE.match(path)) and (page := site._page(int(match[1]), int(match[2]))):
                    site._count("page")
                    self._send(200, page, "text/html; charset=utf-8")
                else:
                    site._count("404")
                    self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html")

            def _conditional(self, kind: str, body: bytes, content_type: str, etag: str, modified: datetime) -> None:
                headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
                if not_modified(
                    self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"), etag, modified
                ):
                    site._count(f"{kind} 304")
                    self._send(304, b"", None, headers)
                else:
                    site._count(f"{kind} 200")
                    self._send(200, body, content_type, headers)

            def _send(self, status: int, body: bytes, kind: str | None, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                if kind:
                    self.send_header("Content-Type", kind)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, modified: datetime) -> bool:
    """RFC 9110: If-None-Match decides when present; otherwise If-Modified-Since, to the second."""
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and modified.replace(microsecond=0) <= since
    return False


class Publisher:
    """Adds an item to a random feed among the first ``feeds``, ``per_second`` on average (Poisson), from a thread."""

    def __init__(self, site: FeedSite, *, feeds: int, per_second: float, seed: int = 2026):
        self.site, self.feeds, self.per_second = site, feeds, per_second
        self.appeared: list[Appearance] = []
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> Publisher:
        """Start publishing (a context manager only stops it: ``with publisher:`` then ``start()`` when wanted)."""
        if self.per_second > 0 and not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._rng.expovariate(self.per_second)):
            self.appeared.append(self.site.add_item(self._rng.randrange(self.feeds)))


# --- the documents -------------------------------------------------------------------------------------------------


def rss(title: str, base: str, entries: list[tuple[str, str, datetime, str]], built: datetime) -> str:
    """An RSS 2.0 document of (title, link, published, summary) entries, in the order given."""
    items = "".join(
        f'<item><title>{escape(t)}</title><link>{escape(link)}</link><guid isPermaLink="true">{escape(link)}</guid>'
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate><description>{escape(summary)}</description>"
        "</item>\n"
        for t, link, published, summary in entries
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>{escape(base)}/</link><description>{escape(title)}</description>"
        f"<lastBuildDate>{format_datetime(built, usegmt=True)}</lastBuildDate>\n{items}</channel></rss>\n"
    )


def _rng(seed: int, feed: int, item: int) -> random.Random:
    return random.Random(f"{seed}/{feed}/{item}")


def headline(seed: int, feed: int, item: int, watched: bool) -> tuple[str, str]:
    """The item's title and its one-sentence summary."""
    rng = _rng(seed, feed, item)
    topic = WATCHED if watched else rng.choice(TOPICS)
    place = rng.choice(PLACES)
    title = rng.choice(NATO_HEADLINES if watched else topic.headlines).format(place=place)
    return f"{title} ({feed}-{item})", _summary(rng, topic, place)


def _summary(rng: random.Random, topic: Topic, place: str) -> str:
    subject = rng.choice(topic.subjects)
    return (
        f"{subject[0].upper()}{subject[1:]} will {rng.choice(topic.verbs)} {rng.choice(topic.objects)}, {place} hears."
    )


def article_page(seed: int, url: str, feed: int, item: int, published: datetime, watched: bool) -> str:
    """A 5-20 KB news page: meta tags, JSON-LD, a menu, the article and its paragraphs, some cards, a footer."""
    title, summary = headline(seed, feed, item, watched)
    rng = _rng(seed, feed, item)
    topic = WATCHED if watched else rng.choice(TOPICS)
    place = rng.choice(PLACES)
    author = rng.choice(AUTHORS)
    paragraphs = _paragraphs(rng, topic, place, rng.randrange(250, 600))
    jsonld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "description": summary,
            "datePublished": published.isoformat(timespec="seconds"),
            "author": {"@type": "Person", "name": author},
            "mainEntityOfPage": url,
            "publisher": {"@type": "NewsMediaOrganization", "name": SITE_NAME},
        }
    )
    menu = "".join(f'<li><a href="/{m.lower()}">{m}</a></li>' for m in MENU)
    body = "".join(f"<p>{escape(text)}</p>\n" for text in paragraphs)
    head = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} | {SITE_NAME}</title>\n'
        f'<meta name="description" content="{escape(summary)}"><link rel="canonical" href="{url}">\n'
        f'<meta property="og:title" content="{escape(title)}"><meta property="og:type" content="article">\n'
        f'<meta property="article:published_time" content="{published.isoformat(timespec="seconds")}">\n'
        f'<script type="application/ld+json">{jsonld}</script>\n'
        '<link rel="stylesheet" href="/static/site.css"></head>\n'
    )
    article = (
        f'<body><header class="masthead"><a href="/" class="logo">{SITE_NAME}</a><nav><ul class="menu">{menu}'
        f'</ul></nav></header>\n<main><article class="story"><h1 class="headline">{escape(title)}</h1>\n'
        f'<div class="byline">By <span class="author">{author}</span>, '
        f'<time datetime="{published.isoformat(timespec="seconds")}">{published:%d %B %Y, %H:%M} UTC</time></div>\n'
        f'<div class="story-body">\n{body}</div></article>\n'
    )
    footer = (
        '</main><footer class="site-footer"><ul>'
        + "".join(f'<li><a href="/{m.lower()}">{m}</a></li>' for m in MENU)
        + f"</ul><p>© 2026 {SITE_NAME}. All rights reserved.</p></footer></body></html>\n"
    )
    target = rng.randrange(5_500, 19_500)
    cards: list[str] = []
    size = len(head) + len(article) + len(footer)
    while size < target:
        link = f"/a/{rng.randrange(10**4)}/{rng.randrange(100)}.html"
        cards.append(
            f'<div class="card"><a href="{link}"><img loading="lazy" src="/img/{rng.randrange(10**6)}.jpg" alt="">'
            f'</a><h3><a href="{link}">{escape(rng.choice(NEUTRAL_HEADLINES))}</a></h3>'
            f'<span class="time">{rng.randrange(1, 23)}h ago</span></div>\n'
        )
        size += len(cards[-1])
    more = f'<section class="more-stories"><h2>More stories</h2>{"".join(cards)}</section>\n'
    return head + article + more + footer


def _paragraphs(rng: random.Random, topic: Topic, place: str, words: int) -> list[str]:
    # Each article writes with its own third of every word list: two articles share few
    # three-word phrases, so none is taken for a near-duplicate of another (one story, one alert).
    def some(items: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(rng.sample(items, max(2, len(items) // 3)))

    own = Topic(topic.section, some(topic.subjects), some(topic.objects), some(topic.actors), some(topic.verbs), ())
    lists = {name: some(values) for name, values in LISTS.items()}
    paragraphs: list[str] = []
    count = 0
    while count < words:
        text = " ".join(_sentence(rng, own, place, lists) for _ in range(rng.randrange(2, 5)))
        paragraphs.append(text)
        count += len(text.split())
    return paragraphs


def _name(rng: random.Random) -> str:
    """A made-up proper name: articles do not share their people and places."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randrange(2, 4))).capitalize()


def _sentence(rng: random.Random, topic: Topic, place: str, lists: dict[str, tuple[str, ...]]) -> str:
    """One sentence put together clause by clause from ``topic`` and ``lists``."""
    who = rng.choice(
        (
            rng.choice(topic.subjects),
            f"{_name(rng)} {_name(rng)}, {rng.choice(topic.actors)},",
            f"{_name(rng)} {_name(rng)}",
            f"the {_name(rng)} council",
        )
    )
    town = rng.choice((place, _name(rng), _name(rng)))
    text = (
        f"{rng.choice(lists['openers'])} {who} {rng.choice(lists['says'])} {rng.choice(lists['when'])} that "
        f"{rng.choice(topic.subjects)} {rng.choice(lists['modals'])} {rng.choice(topic.verbs)} "
        f"{rng.choice(topic.objects)} {rng.choice(lists['links'])} {rng.choice(lists['reasons'])} in {town}."
    ).strip()
    return text[0].upper() + text[1:]
