"""Extraction quality on two development corpora: the monitor's extractor beside trafilatura and htmldate.

Corpora (both development sets; read their READMEs):

* ``readability``: ``../shared/corpora/readability-test-pages``, Mozilla Readability's test pages
  with its reviewed output (the 85 real pages; ``--all`` adds the synthetic unit-test ones);
* ``wcxb``: ``../shared/corpora/wcxb-dev-articles``, 793 article pages of the WCXB benchmark's
  dev split (CC-BY-4.0, Murrough Foley) with reviewed title, author, date and main text.

On every page, in the same process, it runs

* ``monitor``: ``monitor.extract.article.extract_article``, what the crawl runs;
* ``traf-precise``: ``trafilatura.bare_extraction(favor_precision=True, with_metadata=True)``;
* ``traf-default``: ``trafilatura.bare_extraction(with_metadata=True)``;
* ``htmldate``: ``htmldate.find_date(extensive_search=True, original_date=True)`` (dates only);

and scores

* body: precision, recall and F1 of token 4-grams (multiset overlap), averaged over pages; a page
  that yields nothing scores 0 recall and F1 and is left out of precision;
* title: exact match after Unicode, case, quote, dash and whitespace normalisation;
* author: token F1 of the names found against the reference byline, over pages that have one;
* date: the ``YYYY-MM-DD`` of the publication date (in the page's own offset) against the
  reference: right, missing, wrong (of which one day off); on pages with no reference date,
  "spurious" counts pages where a date was given anyway; "published or updated" counts pages
  where the reference is either date the configuration found (WCXB's reviewers often took
  the visible "Updated …" date, which the monitor keeps apart as ``Article.updated``);
* lost: pages the configuration raised on (no article at all);
* time: milliseconds of wall-clock time per page, parsing included.

It measures and prints; it asserts nothing. Usage::

    python benchmarks/bench_extraction.py [--corpus readability|wcxb ...] [--all] [--per-page]
        [--json] [--dump FILE] [--only CONFIG ...] [PAGE ...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from importlib import metadata
from pathlib import Path

import htmldate
import lxml.html
import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # noqa: E402 - benchmarks/machine.py, beside this script

from monitor.errors import ExtractionError  # noqa: E402
from monitor.extract import extract_article  # noqa: E402

CORPORA = {
    "readability": ROOT.parent / "shared" / "corpora" / "readability-test-pages",
    "wcxb": ROOT.parent / "shared" / "corpora" / "wcxb-dev-articles",
}
PAGE_URL = "http://fakehost/test/page.html"  # the URL Readability's own tests use
NGRAM = 4
SMALL_SYNTHETIC_BYTES = 5000
# Unit-test pages named by the Readability corpus README, plus lorem-ipsum ones; pages under 5 KB are added by size.
SYNTHETIC = re.compile(
    r"^(00[1-5]($|-)|base-url|basic-tags-cleaning|remove-|replace-|svg-parsing|normalize-spaces|ol$|hidden-nodes"
    r"|visibility-hidden|invalid-attributes|title-and-h1-discrepancy|title-en-dash|metadata-content-missing"
    r"|parsely-metadata|schema-org-context-object|data-url-image)"
)
# One token per CJK character (those scripts put no spaces between words), else runs of letters and digits.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_\u3040-\u30ff\u3400-\u9fff]+")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\xa0": " "})


@dataclass
class Page:
    """One corpus page and its reference."""

    name: str
    html: str
    url: str
    text: str
    title: str | None
    author: str | None
    date: str | None  # YYYY-MM-DD


@dataclass
class Extracted:
    """What one configuration found on one page."""

    text: str
    title: str | None
    authors: list[str]
    date: str | None  # YYYY-MM-DD
    ms: float
    lost: bool = False
    updated: str | None = None  # YYYY-MM-DD of the last update, when the configuration tells it apart
    has_body: bool = True  # False: htmldate, which only looks for dates


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    title_ok: bool | None  # None: the page has no expected title
    author_f1: float | None
    date: str  # "ok", "missing", "wrong", "off-by-one", "spurious", "undated" (none given, none expected)
    shown_ok: bool | None  # the reference date is the publication or the update date found
    extra: dict[str, object] = field(default_factory=dict)


def _trafilatura(html: str, url: str, *, precise: bool) -> Extracted:
    start = time.perf_counter()
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True, favor_precision=precise)
    ms = (time.perf_counter() - start) * 1000
    if document is None or isinstance(document, dict):
        return Extracted("", None, [], None, ms, lost=True)
    authors = [a.strip() for a in (document.author or "").split(";") if a.strip()]
    return Extracted(document.text or "", document.title, authors, (document.date or "")[:10] or None, ms)


def trafilatura_precise(html: str, url: str) -> Extracted:
    """trafilatura's precise mode with metadata: the reference for time per page."""
    return _trafilatura(html, url, precise=True)


