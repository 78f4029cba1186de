"""Realistic news pages for benchmarks: seeded, 60-120 KB each, an article lost in clutter.

The page structure follows the demo pages (``monitor/demo/pages``): meta tags and
JSON-LD, inline styles and scripts, a mega-menu, a breaking-news ticker, related
stories inside the article, a comments policy and form, most-read and latest-news
sidebars, a long footer and a preloaded-state script. The body is 600-900 words of
generated news prose; about a fifth of the stories are about the watched topics
(NATO, Ukraine, sanctions, armed conflict), while the clutter mentions them on every
page, so an extractor that lets clutter through makes every page match.

Usage::

    stories = generate_stories(400)          # list[monitor.demo.sites.Story]
    site.add_news("Bench Herald", stories)
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape

from monitor.demo.sites import Story

SITE_NAME = "The Bench Herald"
NEWEST = datetime(2026, 11, 28, 9, 0, tzinfo=timezone(timedelta(hours=1)))
MIN_BYTES, MAX_BYTES = 61_440, 120_000  # once served: within 60-120 KB, whether k is 1000 or 1024
SERVED_BASE = "http://127.0.0.1:40000"  # how long "{base}" becomes when a LocalSite serves a page


@dataclass(frozen=True)
class Topic:
    """Words one kind of story is written with."""

    section: str
    subjects: tuple[str, ...]
    objects: tuple[str, ...]
    actors: tuple[str, ...]
    verbs: tuple[str, ...]
    headlines: tuple[str, ...]


TOPICS = (
    Topic(
        "business",
        (
            "the central bank",
            "the port authority",
            "exporters",
            "the finance ministry",
            "regional lenders",
            "the textile industry",
            "small retailers",
            "the chamber of commerce",
        ),
        (
            "interest rates",
            "the export credit scheme",
            "a new container terminal",
            "fuel subsidies",
            "the quarterly budget",
            "import duties on machinery",
            "wage agreements",
            "a bond issue",
        ),
        (
            "an economist at the state university",
            "the trade minister",
            "a spokesperson for the exporters' union",
            "the chief executive of a logistics firm",
            "a senior analyst at a brokerage",
        ),
        ("review", "expand", "cut", "delay", "renegotiate", "finance", "approve", "suspend"),
        (
            "{place} exporters brace for higher freight costs",
            "Central bank holds rates as prices ease in {place}",
            "New container terminal opens in {place} after years of delay",
            "Retailers in {place} report a slow autumn",
        ),
    ),
    Topic(
        "climate",
        (
            "the weather office",
            "farmers' groups",
            "the water board",
            "coastal councils",
            "river engineers",
            "the environment agency",
            "volunteer rescue teams",
        ),
        (
            "flood defences",
            "the monsoon forecast",
            "groundwater levels",
            "a cyclone shelter programme",
            "the irrigation canals",
            "early-warning sirens",
            "embankment repairs",
            "the rice harvest",
        ),
        (
            "a hydrologist who has studied the delta for two decades",
            "the district relief officer",
            "a farmer from a village near the river",
            "the head of the meteorological department",
        ),
        ("strengthen", "monitor", "rebuild", "assess", "evacuate", "dredge", "fund", "inspect"),
        (
            "Rivers rise across {place} as rains continue",
            "Farmers in {place} count the cost of a late harvest",
            "Cold wave tightens its grip on {place}",
            "{place} opens new cyclone shelters before the season",
        ),
    ),
    Topic(
        "health",
        (
            "the health directorate",
            "district hospitals",
            "the medical council",
            "private clinics",
            "community health workers",
            "the drug regulator",
            "nursing unions",
        ),
        (
            "a measles vaccination drive",
            "the dengue response",
            "hospital bed capacity",
            "generic drug prices",
            "maternity services",
            "the ambulance network",
            "night shifts for junior doctors",
        ),
        (
            "a paediatrician at the children's hospital",
            "the director general of health services",
            "an epidemiologist advising the ministry",
            "a nurse with fifteen years on the wards",
        ),
        ("expand", "audit", "staff", "subsidise", "overhaul", "extend", "monitor", "train"),
        (
            "Dengue cases fall in {place} but doctors urge caution",
            "{place} hospitals stretched by winter illness",
            "Vaccination drive reaches remote villages near {place}",
            "Clinics in {place} cut waiting times",
        ),
    ),
    Topic(
        "sports",
        (
            "the cricket board",
            "the national football team",
            "club owners",
            "the athletics federation",
            "the selectors",
            "the league organisers",
            "young players from the academy",
        ),
        (
            "the home series",
            "the new stadium lights",
            "a revised fixture list",
            "the coaching staff",
            "the domestic league",
            "ticket prices",
            "the youth tournament",
            "broadcast rights",
        ),
        (
            "the team captain",
            "the head coach",
            "a former national player now commentating",
            "the chief selector",
            "a veteran groundsman",
        ),
        ("announce", "postpone", "review", "rebuild", "host", "renew", "schedule", "back"),
        (
            "{place} side names unchanged squad for second Test",
            "Late goal keeps {place} title hopes alive",
            "Athletes from {place} set records at national games",
            "Stadium in {place} ready for the final",
        ),
    ),
    Topic(
        "technology",
        (
            "mobile operators",
            "the telecom regulator",
            "start-up founders",
            "the ICT division",
            "software exporters",
            "university researchers",
            "the data protection office",
        ),
        (
            "4G coverage in rural districts",
            "a digital payments platform",
            "spectrum auctions",
            "a national data centre",
            "online land records",
            "cyber-security rules",
            "broadband tariffs",
        ),
        (
            "the founder of a payments start-up",
            "the regulator's chairman",
            "a professor of computer science",
            "a software engineer who returned from abroad",
            "the head of the ICT division",
        ),
        ("launch", "upgrade", "regulate", "connect", "digitise", "secure", "license", "test"),
        (
            "Payments app passes ten million users in {place}",
            "Broadband reaches villages outside {place}",
            "{place} start-ups draw record investment",
            "Regulator in {place} opens spectrum auction",
        ),
    ),
    Topic(
        "culture",
        (
            "the arts council",
            "the national museum",
            "publishers",
            "theatre troupes",
            "the film board",
            "craft cooperatives",
            "the city library",
        ),
        (
            "the book fair",
            "a restored colonial-era theatre",
            "a festival of folk music",
            "film subsidies",
            "a new translation prize",
            "the heritage walk",
            "the winter art exhibition",
        ),
        (
            "a novelist whose latest book sold out in a week",
            "the museum's chief curator",
            "a potter from a family of craftsmen",
            "the festival director",
            "a young film-maker",
        ),
        ("celebrate", "restore", "showcase", "fund", "revive", "open", "curate", "translate"),
        (
            "Book fair in {place} draws record crowds",
            "Restored theatre reopens in {place}",
            "{place} potters find new buyers online",
            "Folk music festival returns to {place}",
        ),
    ),
)

WATCHED = Topic(
    "world",
    (
        "NATO",
        "NATO allies",
        "the government in Kyiv",
        "European ministers",
        "Western governments",
        "NATO defence ministers",
        "officials in Ukraine",
    ),
    (
        "new sanctions on energy exports",
        "air-defence deliveries to Ukraine",
        "the sanctions package",
        "security guarantees for Ukraine",
        "talks to avoid a wider armed conflict",
        "the NATO summit agenda",
        "grain shipments from Ukraine's ports",
    ),
    (
        "a NATO spokesperson",
        "Ukraine's foreign minister",
        "a diplomat at the NATO headquarters",
        "an analyst who studies sanctions policy",
        "a senior official in Kyiv",
    ),
    ("discuss", "tighten", "extend", "coordinate", "approve", "review", "expand", "support"),
    (
        "NATO allies weigh new support for Ukraine",
        "Sanctions tightened as {place} talks stall",
        "NATO warns of risk of armed conflict spreading",
        "Ukraine seeks more air defences from NATO",
    ),
)

PLACES = (
    "Chattogram",
    "Khulna",
    "Sylhet",
    "Rajshahi",
    "Barishal",
    "Rangpur",
    "Mymensingh",
    "Cumilla",
    "Narayanganj",
    "Gazipur",
    "Bogura",
    "Jashore",
    "Dinajpur",
    "Cox's Bazar",
    "Tangail",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
AUTHORS = (
    "Farhana Akter",
    "Rafiq Hossain",
    "Nusrat Jahan",
    "Tanvir Ahmed",
    "Sabrina Karim",
    "Imran Chowdhury",
    "Mahmuda Sultana",
    "Arif Rahman",
)
CONNECTIVES = (
    "Meanwhile,",
    "At the same time,",
    "Earlier this year,",
    "By contrast,",
    "Separately,",
    "In a statement,",
    "According to officials,",
    "Last month,",
)
REASONS = (
    "rising costs",
    "pressure from local councils",
    "a shortage of skilled staff",
    "delays in funding",
    "a surge in demand",
    "complaints from residents",
    "a review ordered by parliament",
    "tighter rules",
)
TEMPLATES = (
    "{Subject} said on {weekday} that it would {verb} {object} before the end of the year.",
    "Officials in {place} expect {subject} to {verb} {object} within weeks, citing {reason}.",
    '"We have been asking for this for a long time, and now we need to see it happen," said {actor}.',
    "{Connective} {subject} has struggled to {verb} {object} because of {reason}.",
    "The plan to {verb} {object} was first proposed in {year}, but it stalled amid {reason}.",
    "Figures published on {weekday} showed a {pct} percent change compared with the same period last year.",
    "{Actor} said the decision to {verb} {object} reflected {reason} rather than any change of policy.",
    "Residents of {place} said they had noticed little difference so far, though many welcomed the move.",
    "{Connective} critics argued that {subject} moved too slowly on {object}, leaving {place} exposed.",
    "It is not yet clear how {subject} will pay for {object}, which could cost about {amount} million.",
    '"The next few months will decide whether this works," {actor} told reporters in {place}.',
    "Some {pct} percent of those surveyed in {place} said {object} should be a priority for {subject}.",
)

TICKER = (
    "NATO allies agree to boost air defences for Ukraine",
    "EU readies fresh sanctions on shipping firms",
    "Analysts warn of armed conflict risk in the region",
    "Kyiv says talks with partners were productive",
    "Stocks edge up for third straight session",
    "Cold wave likely to continue in northern districts",
    "Metro rail trial run extended by a month",
    "Bangladesh name unchanged squad for second Test",
)
CLUTTER_HEADLINES = (
    *TICKER,
    "What new sanctions mean for exporters",
    "Ukraine war: the latest in maps",
    "Why NATO's eastern flank matters to Asia",
    "Explainer: how an armed conflict ends",
    "Freelancing his way to becoming a multimillionaire",
    "AIIB keen to finance inner ring road",
    "Pig's heart saves a man: a dream come true",
    "Tale of Savar's rose village",
    "Health staff export: a piece of the pie",
    "Big potential in the Bay as gas hydrates found",
)
MENU = {
    "News": ("Bangladesh", "World", "Politics", "Crime", "Court", "Environment", "Analysis", "Elections"),
    "Economy": ("Banking", "Stocks", "Industry", "Aviation", "Budget", "Energy", "Infrastructure"),
    "Sports": ("Cricket", "Football", "Tennis", "Hockey", "Other Sports"),
    "Features": ("Panorama", "Splash", "Thoughts", "Habitat", "Tech", "Book Review"),
    "Opinion": ("Editorial", "Views", "Interviews", "Letters"),
    "Lifestyle": ("Food", "Fashion", "Travel", "Health", "Home Decor"),
}
CSS_RULE = ".{name} {{ display: {display}; margin: {m}px 0; padding: {p}px; color: #{c:06x}; font-size: {f}px; }}\n"


def generate_stories(count: int, *, seed: int = 2026, watched_share: float = 0.2) -> list[Story]:
    """``count`` article pages, the same for the same seed; ``watched_share`` of them about watched topics."""
    rng = random.Random(seed)
    watched = set(rng.sample(range(count), round(count * watched_share)))
    stories = []
    for number in range(count):
        topic = WATCHED if number in watched else rng.choice(TOPICS)
        published = NEWEST - timedelta(minutes=17 * number + rng.randrange(15))
        stories.append(_story(rng, number, topic, published))
    return stories


def _story(rng: random.Random, number: int, topic: Topic, published: datetime) -> Story:
    place = rng.choice(PLACES)
    title = rng.choice(topic.headlines).format(place=place)
    slug = "-".join("".join(c for c in word if c.isalnum()) for word in title.lower().split())[:70]
    path = f"/{topic.section}/{published:%Y/%m/%d}/{slug}-{number}.html"
    paragraphs = _body(rng, topic, place)
    summary = paragraphs[0][1][:200]
    target = rng.randrange(MIN_BYTES, MAX_BYTES)
    html = _page(rng, path, title, summary, rng.choice(AUTHORS), topic.section, published, paragraphs, target)
    return Story(path=path, title=title, published=published, summary=summary, html=html)


def _body(rng: random.Random, topic: Topic, place: str) -> list[tuple[str, str]]:
    """(tag, text) blocks of 600-900 words: paragraphs with a few sub-headings."""
    target_words = rng.randrange(600, 900)
    blocks: list[tuple[str, str]] = []
    words = 0
    while words < target_words:
        if blocks and rng.random() < 0.12:
            blocks.append(("h2", _sentence(rng, topic, place, rng.choice(TEMPLATES[:2])).rstrip(".")[:60]))
        text = " ".join(_sentence(rng, topic, place, rng.choice(TEMPLATES)) for _ in range(rng.randrange(2, 5)))
        blocks.append(("p", text))
        words += len(text.split())
    return blocks


def _sentence(rng: random.Random, topic: Topic, place: str, template: str) -> str:
    subject, actor = rng.choice(topic.subjects), rng.choice(topic.actors)
    return template.format(
        subject=subject,
        Subject=subject[0].upper() + subject[1:],
        actor=actor,
        Actor=actor[0].upper() + actor[1:],
        object=rng.choice(topic.objects),
        verb=rng.choice(topic.verbs),
        place=rng.choice((place, *PLACES[:4])),
        weekday=rng.choice(WEEKDAYS),
        reason=rng.choice(REASONS),
        Connective=rng.choice(CONNECTIVES),
        year=rng.randrange(2015, 2026),
        pct=rng.randrange(3, 60),
        amount=rng.randrange(5, 900),
    )


def _page(
    rng: random.Random,
    path: str,
    title: str,
    summary: str,
    author: str,
    section: str,
    published: datetime,
    paragraphs: Sequence[tuple[str, str]],
    target: int,
) -> str:
    """The whole HTML page, padded with clutter cards and a state script to about ``target`` bytes."""
    url = "{base}" + path
    head = _head(rng, url, title, summary, author, section, published)
    body = "".join(f"<{tag}>{escape(text)}</{tag}>\n" for tag, text in paragraphs)
    article = (
        f'<article class="node node--type-article" data-history-node-id="{rng.randrange(10**6)}">\n'
        f'<div class="section-name"><a href="{{base}}/{section}">{section.title()}</a></div>\n'
        f'<h1 class="headline">{escape(title)}</h1>\n'
        f'<div class="author-section"><span class="author-name"><a href="{{base}}/author/'
        f'{author.lower().replace(" ", "-")}">{author}</a></span> <time class="published" '
        f'datetime="{published.isoformat()}">{published:%d %B %Y, %H:%M}</time></div>\n'
        f'{_share(url)}<div class="related-news"><h2 class="block-title">Related News</h2>'
        f"{''.join(_card(rng, 'related-card') for _ in range(3))}</div>\n"
        f'<div class="section-content">\n{body}{_ad("inarticle")}</div>\n{_tags(rng)}{_share(url)}'
        f"{_comments()}</article>\n"
    )
    top = (
        f'<div class="top-bar"><span class="today-date">{published:%A, %d %B %Y}</span>'
        f"{_links(('E-paper', 'Archive', 'Advertise', 'Sign in'))}</div>\n{_header()}{_ticker()}"
        f'{_ad("leaderboard")}<main id="main-content"><div class="container"><div class="row">'
        f'<div class="col-md-8 main-column">\n{article}'
    )
    sidebar = (
        f'</div><aside class="col-md-4 sidebar">{_ad("mpu-1")}{_most_read(rng)}{_newsletter()}'
        f"{_latest(rng)}{_ad('mpu-2')}</aside></div></div></main>\n{_footer()}{_scripts()}"
    )
    cards: list[str] = []
    size = _served_size(head + top + sidebar)
    while size < target * 0.85:  # most of the weight is markup, as on real pages
        cards.append(_card(rng, "more-card"))
        size += _served_size(cards[-1])
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n{head}<body class="page-node-type-article">\n{top}'
        f'<section class="more-stories"><h2 class="block-title">More from {section.title()}</h2>'
        f"{''.join(cards)}</section>\n{sidebar}"
    )
    return f"{page}{_state(rng, target - _served_size(page) - 60)}</body>\n</html>\n"


def _served_size(html: str) -> int:
    """Bytes of ``html`` once served, with "{base}" replaced by a local site's base URL."""
    return len(html.encode("utf-8")) + html.count("{base}") * (len(SERVED_BASE) - len("{base}"))


