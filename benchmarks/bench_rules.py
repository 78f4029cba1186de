"""Rules engine speed: 2,000 article texts scored with 4, 100, 1,000 and 10,000 rules, in one run.

The articles are generated (seeded) news stories of about 700 words, each put into a
copy of a demo page (``monitor/demo/pages/ledger/world/nato-offers-arms-talks.html``:
meta tags, menus, related stories, sidebars, comments, footer) and extracted with
``monitor.extract.article.extract_article``; the extracted articles are what is scored, so
extraction and scoring see the same 2,000 articles.

The rule sets mix what analysts write: names and phrases (``terms:``), boolean
queries with brackets and NOT, proximity (NEAR/ONEAR), prefixes, inflections,
case-sensitive acronyms and field restrictions. The 4-rule set is the project's
shipped ``rules.yaml``. For each size the benchmark prints articles/s, the time per
article, the ratio to the 4-rule case, the speed-up over a plain loop of one
compiled regular expression per term (``findall`` over title and body, no boolean
logic at all, so the loop is favoured), and the share of the extraction time.

The demo page is a light one (52 KB, one template), so the same rule sets also score
two realistic page sets, each page extracted with ``extract_article`` and the article
scored, extraction and scoring timed separately: the real pages of the Readability.js
test corpus that ``bench_extraction.py`` selects (``--corpus``), and ``--sitegen-pages``
60-120 KB news pages from ``sitegen.py``. For each size it prints the scoring time per
article and its share of the extraction time on each set (``--no-realistic`` skips them).

Times are CPU time of this process (``time.process_time``), the fastest of
``--repeat`` runs, so other jobs on a shared machine skew them less. The regex loop is
slow at 10,000 rules, so it runs on the first ``--regex-articles`` articles and its
time per article is extrapolated linearly to all of them (each article costs the same
loop). It measures and prints; it asserts nothing. Usage::

    python benchmarks/bench_rules.py [--articles 2000] [--regex-articles 20] [--repeat 3] [--markdown]
        [--corpus PATH] [--sitegen-pages 200] [--no-realistic]
"""

from __future__ import annotations

import argparse
import html
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # noqa: E402 - benchmarks/machine.py, beside this script

from monitor.config import load_config  # noqa: E402
from monitor.errors import ExtractionError  # noqa: E402
from monitor.extract import extract_article  # noqa: E402
from monitor.models import Article  # noqa: E402
from monitor.rules import (  # noqa: E402
    RuleSet,
    RuleSpec,
    compile_rules,
    definition,
    score_article,
)
from monitor.rules.engine import terms_of  # noqa: E402

