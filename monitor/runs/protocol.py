"""What the monitor and its crawl engine say to each other, one pickled message at a time.

The engine (``python -m spiders.engine``) reads a ``Config`` first, then ``StartRun`` and
``Drain`` messages, on its stdin; it writes events on a pipe of their own, so nothing a
library prints on stdout can be taken for one. Both ends are this package's code in
processes this package started, so pickle is trusted here, as it is for the config.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import IO

from monitor.ingest import PageOrder, RunClaim
from monitor.models import SourceRunSummary


@dataclass(frozen=True, slots=True)
class StartRun:
    """Crawl ``source`` once, finishing within ``deadline`` seconds (None: no deadline).

    ``claim``: the run a cluster's writer opened (a worker's engine has no store of its own).
    """

    source: str
    deadline: float | None = None
    claim: RunClaim | None = None


@dataclass(frozen=True, slots=True)
class FetchPage:
    """Fetch, extract and score one article page a cluster run handed out (``claim`` names the run and the page)."""

    source: str
    claim: RunClaim
    deadline_at: float | None
    page: PageOrder


@dataclass(frozen=True, slots=True)
class Drain:
    """Start no more runs; give the runs in flight ``grace`` seconds (None: their deadlines), close the rest, exit."""

    grace: float | None
    reason: str = "the monitor is stopping"


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A run ended (well or not) and its record is closed."""

    summary: SourceRunSummary


@dataclass(frozen=True, slots=True)
class PageFinished:
    """A page ``FetchPage`` asked for is done (its results are on their way to the writer)."""

    ticket: str
    pages: int


@dataclass(frozen=True, slots=True)
class SourceBusy:
    """Another process holds the source's lease: this run was not started."""

    source: str
    pid: int | None


@dataclass(frozen=True, slots=True)
class AlertsQueued:
    """Alerts were committed to the outbox: a sender waiting for them may go now."""

    count: int


@dataclass(frozen=True, slots=True)
class EngineState:
    """The engine's own size, sent with each finished run, for recycling it past a memory ceiling."""

    rss_bytes: int


Command = StartRun | FetchPage | Drain
Event = RunFinished | PageFinished | SourceBusy | AlertsQueued | EngineState


def send(stream: IO[bytes], message: object) -> None:
    """Write one message and flush it."""
    pickle.dump(message, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def receive(stream: IO[bytes]) -> object | None:
    """The next message, or None at the end of the stream (the other side is gone)."""
    try:
        message: object = pickle.load(stream)
        return message
    except (EOFError, pickle.UnpicklingError, OSError):  # closed, or cut off mid-message by a death
        return None