def _head(
    rng: random.Random, url: str, title: str, summary: str, author: str, section: str, published: datetime
) -> str:
    modified = published + timedelta(minutes=rng.randrange(5, 90))
    description = escape(summary, quote=True)
    metas = "".join(
        f'<meta property="{k}" content="{escape(v, quote=True)}">\n'
        for k, v in (
            ("og:site_name", SITE_NAME),
            ("og:type", "article"),
            ("og:url", url),
            ("og:title", title),
            ("og:description", summary),
            ("og:image", "{base}/images/" + str(rng.randrange(10**6)) + ".jpg"),
            ("article:section", section.title()),
            ("article:published_time", published.isoformat()),
            ("article:modified_time", modified.isoformat()),
            ("twitter:card", "summary_large_image"),
            ("twitter:title", title),
            ("twitter:description", summary),
        )
    )
    jsonld = json.dumps(
        {
            "@context": "https://schema.org",
            "@graph": [
                {
                    "@type": "NewsArticle",
                    "mainEntityOfPage": {"@type": "WebPage", "@id": url},
                    "headline": title,
                    "description": summary,
                    "datePublished": published.isoformat(),
                    "dateModified": modified.isoformat(),
                    "author": {"@type": "Person", "name": author},
                    "articleSection": section.title(),
                    "inLanguage": "en",
                    "publisher": {
                        "@type": "NewsMediaOrganization",
                        "name": SITE_NAME,
                        "logo": {"@type": "ImageObject", "url": "{base}/logo.png"},
                    },
                },
                {
                    "@type": "BreadcrumbList",
                    "itemListElement": [
                        {"@type": "ListItem", "position": 1, "name": "Home", "item": "{base}/"},
                        {"@type": "ListItem", "position": 2, "name": section.title(), "item": "{base}/" + section},
                    ],
                },
            ],
        },
        indent=2,
    )
    css = "".join(
        CSS_RULE.format(
            name=f"c{i}-{rng.randrange(10**4)}",
            display=rng.choice(("block", "flex")),
            m=rng.randrange(20),
            p=rng.randrange(20),
            c=rng.randrange(2**24),
            f=rng.randrange(11, 22),
        )
        for i in range(90)
    )
    return (
        f'<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{escape(title)} | {SITE_NAME}</title>\n<meta name="description" content="{description}">\n'
        f'<meta name="author" content="{author}">\n<link rel="canonical" href="{url}">\n{metas}'
        f'<script type="application/ld+json">\n{jsonld}\n</script>\n'
        f'<link rel="stylesheet" href="{{base}}/themes/bench/css/style.css?v=3">\n<style>\n{css}</style>\n'
        "<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}"
        " gtag('js', new Date()); gtag('config', 'G-BENCH0000', {'anonymize_ip': true});</script>\n</head>\n"
    )


