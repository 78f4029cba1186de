"""Instructions per article spent scoring, counted by valgrind: a figure that does not move with the machine's load.

CPU times on a shared machine drift by 10-20 % from one run to the next, too much to
tell whether a change to the rules engine made it faster. This script scores the same
articles as ``bench_rules.py`` (same generator, same seed) against the same rule sets
under ``valgrind --tool=callgrind`` twice, once with one pass over the articles and
once with three, and prints the difference per article and pass: the instructions
scoring costs, without start-up, page generation or rule compilation. ``--pages``
picks the articles: ``demo`` (the default, ``bench_rules.py``'s), ``corpus`` (the real
pages of the Readability.js test corpus, as ``bench_extraction.py`` selects them) or
``sitegen`` (60-120 KB generated pages); ``--articles`` caps how many. Needs valgrind
(Debian: ``apt install valgrind``); it takes about a minute per rule-set size on two cores.
It measures and prints; it asserts nothing. Usage::

    python benchmarks/rules_instructions.py [--articles 150] [--rules 4 10000] [--pages demo|corpus|sitegen]
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSES = (1, 3)


def articles_file(articles: int, kind: str, folder: str) -> tuple[str, int]:
    """Generate and extract the articles once, outside valgrind, into a pickle the workers read; and how many."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    import random

    import bench_rules as bench

    from monitor.errors import ExtractionError
    from monitor.extract import extract_article

    if kind == "demo":
        rng = random.Random(20261128)
        template = bench.TEMPLATE.read_text(encoding="utf-8")
        pages = [bench.build_page(template, bench.generate_story(rng), n) for n in range(articles)]
        extracted = [
            bench._with_source(extract_article(page, f"https://ledger.example/world/story-{n}.html"))
            for n, page in enumerate(pages)
        ]
    else:
        from bench_extraction import CORPUS

        found = bench.corpus_pages(CORPUS) if kind == "corpus" else bench.sitegen_pages(articles)
        extracted = []
        for page, url in found[:articles]:
            try:
                extracted.append(extract_article(page, url, source=f"bench-{kind}"))
            except ExtractionError:
                continue
    path = os.path.join(folder, "articles.pickle")
    with open(path, "wb") as out:
        pickle.dump(extracted, out)
    return path, len(extracted)


def worker(path: str, rules: int, passes: int) -> None:
    """Score the pickled articles ``passes`` times with ``rules`` rules (run under valgrind)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    import random

    import bench_rules as bench

    from monitor.config import load_config
    from monitor.rules import compile_rules

    with open(path, "rb") as source:
        extracted = pickle.load(source)
    shipped = list(load_config(ROOT / "rules.yaml", env={}).rules)
    specs = shipped if rules <= len(shipped) else shipped + bench.generate_rules(random.Random(rules), rules - 4)
    ruleset = compile_rules(specs)
    for _ in range(passes):
        bench.score_all(ruleset, extracted)


def start(path: str, rules: int, passes: int, folder: str) -> subprocess.Popen[str]:
    """A worker under valgrind, counting every instruction it runs."""
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={os.path.join(folder, f'callgrind.{rules}.{passes}')}",
        sys.executable,
        __file__,
        "--worker",
        path,
        str(rules),
        str(passes),
    ]
    # One BLAS thread: an idle OpenBLAS pool spinning in the background would add noise; one hash seed,
    # so both passes lay out their sets and dicts alike.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def collected(process: subprocess.Popen[str]) -> int:
    """The instructions valgrind counted for a whole worker run."""
    _, stderr = process.communicate()
    found = re.search(r"Collected : ([\d,]+)", stderr)
    if process.returncode != 0 or found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=150)
    parser.add_argument("--rules", type=int, nargs="+", default=[4, 10_000])
    parser.add_argument("--pages", choices=("demo", "corpus", "sitegen"), default="demo", help="whose articles")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        path, rules, passes = options.worker
        worker(path, int(rules), int(passes))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        path, count = articles_file(options.articles, options.pages, folder)
        print(f"instructions per article scored ({count} {options.pages} articles, passes {PASSES[0]} and {PASSES[1]})")
        for rules in options.rules:
            runs = [start(path, rules, passes, folder) for passes in PASSES]  # side by side: one per core
            low, high = (collected(run) for run in runs)
            each = (high - low) / (PASSES[1] - PASSES[0]) / count
            print(f"{rules:>6} rules: {each / 1e6:.3f}M instructions per article", flush=True)


if __name__ == "__main__":
    main()
