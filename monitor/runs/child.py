"""Start a crawl in its own process and read its report.

The core never imports Scrapy: it runs ``python -m spiders.crawl`` in a child
process. A Twisted reactor cannot be restarted, so one process per crawl is what
lets ``monitor serve`` crawl forever, and a crash or leak in one crawl dies with
its process instead of taking the scheduler down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import Config, CrawlSpec
from monitor.errors import CrawlError
from monitor.models import RunCounter, SourceRunSummary

log = logging.getLogger("monitor.crawl")

# How long past its deadline (and its requests' timeout) a crawl may take to close its spiders before it is stopped.
STOP_GRACE_SECONDS = 30.0


@dataclass
class CrawlReport:
    """What a crawl did, per source."""

    sources: list[SourceRunSummary] = field(default_factory=list)

    def total(self, key: RunCounter) -> int:
        """One counter summed over the sources."""
        return sum(int(getattr(source, key)) for source in self.sources)

    @classmethod
    def from_json(cls, text: str) -> CrawlReport:
        """Parse the report file a crawl process writes (a JSON list of summaries); ValueError if it is not one."""
        entries = json.loads(text)
        if not isinstance(entries, list):
            raise ValueError(f"a crawl report is a list of source summaries, not {type(entries).__name__}")
        return cls(sources=[SourceRunSummary.from_json(entry) for entry in entries])


def run_crawl(
    config_path: str,
    db_path: str,
    sources: Sequence[str] = (),
    *,
    timeout: float | None = None,
    log_level: str = "WARNING",
    abort: threading.Event | None = None,
    config: Config | None = None,
    hold: Sequence[int] = (),
) -> CrawlReport:
    """Crawl ``sources`` (all enabled ones if empty) in a child process; CrawlError if it dies without a report.

    With ``config`` (the configuration the caller validated), the child runs that
    configuration, handed over pickled on its stdin, instead of loading ``config_path``
    again: it neither re-parses the YAML nor sees an edit made since, so ``monitor
    serve`` keeps running its configuration when an edit is refused. The pickle holds
    expanded secrets, so it goes through a pipe, never a file. Setting
    ``abort`` stops the crawl: the child gets SIGTERM (Scrapy then closes its
    spiders, which records the runs), and SIGKILL if it has not gone within 10 s.
    ``timeout`` is the crawl's deadline: the child then closes its spiders itself, each
    run recorded as failed with a ``deadline`` error and its counters, and is stopped
    only if it is still there a grace period later (the requests under way may take
    up to ``crawl.timeout`` to end).
    ``hold`` are the file descriptors of the sources' leases (``monitor.processes``): the
    crawl process inherits them, so the sources stay leased while it lives, even if this
    process is killed first.
    """
    with tempfile.TemporaryDirectory(prefix="monitor-crawl-") as folder:  # private: mode 0700
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
        if config is not None:
            command += ["--config-from-stdin"]
        if timeout is not None:
            command += ["--deadline", str(timeout)]
        label = ", ".join(sources) or "all sources"
        process = subprocess.Popen(command, stdin=subprocess.PIPE if config is not None else None, pass_fds=tuple(hold))
        if config is not None and process.stdin is not None:
            # A child that died at start breaks the pipe; its missing report says so below.
            with process.stdin, contextlib.suppress(BrokenPipeError):
                pickle.dump(config, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        grace = STOP_GRACE_SECONDS + (config.crawl if config is not None else CrawlSpec()).timeout_seconds
        deadline = None if timeout is None else time.monotonic() + timeout + grace
        try:
            while True:
                try:
                    process.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if abort is not None and abort.is_set():
                    _stop(process)
                    raise CrawlError(f"crawl of {label} stopped: the monitor is shutting down")
                if deadline is not None and time.monotonic() > deadline:
                    _stop(process)
                    raise CrawlError(
                        f"crawl of {label} still running {grace:.0f} s after its {timeout:.0f} s deadline; stopped"
                    )
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if not report_path.exists():
            raise CrawlError(f"crawl process exited with status {process.returncode} and no report")
        return CrawlReport.from_json(report_path.read_text(encoding="utf-8"))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