def _links(names: Sequence[str], prefix: str = "") -> str:
    return "".join(f'<a href="{{base}}/{prefix}{name.lower().replace(" ", "-")}">{name}</a> ' for name in names)


def _items(items: Sequence[str], menu: str) -> str:
    return "".join(f"<li>{_links((item,), menu.lower() + '/')}</li>" for item in items)


def _header() -> str:
    menu = "".join(
        f'<li class="menu-item menu-item--expanded"><a href="{{base}}/{name.lower()}">{name}</a>'
        f'<ul class="dropdown">{_items(items, name)}</ul></li>'
        for name, items in MENU.items()
    )
    return (
        f'<header class="site-header"><div class="site-logo"><a href="{{base}}/" rel="home">'
        f'<img src="{{base}}/logo.svg" alt="{SITE_NAME}"></a></div><form class="search-form" '
        f'action="{{base}}/search"><input type="search" name="q" placeholder="Search"><button>Search</button>'
        f'</form></header>\n<nav class="main-menu" aria-label="Main navigation"><ul class="menu">{menu}</ul>'
        "</nav>\n"
    )


def _ticker() -> str:
    items = "".join(f'<li><a href="{{base}}/ticker/{i}">{escape(text)}</a></li>' for i, text in enumerate(TICKER))
    return (
        f'<div class="breaking-news ticker-wrap"><span class="label">Breaking</span>'
        f'<ul class="ticker-list">{items}</ul></div>\n'
    )


