"""Loading ``rules.yaml``: read, validated and parsed, with 4, 1,000 and 10,000 rules.

Every crawl process and every command loads the configuration, so with a large
rule set this is paid again and again. The rules are the ones ``bench_rules.py``
generates (terms, boolean queries, proximity), written into a copy of the shipped
``rules.yaml``. For each size it prints the time ``load_config`` and ``compile_rules``
take, and the time they took before the libyaml fast path (``monitor.config.yamlload``) and
the collector pause (``monitor.gcpause``): the same functions with ruamel.yaml alone
and the cyclic garbage collector on. Times are CPU time, the fastest of ``--repeat`` runs. It measures and
prints; it asserts nothing. Usage::

    python benchmarks/bench_config.py [--repeat 3] [--sizes 4 1000 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_rules  # noqa: E402 - benchmarks/bench_rules.py, beside this script
from machine import cpu_model  # noqa: E402
from ruamel.yaml import YAML  # noqa: E402

import monitor.config.load  # noqa: E402
import monitor.rules.engine  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.rules import compile_rules  # noqa: E402


def rules_file(folder: str, size: int) -> Path:
    """The shipped rules.yaml with ``size - 4`` generated rules appended to its 4."""
    lines = [(ROOT / "rules.yaml").read_text(encoding="utf-8").rstrip("\n")]
    for spec in bench_rules.generate_rules(random.Random(size), max(0, size - 4)):
        lines.append(f"  - name: {spec.name}")
        if spec.terms:
            lines.append(f"    terms: {json.dumps(list(spec.terms))}")
        if spec.query:
            lines.append(f"    query: {json.dumps(spec.query)}")
    path = Path(folder) / f"rules-{size}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fastest(run: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def before() -> contextlib.ExitStack:
    """Patch ``load_config`` and ``compile_rules`` back to what they did before: ruamel.yaml, collector on."""
    stack = contextlib.ExitStack()
    for module in (monitor.config.load, monitor.rules.engine):
        stack.enter_context(patch.object(module, "gc_paused", contextlib.nullcontext))
    stack.enter_context(patch.object(monitor.config.load, "load_yaml", YAML(typ="rt").load))
    return stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 1_000, 10_000])
    options = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_model()}, Python {platform.python_version()}")
    print("| rules | file | load | load before | ratio | compile | compile before | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for size in options.sizes:
            path = rules_file(folder, size)
            load = partial(load_config, path, env={})
            rules = load().rules
            build = partial(compile_rules, rules)
            load_now, build_now = fastest(load, options.repeat), fastest(build, options.repeat)
            with before():
                load_then, build_then = fastest(load, options.repeat), fastest(build, options.repeat)
            kib = path.stat().st_size / 1024
            print(
                f"| {size:,} | {kib:,.0f} KiB | {load_now:.3f} s | {load_then:.3f} s | {load_then / load_now:.1f}× "
                f"| {build_now:.3f} s | {build_then:.3f} s | {build_then / max(build_now, 1e-9):.1f}× |",
                flush=True,
            )


if __name__ == "__main__":
    main()
