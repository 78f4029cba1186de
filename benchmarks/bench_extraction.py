"""Extraction quality on the Readability.js test pages: our extractor against trafilatura's defaults.

For every page of the corpus (``../shared/corpora/readability-test-pages``, 125
saved pages with Readability.js's reviewed output; read its README) it runs

* ``trafilatura``: ``trafilatura.bare_extraction`` with its default options and
  ``with_metadata=True`` (off by default, and without it there is no title or date);
  the body is ``document.text`` (comments, which ``extract()`` would append, are left out);
* ``monitor``: ``monitor.extract.article.extract_article``, what the crawl runs;

and scores

* body: precision, recall and F1 of token 4-grams (multiset overlap) against the text
  of ``expected.html``, averaged over pages; a page that yields nothing scores 0 recall and
  F1 and is left out of precision (nothing extracted is no clutter);
* title: exact match with the expected title after Unicode, case, quote, dash and
  whitespace normalisation, over pages that have one; and "headline" match, where a
  site-name part after the last separator (" | Site", " - Site") is ignored on either side,
  since Readability keeps site names that a monitor cuts off;
* date: the ``YYYY-MM-DD`` of the publication date (in the page's own offset) equals
  that of ``publishedTime``, over pages that have one;
* time: milliseconds of wall-clock time per page, parsing included.

Aggregates cover the real pages; the synthetic unit-test pages the corpus README lists
(and every hand-written page under 5 KB) are left out unless ``--all`` is given. It
measures and prints; it asserts nothing. Usage::

    python benchmarks/bench_extraction.py [--corpus PATH] [--all] [--per-page] [--json] [PAGE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

import lxml.html
import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # noqa: E402 - benchmarks/machine.py, beside this script

from monitor.errors import ExtractionError  # noqa: E402
from monitor.extract import extract_article  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "readability-test-pages"
PAGE_URL = "http://fakehost/test/page.html"  # the URL Readability's own tests use
NGRAM = 4
SMALL_SYNTHETIC_BYTES = 5000
# Unit-test pages named by the corpus README, plus lorem-ipsum ones; pages under 5 KB are added by size.
SYNTHETIC = re.compile(
    r"^(00[1-5]($|-)|base-url|basic-tags-cleaning|remove-|replace-|svg-parsing|normalize-spaces|ol$|hidden-nodes"
    r"|visibility-hidden|invalid-attributes|title-and-h1-discrepancy|title-en-dash|metadata-content-missing"
    r"|parsely-metadata|schema-org-context-object|data-url-image)"
)
# One token per CJK character (those scripts put no spaces between words), else runs of letters and digits.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_\u3040-\u30ff\u3400-\u9fff]+")
_SITE_PART = re.compile(r"\s*(?:\s[|\-–—·:_]|\s::|_)\s*[^|\-–—·:_]+$")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\xa0": " "})


@dataclass
class Extracted:
    """What one configuration found on one page."""

    text: str
    title: str | None
    date: str | None  # YYYY-MM-DD
    ms: float
    failed: bool = False


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    title_ok: bool | None  # None: the page has no expected title
    headline_ok: bool | None
    date_ok: bool | None


def trafilatura_default(html: str, url: str) -> Extracted:
    """trafilatura's defaults, with metadata switched on."""
    start = time.perf_counter()
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    ms = (time.perf_counter() - start) * 1000
    if document is None or isinstance(document, dict):
        return Extracted("", None, None, ms, failed=True)
    return Extracted(document.text or "", document.title, (document.date or "")[:10] or None, ms)


def monitor_extract(html: str, url: str) -> Extracted:
    """What the crawl runs."""
    start = time.perf_counter()
    try:
        article = extract_article(html, url)
    except ExtractionError:
        return Extracted("", None, None, (time.perf_counter() - start) * 1000, failed=True)
    ms = (time.perf_counter() - start) * 1000
    date = article.published.date().isoformat() if isinstance(article.published, datetime) else None
    return Extracted(article.text, article.title, date, ms)


CONFIGURATIONS: dict[str, Callable[[str, str], Extracted]] = {
    "trafilatura": trafilatura_default,
    "monitor": monitor_extract,
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


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().split())


def same_title(found: str | None, expected: str) -> bool:
    return found is not None and _norm(found) == _norm(expected)


def same_headline(found: str | None, expected: str) -> bool:
    """Equal once a trailing site-name part is cut from either side."""
    if found is None:
        return False
    variants_found = {_norm(found), _norm(_SITE_PART.sub("", found))}
    variants_expected = {_norm(expected), _norm(_SITE_PART.sub("", expected))}
    return bool(variants_found & variants_expected)


def expected_text(page: Path) -> str:
    html = (page / "expected.html").read_text(encoding="utf-8")
    return str(lxml.html.fromstring(html).text_content()) if html.strip() else ""


def is_synthetic(page: Path) -> bool:
    return bool(SYNTHETIC.match(page.name)) or (page / "source.html").stat().st_size < SMALL_SYNTHETIC_BYTES