def _ad(slot: str) -> str:
    return (
        f'<div class="ad-slot" id="div-gpt-ad-{slot}"><span class="ad-label">Advertisement</span>'
        f"<script>googletag.cmd.push(function() {{ googletag.display('div-gpt-ad-{slot}'); }});</script></div>\n"
    )


def _card(rng: random.Random, kind: str) -> str:
    headline = escape(rng.choice(CLUTTER_HEADLINES))
    link = f"{{base}}/{rng.choice(('world', 'economy', 'sports', 'features'))}/{rng.randrange(10**6)}"
    return (
        f'<div class="{kind} card"><div class="card-image"><a href="{link}"><img loading="lazy" '
        f'src="{{base}}/images/thumb/{rng.randrange(10**6)}.jpg" alt="{headline}"></a></div>'
        f'<div class="card-content"><div class="card-section">{rng.choice(list(MENU))}</div>'
        f'<h3 class="card-title"><a href="{link}">{headline}</a></h3>'
        f'<div class="card-time">{rng.randrange(1, 23)}h</div></div></div>\n'
    )


def _share(url: str) -> str:
    return (
        '<div class="social-share">'
        + "".join(
            f'<a class="share-{n.lower()}" href="https://share.example/{n.lower()}?u={url}">Share on {n}</a>'
            for n in ("Facebook", "Twitter", "LinkedIn", "WhatsApp", "Email")
        )
        + "</div>\n"
    )


