"""What travels through the cluster's streams: source-runs to workers, what each run found to the writer."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.ingest import Analysis


@dataclass(frozen=True, slots=True)
class RunTask:
    """Crawl ``source`` once for the run record ``run_id`` the writer opened, with the configuration ``config_hash``."""

    source: str
    run_id: int
    deadline: float | None
    read_before: bool
    config_hash: str


@dataclass(frozen=True, slots=True)
class ArticleFound:
    """An article a run analysed: the writer saves it, queues its alerts and counts what it was."""

    run_id: int
    source: str
    analysis: Analysis


@dataclass(frozen=True, slots=True)
class ErrorFound:
    """An error of a run (a dead feed, a hostile page), to record."""

    run_id: int
    source: str
    url: str | None
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class RunDone:
    """A run ended: the worker's counters (pages, errors) and status; ``ticket`` is its task's stream id."""

    run_id: int
    source: str
    pages: int
    errors: int
    status: str
    ticket: str
    worker: str


Result = ArticleFound | ErrorFound | RunDone
