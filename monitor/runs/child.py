"""One crawl of some sources, start to end: an engine started for it, every source sent, every report read.

What ``monitor run`` (and the tests) use. ``monitor serve`` keeps its engine instead
(``monitor.runs.supervisor``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.config import Config, load_config
from monitor.models import RunCounter, SourceRunSummary
from monitor.runs.engine import KILL_AFTER_SECONDS, EngineExited, EngineProcess, record_lost_runs
from monitor.runs.protocol import RunFinished, SourceBusy

log = logging.getLogger("monitor.crawl")

# How long past its deadline (and its requests' timeout) a crawl may take to close its runs before it is stopped.
STOP_GRACE_SECONDS = 30.0


@dataclass
class CrawlReport:
    """What a crawl did, per source; the sources another process was crawling; why it crashed, if it did."""

    sources: list[SourceRunSummary] = field(default_factory=list)
    busy: dict[str, int | None] = field(default_factory=dict)
    crashed: str | None = None

    def total(self, key: RunCounter) -> int:
        """One counter summed over the sources."""
        return sum(int(getattr(source, key)) for source in self.sources)


def run_crawl(
    config_path: str,
    db_path: str,
    sources: Sequence[str] = (),
    *,
    timeout: float | None = None,
    log_level: str = "WARNING",
    abort: threading.Event | None = None,
    config: Config | None = None,
) -> CrawlReport:
    """Crawl ``sources`` (all enabled ones if empty) in one engine process, each once, and report.

    With ``config`` (the configuration the caller validated) the engine runs that,
    handed over pickled on a pipe (it holds expanded secrets, so never a file), else
    ``config_path`` is loaded. ``timeout`` is each run's deadline: a run still going
    then is recorded as failed with a ``deadline`` error and its counters, and the
    engine is killed if it is still there a grace period later. Setting ``abort``
    stops the runs now (recorded as failed) and the engine. A source another process
    is crawling is left alone and named in ``busy``. If the engine dies, the runs it
    had in flight are recorded as failed and the report says why in ``crashed``.
    """
    config = config or load_config(config_path)
    names = list(dict.fromkeys(sources)) or [s.name for s in config.sources if s.enabled]
    events: queue.Queue[object] = queue.Queue()
    engine = EngineProcess(config, db_path, lambda _, message: events.put(message), log_level=log_level)
    for name in names:
        engine.start_run(name, timeout)
    engine.drain(None)  # exit once every run has ended
    grace = STOP_GRACE_SECONDS + config.crawl.timeout_seconds
    kill_at = None if timeout is None else time.monotonic() + timeout + grace
    report = CrawlReport()
    try:
        exited = _collect(engine, events, report, names, kill_at, abort)
    except KeyboardInterrupt:  # Ctrl-C: the engine ignores it (it is serve's to act on); stop it here
        engine.drain(0.0, "interrupted")
        if not engine.wait(KILL_AFTER_SECONDS):
            engine.kill()
        raise
    if exited.lost:
        report.crashed = f"the crawl engine exited with status {exited.returncode} during the crawl"
        log.error("%s: runs of %s lost", report.crashed, ", ".join(exited.lost))
        report.sources += record_lost_runs(config, db_path, exited.lost, report.crashed)
    return report


def _collect(
    engine: EngineProcess,
    events: queue.Queue[object],
    report: CrawlReport,
    names: Sequence[str],
    kill_at: float | None,
    abort: threading.Event | None,
) -> EngineExited:
    """Read the engine's events into ``report`` until it exits; stop it on ``abort``, kill it past ``kill_at``."""
    stopping = False
    while True:
        try:
            message = events.get(timeout=0.5)
        except queue.Empty:
            if abort is not None and abort.is_set() and not stopping:
                stopping = True
                engine.drain(0.0, "the monitor is shutting down")
                kill_at = time.monotonic() + KILL_AFTER_SECONDS
            if kill_at is not None and time.monotonic() > kill_at:
                log.error("crawl of %s still running past its deadline and grace period: killed", ", ".join(names))
                engine.kill()
                kill_at = None
            continue
        if isinstance(message, RunFinished):
            report.sources.append(message.summary)
        elif isinstance(message, SourceBusy):
            report.busy[message.source] = message.pid
        elif isinstance(message, EngineExited):
            return message
