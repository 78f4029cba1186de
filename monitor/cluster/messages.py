"""What travels through the cluster's streams: source-runs and their pages to workers, what they found to the writer."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.ingest import Analysis, PageOrder


@dataclass(frozen=True, slots=True)
class RunTask:
    """Crawl ``source`` once for the run record ``run_id`` the writer opened, with the configuration ``config_hash``."""

    source: str
    run_id: int
    deadline: float | None
    read_before: bool
    config_hash: str


@dataclass(frozen=True, slots=True)
class PageTask:
    """Fetch, extract and score one article page of run ``run_id``, which the worker reading its index handed out."""

    source: str
    run_id: int
    page: PageOrder
    deadline_at: float | None  # the run's deadline, wall-clock seconds since the epoch
    config_hash: str


@dataclass(frozen=True, slots=True)
class PagesHandedOut:
    """A run handed these pages out (before their tasks were published): the writer waits for each to be done."""

    run_id: int
    source: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PageDone:
    """A handed-out page is done (stored, failed or past its run's deadline): its counters; ``ticket``, its task."""

    run_id: int
    source: str
    url: str
    pages: int
    errors: int
    ticket: str
    worker: str
    incomplete: tuple[str, ...] = ()  # its index must be read in full next run (the page may succeed then)


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
    """A run's own crawl ended (its indexes read): its counters (pages, errors) and status; ``ticket``, its task.

    The run is over when this and every page it handed out are done.
    """

    run_id: int
    source: str
    pages: int
    errors: int
    status: str
    ticket: str
    worker: str
    incomplete: tuple[str, ...] = ()  # indexes not read in full (the page limit, the deadline)


Result = ArticleFound | ErrorFound | RunDone | PagesHandedOut | PageDone