def _tags(rng: random.Random) -> str:
    tags = rng.sample(("NATO", "Ukraine", "Sanctions", "Economy", "Climate", "Top News", "Dhaka"), 4)
    return f'<div class="tags topic-tags">{_links(tags, "topics/")}</div>\n'


def _comments() -> str:
    return (
        '<section class="comments-section" id="comments"><h2 class="block-title">Comments</h2>'
        '<div class="comment-policy"><p>While most comments will be posted if they are on-topic and not abusive, '
        "moderation decisions are subjective. Published comments are readers' own views and "
        f"{SITE_NAME} does not endorse any of the readers' comments. Comments about NATO, Ukraine, sanctions "
        "or any armed conflict are moderated before they appear.</p></div>"
        '<form class="comment-form" action="{base}/comment" method="post"><p class="comment-notes">Your email '
        'address will not be published.</p><textarea name="comment"></textarea><input name="author">'
        '<input name="email"><button type="submit">Post Comment</button></form></section>\n'
    )


def _most_read(rng: random.Random) -> str:
    items = "".join(
        f'<li class="most-read-item"><span class="number">{i}</span><h4><a href="{{base}}/read/{i}">'
        f"{escape(rng.choice(CLUTTER_HEADLINES))}</a></h4></li>"
        for i in range(1, 11)
    )
    return f'<div class="most-read"><h2 class="block-title">Most Read</h2><ol>{items}</ol></div>\n'


