"""Start a crawl in its own process and read its report.

The core never imports Scrapy: it runs ``python -m spiders.crawl`` in a child
process. A Twisted reactor cannot be restarted, so one process per crawl is what
lets ``monitor serve`` crawl forever, and a crash or leak in one crawl dies with
its process instead of taking the scheduler down.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import CrawlError
from monitor.store import Store, iso, utcnow

log = logging.getLogger("monitor.crawl")


@dataclass
class CrawlReport:
    """What a crawl did, per source."""

    sources: list[dict[str, Any]] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(int(source.get(key, 0)) for source in self.sources)


def run_crawl(
    config_path: str,
    db_path: str,
    sources: Sequence[str] = (),
    *,
    timeout: float | None = None,
    log_level: str = "WARNING",
) -> CrawlReport:
    """Crawl ``sources`` (all enabled ones if empty) in a child process; CrawlError if it dies without a report."""
    with tempfile.TemporaryDirectory(prefix="monitor-crawl-") as folder:
        report_path = Path(folder) / "report.json"
        command = [
            sys.executable,
            "-m",
            "spiders.crawl",
            "--config",
            config_path,
            "--db",
            db_path,
            "--report",
            str(report_path),
            "--log-level",
            log_level,
        ]
        for name in sources:
            command += ["--source", name]
        try:
            completed = subprocess.run(command, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CrawlError(
                f"crawl of {', '.join(sources) or 'all sources'} took longer than {timeout} s; stopped"
            ) from None
        if not report_path.exists():
            raise CrawlError(f"crawl process exited with status {completed.returncode} and no report")
        return CrawlReport(sources=json.loads(report_path.read_text(encoding="utf-8")))


def fail_open_runs(store: Store, sources: Sequence[str], reason: str) -> int:
    """Close runs a dead crawl process left open, so status never shows a crawl running forever."""
    if not sources:
        return 0
    marks = ",".join("?" * len(sources))
    with store.write() as conn:
        cursor = conn.execute(
            f"UPDATE runs SET status = 'failed', finished_at = ?, errors = errors + 1 "
            f"WHERE status = 'running' AND source IN ({marks})",
            (iso(utcnow()), *sources),
        )
        for name in sources:
            conn.execute(
                "INSERT INTO run_errors (run_id, source, url, kind, message, at) VALUES (NULL, ?, NULL, 'crash', ?, ?)",
                (name, reason, iso(utcnow())),
            )
    return int(cursor.rowcount)
