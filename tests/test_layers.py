"""The core never imports Scrapy; spiders are the only adapter over it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import monitor

ROOT = Path(__file__).resolve().parent.parent


def core_modules() -> list[str]:
    # monitor.__main__ runs the CLI when imported: it is the `python -m monitor` entry, not a module.
    return sorted(
        name for _, name, _ in pkgutil.walk_packages(monitor.__path__, "monitor.") if name != "monitor.__main__"
    )


def test_importing_every_core_module_loads_no_scrapy_or_twisted() -> None:
    modules = core_modules()
    assert "monitor.cli" in modules and "monitor.rules.engine" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + ("bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted'))\nprint(bad)")
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_core_source_file_mentions_a_scrapy_import() -> None:
    for path in (ROOT / "monitor").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import scrapy" not in text and "from scrapy" not in text, path