SIZES = (4, 100, 1_000, 10_000)
TEMPLATE = ROOT / "monitor/demo/pages/ledger/world/nato-offers-arms-talks.html"
TEMPLATE_TITLE = "NATO offers arms talks with Russia to avert 'real risk' of conflict"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _names(
    "Amara Bogdan Carmen Dmitri Elena Farid Grace Hiroshi Ingrid Jonas Kemal Lucia Mateo Nadia Oskar Priya Rafael"
    " Sofia Tomasz Ursula Viktor Wanjiru Xavier Yasmin Zoltan Aisha Bruno Chloe Dario Emeka Fatima Gustav Hana"
    " Ilya Jamal Kofi Leila Marek Noor Olga Pablo Rania Stefan Tariq Uma Vera Wei Yusuf Zara Anders Beatriz"
)
_ONSETS = _names("Bal Cor Dem Fen Gal Har Ilk Jor Kas Lom Mar Nor Ost Pel Quin Ros Sal Tor Ul Van Wes Yar Zel Ad Bren")
# Surnames and firm names built from syllables: news has thousands of them, each in few stories.
LAST = tuple(
    onset + ending
    for onset in (*_ONSETS, "Cal", "Dor", "El", "Fal", "Gor")
    for ending in _names("ov ski ez son er ini escu ic ard berg ley man ova sen idis oglu ani enko ton ier")
)
ORG_STEMS = tuple(
    onset + ending for onset in _ONSETS for ending in _names("brook field gate ford stone wood ridge vale mere haven")
)
ORG_KINDS = _names("Shipping Holdings Bank Energy Airlines Telecom Motors Foundation Institute Party Union Mining")
PLACES = _names(
    "Brussels Kyiv Warsaw Vilnius Ankara Tbilisi Nairobi Lagos Dhaka Jakarta Manila Lima Bogota Santiago Accra"
    " Hanoi Tunis Amman Baku Yerevan Riga Tallinn Helsinki Oslo Geneva Vienna Prague Budapest Bucharest Sofia"
    " Belgrade Sarajevo Skopje Tirana Chisinau Minsk Almaty Tashkent Karachi Colombo"
)
TOPICS = {
    "sanctions": ("sanctions", "embargo", "asset freeze", "export controls", "blacklist", "sanction", "penalty"),
    "trade": ("tariffs", "trade deal", "import duties", "quota", "tariff", "customs union", "dumping"),
    "conflict": ("ceasefire", "armed conflict", "shelling", "offensive", "troops", "invasion", "hostilities"),
    "election": ("election", "ballot", "runoff", "turnout", "candidate", "coalition", "recount"),
    "energy": ("pipeline", "gas supply", "oil price", "refinery", "power grid", "blackout", "subsidy"),
    "health": ("outbreak", "vaccine", "hospital", "cholera", "quarantine", "clinic", "epidemic"),
    "climate": ("flood", "drought", "heatwave", "emissions", "cyclone", "wildfire", "rainfall"),
    "markets": ("merger", "shares", "bond yields", "inflation", "interest rates", "earnings", "takeover"),
}
VERBS = ("approve", "delay", "review", "expand", "suspend", "finance", "reject", "extend", "support", "challenge")
VERBS_PAST = ("approved", "delayed", "reviewed", "expanded", "suspended", "criticised", "rejected", "welcomed")
OBJECTS = (
    "the new budget",
    "a regional agreement",
    "the proposed reforms",
    "emergency funding",
    "the border crossing",
    "a joint investigation",
    "the licensing rules",
    "the port expansion",
    "a debt restructuring",
    "the aid package",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WHEN = ("this year", "next month", "by the end of the quarter", "within weeks", "last week", "in the coming days")
GROUPS = ("farmers", "exporters", "small businesses", "families", "investors", "workers", "students", "pensioners")
SENTENCES = (
    "{person} said on {day} that {org} would {verb} {object} in {place}.",
    "The {topic} comes as {org} faces questions over {object}.",
    "According to {org}, {number} people were affected in {place} {when}.",
    '"We will not {verb} {object} under pressure," {last} told reporters in {place}.',
    "Officials in {place} {verb_past} the plan after talks about {topic} with {org}.",
    "Analysts at {org} expect the {topic} to weigh on {group} {when}.",
    "{person}, who leads {org}, {verb_past} a proposal to {verb} {object}.",
    "Critics say the {topic} could hurt {group} in {place} and beyond.",
    "Talks between {org} and officials from {place} are expected to resume {when}.",
    "{last} said the {topic} had been discussed with partners in {place} and {place2}.",
    "The decision follows months of debate over {object} and the {topic}.",
    "Representatives of {group} said they had not been consulted about {object}.",
)


@dataclass
class Story:
    title: str
    paragraphs: list[str]


def generate_story(rng: random.Random, words: int = 700) -> Story:
    """A news story of about ``words`` words, about one topic and a handful of people, places and firms."""
    topic = rng.choice(list(TOPICS))
    people = [(rng.choice(FIRST), rng.choice(LAST)) for _ in range(3)]
    orgs = [f"{rng.choice(ORG_STEMS)} {rng.choice(ORG_KINDS)}" for _ in range(2)]
    places = rng.sample(PLACES, 3)

    def fill(template: str) -> str:
        first, last = rng.choice(people)
        return template.format(
            person=f"{first} {last}",
            last=last,
            org=rng.choice(orgs),
            place=places[0] if rng.random() < 0.5 else rng.choice(places),
            place2=rng.choice(places),
            day=rng.choice(DAYS),
            verb=rng.choice(VERBS),
            verb_past=rng.choice(VERBS_PAST),
            object=rng.choice(OBJECTS),
            topic=rng.choice(TOPICS[topic]),
            number=rng.randint(2, 900),
            when=rng.choice(WHEN),
            group=rng.choice(GROUPS),
        )

    title = fill(rng.choice(SENTENCES[:2] + SENTENCES[4:5])).rstrip(".")
    paragraphs: list[str] = []
    count = 0
    while count < words:
        paragraph = " ".join(fill(rng.choice(SENTENCES)) for _ in range(rng.randint(2, 4)))
        paragraphs.append(paragraph)
        count += len(paragraph.split())
    return Story(title[0].upper() + title[1:], paragraphs)


def build_page(template: str, story: Story, number: int) -> str:
    """The demo page with its headline and article paragraphs replaced by ``story``."""
    start = template.index("<p>NATO said on Wednesday")
    end = template.index("</p>", template.index('red lines" now to protect itself.')) + len("</p>")
    body = "\n".join(f"            <p>{html.escape(p, quote=False)}</p>" for p in story.paragraphs)
    page = template[:start] + body.lstrip() + template[end:]
    page = page.replace(TEMPLATE_TITLE, html.escape(story.title, quote=False))
    return page.replace("{base}", "https://ledger.example").replace("356431", str(400000 + number))


def generate_rules(rng: random.Random, count: int) -> list[RuleSpec]:
    """``count`` rules mixing terms, phrases, boolean, proximity, prefix, inflection, case and field rules."""
    rules: list[RuleSpec] = []
    topic_words = [word for words in TOPICS.values() for word in words]
    for index in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        org = f"{rng.choice(ORG_STEMS)} {rng.choice(ORG_KINDS)}"
        place, topic = rng.choice(PLACES), rng.choice(topic_words)
        other = rng.choice(topic_words)
        kind = index % 10
        if kind in (0, 1):  # a person, as analysts write one
            spec = RuleSpec(f"r{index}", (f"{first} {last}", f"{last}'s {rng.choice(('plan', 'party', 'office'))}"))
        elif kind == 2:  # an organisation and its short name
            spec = RuleSpec(f"r{index}", (org, f"{org.split()[0]} group"))
        elif kind == 3:  # a place and a topic: as a phrase, or the place in the headline
            spec = RuleSpec(f"r{index}", (), query=f'"{place} {topic}" OR (title:{place} AND "{topic}")')
        elif kind == 4:  # boolean with brackets and a veto
            spec = RuleSpec(
                f"r{index}", (), query=f'"{org}" AND ("{topic}" OR "{other}") AND NOT "{rng.choice(GROUPS)}"'
            )
        elif kind == 5:  # proximity, unordered, with inflections
            base = topic.split()[-1].rstrip("s")
            spec = RuleSpec(f"r{index}", (), query=f"{last} NEAR/8 {base}~")
        elif kind == 6:  # ordered proximity with a prefix
            spec = RuleSpec(f"r{index}", (), query=f'"{org}" ONEAR/12 {rng.choice(VERBS)[:4]}*')
        elif kind == 7:  # field restriction and a case-sensitive acronym
            acronym = "".join(word[0] for word in org.split()).upper() + rng.choice("ABCDEFGHJK")
            spec = RuleSpec(f"r{index}", (), query=f'title:{place} AND (="{acronym}" OR "{topic}")')
        elif kind == 8:  # a firm or a person, and any of several topic words
            topics = " OR ".join(f'"{word}"' for word in rng.sample(topic_words, 4))
            spec = RuleSpec(f"r{index}", (), query=f'("{org}" OR "{first} {last}") AND ({topics})')
        else:  # a person near a place, or the person's title
            spec = RuleSpec(f"r{index}", (), query=f'("{first} {last}" OR "minister {last}") NEAR/15 {place}')
        rules.append(spec)
    return rules


def regex_loop(specs: list[RuleSpec]) -> list[re.Pattern[str]]:
    """One compiled regular expression per term of every rule: what a naive engine would run."""
    patterns: list[re.Pattern[str]] = []
    for spec in specs:
        condition, vetoes = definition(spec)
        for term in terms_of(condition) + [t for veto in vetoes for t in terms_of(veto)]:
            body = r"\W+".join(re.escape(word) for word in term.words)
            tail = r"\w*" if term.prefix or term.inflect else ""
            flags = 0 if term.case_sensitive else re.IGNORECASE
            patterns.append(re.compile(rf"(?<!\w){body}{tail}(?!\w)", flags))
    return patterns


def score_all(ruleset: RuleSet, articles: list[Article]) -> None:
    """What the crawl does per article: score it with every rule, the recency gate included."""
    for article in articles:
        score_article(ruleset, article, threshold=3.0, now=NOW)


def regex_all(patterns: list[re.Pattern[str]], articles: list[Article]) -> None:
    """The naive engine: every term's regular expression over every article's title and body."""
    for article in articles:
        for pattern in patterns:
            pattern.findall(article.title)
            pattern.findall(article.text)


@dataclass
class PageSet:
    """Realistic pages, the articles extracted from them, and the CPU time extracting one costs."""

    name: str
    pages: int
    articles: list[Article]
    extract_each: float  # seconds per article; pages without an article are left out of it
    kilobytes: float  # mean size of the pages that gave an article


def page_set(name: str, pages: list[tuple[str, str]], repeat: int) -> PageSet:
    """Extract every (html, url) page, then time extracting the ones that have an article."""
    kept: list[tuple[str, str]] = []
    articles: list[Article] = []
    for page, url in pages:
        try:
            articles.append(extract_article(page, url, source=f"bench-{name}"))
        except ExtractionError:
            continue
        kept.append((page, url))
    extract_each = best_of(
        max(1, repeat - 1), lambda: [extract_article(page, url, source=f"bench-{name}") for page, url in kept]
    ) / len(kept)
    kilobytes = sum(len(page.encode()) for page, _ in kept) / len(kept) / 1024
    return PageSet(name, len(pages), articles, extract_each, kilobytes)


def corpus_pages(corpus: Path) -> list[tuple[str, str]]:
    """The real pages of the Readability.js test corpus, as ``bench_extraction.py`` selects and addresses them."""
    from bench_extraction import PAGE_URL, is_synthetic

    folders = sorted(p for p in corpus.iterdir() if (p / "source.html").exists() and not is_synthetic(p))
    return [((folder / "source.html").read_text(encoding="utf-8"), PAGE_URL) for folder in folders]


def sitegen_pages(count: int) -> list[tuple[str, str]]:
    """``count`` generated 60-120 KB news pages, as a local site serves them."""
    from sitegen import SERVED_BASE, generate_stories

    return [(story.html.replace("{base}", SERVED_BASE), SERVED_BASE + story.path) for story in generate_stories(count)]


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The least CPU time of ``repeat`` runs: what the work costs when the machine lets it run."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--regex-articles", type=int, default=20, help="articles the regex loop runs on")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest counts")
    parser.add_argument("--markdown", action="store_true", help="also print the results as a Markdown table")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--corpus", type=Path, help="the Readability.js test pages (default: bench_extraction's)")
    parser.add_argument("--sitegen-pages", type=int, default=200, help="generated 60-120 KB pages to score")
    parser.add_argument("--no-realistic", action="store_true", help="only the demo-page articles")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    template = TEMPLATE.read_text(encoding="utf-8")
    pages = [build_page(template, generate_story(rng), n) for n in range(options.articles)]
    urls = [f"https://ledger.example/world/story-{n}.html" for n in range(len(pages))]
    articles = [_with_source(extract_article(page, url)) for page, url in zip(pages, urls, strict=True)]
    extract_each = best_of(
        max(1, options.repeat - 1), lambda: [extract_article(page, url) for page, url in zip(pages, urls, strict=True)]
    ) / len(pages)
    words = sum(len(a.text.split()) for a in articles) / len(articles)
    page_kb = sum(len(p.encode()) for p in pages) / len(pages) / 1024

    sets: list[PageSet] = []
    if not options.no_realistic:
        from bench_extraction import CORPUS

        corpus = options.corpus or CORPUS
        if corpus.is_dir():
            sets.append(page_set("corpus", corpus_pages(corpus), options.repeat))
        else:
            print(f"{corpus}: no such directory, the real pages are left out", file=sys.stderr)
        if options.sitegen_pages:
            sets.append(page_set("sitegen", sitegen_pages(options.sitegen_pages), options.repeat))

    shipped = list(load_config(ROOT / "rules.yaml", env={}).rules)
    rows = []
    realistic: list[list[tuple[float, float]]] = []  # per size, per page set: seconds per article, matches
    for size in SIZES:
        specs = shipped if size == 4 else shipped + generate_rules(random.Random(size), size - len(shipped))
        started = time.process_time()
        ruleset = compile_rules(specs)
        compile_seconds = time.process_time() - started
        matched = _matches(ruleset, articles)
        engine_each = best_of(options.repeat, partial(score_all, ruleset, articles)) / len(articles)
        patterns = regex_loop(specs)
        subset = articles[: options.regex_articles]
        regex_each = best_of(1, partial(regex_all, patterns, subset))
        rows.append((size, len(patterns), compile_seconds, engine_each, matched, regex_each / len(subset)))
        realistic.append([_scored(ruleset, s.articles, options.repeat) for s in sets])

    print(f"rules engine benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, load average {_load()}")
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"{len(articles)} articles, {words:.0f} words of text each on average, pages {page_kb:.0f} KB")
    print(f"CPU time per article (time.process_time), the fastest of {options.repeat} runs")
    print(f"extraction (extract_article): {extract_each * 1000:.2f} ms per article, {1 / extract_each:,.0f} articles/s")
    print(f"regex loop timed on {options.regex_articles} articles and extrapolated linearly")
    header = (
        f"{'rules':>6} {'terms':>7} {'compile':>8} {'articles/s':>11} {'µs/article':>11} {'vs 4 rules':>10}"
        f" {'matches/article':>15} {'regex loop ms/article':>22} {'speed-up':>9} {'of extraction':>13}"
    )
    print(header)
    base = rows[0][3]
    for size, terms, compile_seconds, each, matches, regex_each in rows:
        print(
            f"{size:>6} {terms:>7} {compile_seconds:>7.2f}s {1 / each:>11,.0f} {each * 1e6:>11.1f} {each / base:>9.2f}×"
            f" {matches:>15.1f} {regex_each * 1000:>22.1f} {regex_each / each:>8,.0f}× {each / extract_each:>12.2%}"
        )
    if options.markdown:
        print(
            "\n| rules | terms | compile | articles/s | µs per article | vs 4 rules | matches per article |"
            " regex loop, ms per article | speed-up over the regex loop | share of extraction time |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for size, terms, compile_seconds, each, matches, regex_each in rows:
            print(
                f"| {size:,} | {terms:,} | {compile_seconds:.2f} s | {1 / each:,.0f} | {each * 1e6:.0f} |"
                f" {each / base:.2f}× | {matches:.1f} | {regex_each * 1000:,.1f} | {regex_each / each:,.0f}× |"
                f" {each / extract_each:.2%} |"
            )
    if sets:
        _print_realistic(options, rows, extract_each, sets, realistic)


def _print_realistic(
    options: argparse.Namespace,
    rows: list[tuple[int, int, float, float, float, float]],
    extract_each: float,
    sets: list[PageSet],
    realistic: list[list[tuple[float, float]]],
) -> None:
    """Scoring time per article and its share of extraction, on the demo-page articles and each realistic set."""
    print("\nrealistic pages: each page extracted with extract_article and its article scored, timed separately")
    for s in sets:
        print(
            f"{s.name}: {s.pages} pages, {len(s.articles)} with an article, {s.kilobytes:.0f} KB on average,"
            f" extraction {s.extract_each * 1000:.2f} ms per article"
        )
    header = f"{'rules':>6} {'demo µs/article':>16} {'of extraction':>13}"
    for s in sets:
        header += f" {s.name + ' µs/article':>19} {'matches':>7} {'of extraction':>13}"
    print(header)
    for row, found in zip(rows, realistic, strict=True):
        line = f"{row[0]:>6} {row[3] * 1e6:>16.1f} {row[3] / extract_each:>13.2%}"
        for s, (each, matches) in zip(sets, found, strict=True):
            line += f" {each * 1e6:>19.1f} {matches:>7.1f} {each / s.extract_each:>13.2%}"
        print(line)
    if options.markdown:
        names = " | ".join(
            f"{s.name}: µs per article | {s.name}: matches per article | {s.name}: share of extraction" for s in sets
        )
        print(f"\n| rules | demo: µs per article | demo: share of extraction | {names} |")
        print("| ---: " * (3 + 3 * len(sets)) + "|")
        for row, found in zip(rows, realistic, strict=True):
            cells = " | ".join(
                f"{each * 1e6:.0f} | {matches:.1f} | {each / s.extract_each:.2%}"
                for s, (each, matches) in zip(sets, found, strict=True)
            )
            print(f"| {row[0]:,} | {row[3] * 1e6:.0f} | {row[3] / extract_each:.2%} | {cells} |")


def _scored(ruleset: RuleSet, articles: list[Article], repeat: int) -> tuple[float, float]:
    """Seconds of CPU per article scored, and rules matched per article."""
    return best_of(repeat, partial(score_all, ruleset, articles)) / len(articles), _matches(ruleset, articles)


def _matches(ruleset: RuleSet, articles: list[Article]) -> float:
    """Rules matched (vetoed ones included) per article."""
    verdicts = [score_article(ruleset, article, threshold=3.0, now=NOW) for article in articles]
    return sum(len(v.matches) + len(v.vetoed) for v in verdicts) / len(articles)


def _load() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _with_source(article: Article) -> Article:
    article.source = "bench-ledger"
    return article


if __name__ == "__main__":
    main()
