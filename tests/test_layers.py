"""The architecture, enforced: packages by concern, data flowing one way, no cycles.

sources → extraction → rules → store → outbox → delivery, with the CLI and the
scheduler on top. The core never imports Scrapy; spiders are the only adapter over it.
Imports are read from the source (function-level ones included), so a lazy import
cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import monitor

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "monitor"

# Lowest first: a package may import its own modules and those of lower layers only.
# The leaf modules (errors, models, timestamps, ...) are the bottom layer every package may read.
LAYERS: list[set[str]] = [
    {
        "errors",
        "models",
        "timestamps",
        "retryafter",
        "gcpause",
        "logs",
        "output",
        "localserver",
        "deadlines",
        "processes",
        "netpolicy",
    },
    {"charts"},  # pure drawing: plain data in, SVG or PNG out; the report and email digests use it
    {"rules"},
    {"config"},
    {"extract"},
    {"store"},
    {"alerts"},
    {"ingest"},
    {"runs"},
    {"cluster"},  # scale-out: the writer is a crawl engine for ops' service; a worker runs the runs' engine
    {"ops"},
    {"demo"},
    {"cli"},
]
# What other packages may import: the package itself (its __init__), and these modules.
PUBLIC_MODULES = {
    "monitor.rules.lang",  # the rule language's tree: the configuration builds conditions with it
    # The store's surface is one module per group of tables (its __init__ says which).
    *(
        f"monitor.store.{name}"
        for name in (
            "articles",
            "canned",
            "cluster",
            "destinations",
            "outbox",
            "queries",
            "reports",
            "retention",
            "runs",
            "source_state",
            "stories",
        )
    ),
}
SQL = re.compile(r"""["'](?:\s*)(SELECT|INSERT|UPDATE|DELETE FROM|CREATE TABLE|PRAGMA)\b""")


def core_modules() -> list[str]:
    # monitor.__main__ runs the CLI when imported: it is the `python -m monitor` entry, not a module.
    return sorted(
        name for _, name, _ in pkgutil.walk_packages(monitor.__path__, "monitor.") if name != "monitor.__main__"
    )


def module_files() -> dict[str, Path]:
    """Every module of the core by dotted name (a package by its ``__init__``)."""
    files = {}
    for path in CORE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def imports_of(path: Path, known: set[str]) -> Iterator[str]:
    """The ``monitor`` modules a file imports, anywhere in it (``from pkg import mod`` counts as ``pkg.mod``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("monitor", "spiders", "scrapy", "twisted"):
                yield name


def package_of(module: str) -> str:
    """``monitor.store.articles`` -> ``store``; a top-level module is its own package."""
    return module.split(".")[1] if module.count(".") >= 1 else module


def layer_of(package: str) -> int:
    return next(index for index, layer in enumerate(LAYERS) if package in layer)


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {
        module: {name for name in imports_of(path, known) if name.startswith("monitor.")}
        for module, path in files.items()
    }


def test_every_package_and_leaf_module_has_a_layer() -> None:
    packages = {package_of(module) for module in module_files() if module not in ("monitor", "monitor.__main__")}
    placed = set().union(*LAYERS)
    assert packages - placed == set(), "put new packages in LAYERS"
    assert {"config", "rules", "extract", "store", "alerts", "cli", "ops"} <= packages


def test_data_flows_one_way_each_package_imports_only_lower_layers() -> None:
    wrong = []
    for module, imported in import_graph().items():
        if module in ("monitor", "monitor.__main__"):
            continue
        mine = layer_of(package_of(module))
        for target in imported:
            if target == "monitor":
                continue
            if layer_of(package_of(target)) > mine:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_rules_and_extract_import_neither_store_nor_alerts_and_store_imports_no_alerts_cli_or_ops() -> None:
    forbidden = {"rules": {"store", "alerts"}, "extract": {"store", "alerts"}, "store": {"alerts", "cli", "ops"}}
    wrong = [
        f"{module} -> {target}"
        for module, imported in import_graph().items()
        for target in imported
        if package_of(target) in forbidden.get(package_of(module), set())
    ]
    assert wrong == []


def test_packages_are_used_through_their_public_surface() -> None:
    wrong = []
    for module, imported in import_graph().items():
        for target in imported:
            package = f"monitor.{package_of(target)}"
            inside = package_of(module) == package_of(target)
            is_leaf_module = target.count(".") == 1
            if (
                inside
                or is_leaf_module
                or target == package
                or target in PUBLIC_MODULES
                or module == "monitor.__main__"
            ):
                continue
            wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_import_cycle_anywhere_in_the_core() -> None:
    graph = import_graph()
    # A package's __init__ re-exports its modules: an import of the package reaches them.
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target in graph and target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


def test_sql_is_written_only_in_the_store() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in CORE.rglob("*.py")
        if "store" not in path.relative_to(CORE).parts[:1]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line) or (".execute(" in line and "pipe.execute()" not in line)  # a Redis pipeline's is not SQL
    ]
    assert outside == []


def test_importing_every_core_module_loads_no_scrapy_or_twisted() -> None:
    modules = core_modules()
    assert "monitor.cli" in modules and "monitor.rules" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + ("bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted'))\nprint(bad)")
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_core_source_file_imports_scrapy_twisted_or_spiders() -> None:
    files = module_files()
    for module, path in files.items():
        outside = [name for name in imports_of(path, set(files)) if not name.startswith("monitor")]
        assert outside == [], module


def test_loading_the_configuration_does_not_load_the_store_or_alerts() -> None:
    code = "import json, sys, monitor.config\nprint(json.dumps([m.split('.')[1] for m in sys.modules if m.startswith('monitor.')]))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert loaded.isdisjoint({"store", "alerts", "ingest", "runs", "ops", "cli"}), loaded