def trafilatura_default(html: str, url: str) -> Extracted:
    """trafilatura's defaults, with metadata switched on."""
    return _trafilatura(html, url, precise=False)


def htmldate_extensive(html: str, url: str) -> Extracted:
    """htmldate's extensive search for the original (publication) date."""
    start = time.perf_counter()
    found = htmldate.find_date(html, url=url, extensive_search=True, original_date=True)
    return Extracted("", None, [], found or None, (time.perf_counter() - start) * 1000, has_body=False)


def monitor_extract(html: str, url: str) -> Extracted:
    """What the crawl runs."""
    start = time.perf_counter()
    try:
        article = extract_article(html, url)
    except ExtractionError:
        return Extracted("", None, [], None, (time.perf_counter() - start) * 1000, lost=True)
    ms = (time.perf_counter() - start) * 1000
    day = article.published.date().isoformat() if isinstance(article.published, datetime) else None
    updated = article.updated.date().isoformat() if isinstance(article.updated, datetime) else None
    return Extracted(article.text, article.title, list(article.authors), day, ms, updated=updated)


CONFIGURATIONS: dict[str, Callable[[str, str], Extracted]] = {
    "monitor": monitor_extract,
    "traf-precise": trafilatura_precise,
    "traf-default": trafilatura_default,
    "htmldate": htmldate_extensive,
}


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; CJK characters one by one."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def ngrams(words: list[str], n: int = NGRAM) -> Counter[tuple[str, ...]]:
    """The multiset of n-grams (shorter texts count as one gram)."""
    if len(words) < n:
        return Counter([tuple(words)]) if words else Counter()
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def overlap(found: str, expected: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the token 4-grams of ``found`` against ``expected``."""
    got, want = ngrams(tokens(found)), ngrams(tokens(expected))
    if not got or not want:
        return (0.0, 0.0, 0.0) if got or want else (1.0, 1.0, 1.0)
    common = sum((got & want).values())
    precision, recall = common / sum(got.values()), common / sum(want.values())
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def token_f1(found: str, expected: str) -> float:
    """F1 of the word tokens (multiset) of ``found`` against ``expected``."""
    got, want = Counter(tokens(found)), Counter(tokens(expected))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().split())


def same_title(found: str | None, expected: str) -> bool:
    return found is not None and _norm(found) == _norm(expected)


def date_verdict(found: str | None, expected: str | None) -> str:
    """How a found YYYY-MM-DD compares with the reference one."""
    if not expected:
        return "spurious" if found else "undated"
    if not found:
        return "missing"
    if found == expected:
        return "ok"
    try:
        days = abs((date.fromisoformat(found) - date.fromisoformat(expected)).days)
    except ValueError:
        return "wrong"
    return "off-by-one" if days == 1 else "wrong"


def score(found: Extracted, page: Page) -> Score:
    precision, recall, f1 = overlap(found.text, page.text)
    return Score(
        precision,
        recall,
        f1,
        same_title(found.title, page.title) if page.title else None,
        token_f1(" ".join(found.authors), page.author) if page.author else None,
        date_verdict(found.date, page.date),
        page.date in (found.date, found.updated) if page.date else None,
    )


def readability_pages(path: Path, include_synthetic: bool) -> Iterator[Page]:
    """The Readability.js test pages (real ones only unless ``include_synthetic``)."""
    for directory in sorted(p for p in path.iterdir() if (p / "source.html").exists()):
        synthetic = bool(SYNTHETIC.match(directory.name)) or (
            (directory / "source.html").stat().st_size < SMALL_SYNTHETIC_BYTES
        )
        if synthetic and not include_synthetic:
            continue
        expected = (directory / "expected.html").read_text(encoding="utf-8")
        meta = json.loads((directory / "expected-metadata.json").read_text(encoding="utf-8"))
        yield Page(
            directory.name,
            (directory / "source.html").read_text(encoding="utf-8"),
            PAGE_URL,
            str(lxml.html.fromstring(expected).text_content()) if expected.strip() else "",
            meta.get("title") or None,
            meta.get("byline") or None,
            str(meta["publishedTime"])[:10] if meta.get("publishedTime") else None,
        )


def wcxb_pages(path: Path) -> Iterator[Page]:
    """The WCXB dev-split article pages."""
    for truth_file in sorted((path / "ground-truth").glob("*.json")):
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        labels = truth["ground_truth"]
        raw = gzip.decompress((path / "html" / f"{truth_file.stem}.html.gz").read_bytes())
        yield Page(
            truth_file.stem,
            raw.decode("utf-8", errors="replace"),
            truth.get("url") or f"http://fakehost/{truth_file.stem}.html",  # one page has no URL
            labels.get("main_content") or "",
            labels.get("title") or None,
            labels.get("author") or None,
            (labels.get("publish_date") or "")[:10] or None,
        )


def summarise(scores: list[Score], extracted: list[Extracted]) -> dict[str, object]:
    """The aggregate figures of one configuration on one corpus."""
    verdicts = Counter(s.date for s in scores)
    dated = sum(verdicts[v] for v in ("ok", "missing", "wrong", "off-by-one"))
    undated = verdicts["spurious"] + verdicts["undated"]
    titles = [s.title_ok for s in scores if s.title_ok is not None]
    authors = [s.author_f1 for s in scores if s.author_f1 is not None]
    times = sorted(e.ms for e in extracted)
    with_output = [s for s, e in zip(scores, extracted, strict=True) if not e.lost and e.text.strip()]
    has_body = extracted[0].has_body if extracted else False
    return {
        "pages": len(scores),
        "lost": sum(e.lost for e in extracted),
        "empty_body": sum(not e.lost and not e.text.strip() for e in extracted) if has_body else None,
        "body_f1": round(statistics.fmean(s.f1 for s in scores), 3) if has_body else None,
        "body_precision": round(statistics.fmean(s.precision for s in with_output), 3) if with_output else None,
        "body_recall": round(statistics.fmean(s.recall for s in scores), 3) if has_body else None,
        "title_exact": round(sum(titles) / len(titles), 3) if titles and has_body else None,
        "author_f1": round(statistics.fmean(authors), 3) if authors and has_body else None,
        "date_accuracy": round(verdicts["ok"] / dated, 3) if dated else None,
        "date_ok": verdicts["ok"],
        "date_shown_ok": sum(bool(s.shown_ok) for s in scores),
        "date_dated": dated,
        "date_missing": verdicts["missing"],
        "date_wrong": verdicts["wrong"],
        "date_off_by_one": verdicts["off-by-one"],
        "date_spurious": verdicts["spurious"],
        "date_undated": undated,
        "ms_per_page_mean": round(statistics.fmean(times), 1),
        "ms_per_page_median": round(statistics.median(times), 1),
    }


def _cell(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def table(corpus: str, summary: dict[str, dict[str, object]]) -> str:
    """A Markdown table of the summaries of one corpus."""
    header = (
        "configuration | body F1 | precision | recall | empty body | lost | title exact | author F1"
        " | date | missing | wrong | of which ±1 day | spurious on undated | published or updated"
        " | ms/page mean (median)"
    )
    lines = [f"{corpus}:", "", f"| {header} |", "| --- |" + " ---: |" * (header.count("|") - 0)]
    for name, s in summary.items():
        date_cell = f"{_cell(s['date_accuracy'])} ({s['date_ok']}/{s['date_dated']})"
        wrong = int(str(s["date_wrong"])) + int(str(s["date_off_by_one"]))
        cells = [
            name,
            _cell(s["body_f1"]),
            _cell(s["body_precision"]),
            _cell(s["body_recall"]),
            _cell(s["empty_body"]),
            _cell(s["lost"]),
            _cell(s["title_exact"]),
            _cell(s["author_f1"]),
            date_cell,
            _cell(s["date_missing"]),
            str(wrong),
            _cell(s["date_off_by_one"]),
            f"{s['date_spurious']}/{s['date_undated']}",
            f"{s['date_shown_ok']}/{s['date_dated']}",
            f"{s['ms_per_page_mean']} ({s['ms_per_page_median']})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench_extraction.py", description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", help="only these pages (directory or file names)")
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="default: both")
    parser.add_argument("--only", action="append", choices=sorted(CONFIGURATIONS), help="default: all")
    parser.add_argument("--all", action="store_true", help="include Readability's synthetic unit-test pages")
    parser.add_argument("--per-page", action="store_true", help="print every page's scores")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--dump", type=Path, help="write every page's findings and scores to this JSON file")
    args = parser.parse_args(argv)
    configurations = {n: c for n, c in CONFIGURATIONS.items() if not args.only or n in args.only}
    corpora = args.corpus or sorted(CORPORA, reverse=True)

    warm = "<html><head><title>t</title></head><body><article><p>" + "word " * 80 + "</p></article></body></html>"
    for configuration in configurations.values():  # imports and caches warmed before timing
        configuration(warm, PAGE_URL)
    summaries: dict[str, dict[str, dict[str, object]]] = {}
    dump: list[dict[str, object]] = []
    for corpus in corpora:
        pages = readability_pages(CORPORA[corpus], args.all) if corpus == "readability" else wcxb_pages(CORPORA[corpus])
        results: dict[str, tuple[list[Score], list[Extracted]]] = {name: ([], []) for name in configurations}
        for page in pages:
            if args.pages and page.name not in args.pages:
                continue
            row = [f"{corpus}/{page.name}"]
            for name, configuration in configurations.items():
                found = configuration(page.html, page.url)
                result = score(found, page)
                results[name][0].append(result)
                results[name][1].append(found)
                row.append(
                    f"{name[:7]} F1 {result.f1:.2f} P {result.precision:.2f} t {_cell(result.title_ok)[:1]}"
                    f" a {_cell(result.author_f1)} d {result.date} {found.ms:4.0f}ms"
                )
                if args.dump:
                    dump.append(
                        {
                            "corpus": corpus,
                            "page": page.name,
                            "url": page.url,
                            "configuration": name,
                            "expected": {"title": page.title, "author": page.author, "date": page.date},
                            "found": {k: v for k, v in asdict(found).items() if k != "text"}
                            | {"chars": len(found.text)},
                            "score": asdict(result),
                        }
                    )
            if args.per_page:
                print(" | ".join(row))
        if results and results[next(iter(configurations))][0]:
            summaries[corpus] = {name: summarise(*results[name]) for name in configurations}

    environment = {
        "date": datetime.now().date().isoformat(),
        "machine": f"{cpu_model()}, {platform.machine()}, Python {platform.python_version()}",
        "trafilatura": metadata.version("trafilatura"),
        "htmldate": metadata.version("htmldate"),
    }
    if args.dump:
        args.dump.write_text(json.dumps(dump, indent=1, default=str), encoding="utf-8")
    if args.json:
        print(json.dumps({"environment": environment, "results": summaries}, indent=2))
        return 0
    print(", ".join(f"{k}: {v}" for k, v in environment.items()))
    for corpus, summary in summaries.items():
        pages_count = next(iter(summary.values()))["pages"]
        print()
        print(table(f"{corpus} ({pages_count} pages)", summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