def score(found: Extracted, text: str, meta: dict[str, object]) -> Score:
    precision, recall, f1 = overlap(found.text, text)
    title, published = meta.get("title"), meta.get("publishedTime")
    return Score(
        precision,
        recall,
        f1,
        same_title(found.title, str(title)) if title else None,
        same_headline(found.title, str(title)) if title else None,
        (found.date == str(published)[:10]) if published else None,
    )


def rate(values: list[bool | None]) -> tuple[int, int]:
    known = [v for v in values if v is not None]
    return sum(known), len(known)


def summarise(scores: list[Score], extracted: list[Extracted]) -> dict[str, object]:
    titles, dates = rate([s.title_ok for s in scores]), rate([s.date_ok for s in scores])
    headlines = rate([s.headline_ok for s in scores])
    times = [e.ms for e in extracted]
    with_output = [s for s, e in zip(scores, extracted, strict=True) if not e.failed and e.text.strip()]
    return {
        "pages": len(scores),
        "failed": sum(e.failed for e in extracted),
        "body_precision": round(statistics.fmean(s.precision for s in with_output), 3) if with_output else None,
        "body_recall": round(statistics.fmean(s.recall for s in scores), 3),
        "body_f1": round(statistics.fmean(s.f1 for s in scores), 3),
        "body_f1_median": round(statistics.median(s.f1 for s in scores), 3),
        "title_accuracy": f"{titles[0]}/{titles[1]}",
        "title_rate": round(titles[0] / titles[1], 3) if titles[1] else None,
        "headline_accuracy": f"{headlines[0]}/{headlines[1]}",
        "date_accuracy": f"{dates[0]}/{dates[1]}",
        "date_rate": round(dates[0] / dates[1], 3) if dates[1] else None,
        "ms_per_page_mean": round(statistics.fmean(times), 1),
        "ms_per_page_median": round(statistics.median(times), 1),
    }


def mark(ok: bool | None, nearly: bool | None = None) -> str:
    """A per-page cell: ok, hl (headline only), NO, or - when there is nothing to compare."""
    return "-" if ok is None else "ok" if ok else "hl" if nearly else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench_extraction.py", description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", help="only these pages (directory names)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--all", action="store_true", help="include the synthetic unit-test pages")
    parser.add_argument("--per-page", action="store_true", help="print every page's scores")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    pages = sorted(p for p in args.corpus.iterdir() if (p / "source.html").exists())
    if args.pages:
        pages = [p for p in pages if p.name in args.pages]
    elif not args.all:
        pages = [p for p in pages if not is_synthetic(p)]

    for configuration in CONFIGURATIONS.values():  # warm caches and imports before timing
        configuration((pages[0] / "source.html").read_text(encoding="utf-8"), PAGE_URL)
    results: dict[str, tuple[list[Score], list[Extracted]]] = {name: ([], []) for name in CONFIGURATIONS}
    for page in pages:
        html = (page / "source.html").read_text(encoding="utf-8")
        text = expected_text(page)
        meta = json.loads((page / "expected-metadata.json").read_text(encoding="utf-8"))
        row = [page.name]
        for name, configuration in CONFIGURATIONS.items():
            found = configuration(html, PAGE_URL)
            result = score(found, text, meta)
            results[name][0].append(result)
            results[name][1].append(found)
            row.append(
                f"{name[:5]} F1 {result.f1:.2f} P {result.precision:.2f} R {result.recall:.2f}"
                f" t {mark(result.title_ok, result.headline_ok)} d {mark(result.date_ok)} {found.ms:5.0f}ms"
            )
        if args.per_page:
            print(f"{row[0]:<40} " + " | ".join(row[1:]))

    summary = {name: summarise(*results[name]) for name in CONFIGURATIONS}
    environment = {
        "date": datetime.now().date().isoformat(),
        "machine": f"{cpu_model()}, {platform.machine()}, Python {platform.python_version()}",
        "trafilatura": metadata.version("trafilatura"),
        "corpus": f"{args.corpus.name}, {len(pages)} pages" + (" (synthetic included)" if args.all else ""),
    }
    if args.json:
        print(json.dumps({"environment": environment, "results": summary}, indent=2))
        return 0
    print(", ".join(f"{k}: {v}" for k, v in environment.items()))
    header = (
        "configuration",
        "F1",
        "median F1",
        "precision",
        "recall",
        "title",
        "headline",
        "date",
        "ms/page",
        "failed",
    )
    print(" | ".join(header))
    for name, s in summary.items():
        print(
            f"{name:<13} | {s['body_f1']:.3f} | {s['body_f1_median']:.3f} | {s['body_precision']:.3f}"
            f" | {s['body_recall']:.3f} | {s['title_accuracy']} | {s['headline_accuracy']} | {s['date_accuracy']}"
            f" | {s['ms_per_page_mean']} (median {s['ms_per_page_median']}) | {s['failed']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