def _latest(rng: random.Random) -> str:
    items = "".join(
        f'<li><a href="{{base}}/latest/{i}">{escape(rng.choice(CLUTTER_HEADLINES))}</a> '
        f'<span class="time-ago">{i}h</span></li>'
        for i in range(1, 13)
    )
    return f'<div class="latest-news"><h2 class="block-title">Latest News</h2><ul>{items}</ul></div>\n'


def _newsletter() -> str:
    return (
        '<div class="newsletter-box"><h3 class="block-title">The Morning Briefing</h3><p>Get the day\'s top '
        "stories, from the war in Ukraine to the markets, in one email every morning. It's free.</p>"
        '<form action="{base}/newsletter"><input type="email" name="email"><button>Sign up</button></form></div>\n'
    )


def _footer() -> str:
    columns = "".join(
        f'<div class="footer-col"><h4>{name}</h4><ul>{_items(items, name)}</ul></div>' for name, items in MENU.items()
    )
    return (
        f'<footer class="site-footer"><div class="footer-columns">{columns}</div><div class="footer-bottom">'
        f"<p>Published by Bench Media Ltd, 12 Kawran Bazar, Dhaka 1215.</p>"
        f"{_links(('Terms', 'Privacy Policy', 'Cookie Policy', 'RSS', 'Sitemap'))}"
        f"<p>© 2026 {SITE_NAME}. All rights reserved.</p></div></footer>\n"
    )


def _scripts() -> str:
    return (
        '<script src="{base}/themes/bench/js/jquery.min.js"></script>\n'
        "<script>(function () { var banner = document.getElementById('cookie-consent');"
        " if (banner && document.cookie.indexOf('consent=1') !== -1) { banner.hidden = true; } })();</script>\n"
    )


def _state(rng: random.Random, size: int) -> str:
    """A preloaded-state script of about ``size`` bytes, as single-page-app news sites embed."""
    entries: list[dict[str, object]] = []
    used = len("<script>window.__PRELOADED_STATE__ = {'stories': []};</script>")
    while used < size:
        entry = {
            "id": rng.randrange(10**8),
            "headline": rng.choice(CLUTTER_HEADLINES),
            "url": f"/{rng.choice(list(MENU)).lower()}/{rng.randrange(10**6)}",
            "image": {"src": f"/images/{rng.randrange(10**6)}.jpg", "width": 640, "height": 360},
            "section": rng.choice(list(MENU)),
            "ageHours": rng.randrange(1, 48),
        }
        entries.append(entry)
        used += len(json.dumps(entry)) + 2
    if not entries:
        return ""
    return f"<script>window.__PRELOADED_STATE__ = {json.dumps({'stories': entries})};</script>\n"
