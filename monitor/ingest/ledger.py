"""Where a crawl session keeps its records: the store itself, or a writer elsewhere.

A ``CrawlSession`` reads what was seen before and writes run records, errors and
articles through a ``RunLedger``. On one machine that is ``StoreLedger``, the SQLite
store (articles saved in short shared transactions, ``SaveBatch``). A cluster worker
has no store: its ledger (``monitor.cluster.ResultPublisher``) sends the same records
to the one writer, which saves them and learns each article's outcome itself, and it
hands a run's article pages out to the whole cluster (``hand_out``), so one big source
is fetched and analysed by every worker, not only by the one that read its index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.config import DestinationSpec
from monitor.ingest.analysis import Analysis, save_article
from monitor.ingest.batch import SaveBatch
from monitor.store import SaveOutcome, Store, finish_run, last_seen, record_error, start_run
from monitor.store.runs import has_finished_run, update_run_counts


@dataclass(frozen=True, slots=True)
class RunClaim:
    """A run opened by someone else (a cluster's writer): its record's id, and what the session needs to know."""

    run_id: int
    read_before: bool  # the store has a finished run of the source: a cached index copy may be trusted
    ticket: str = ""  # the writer's handle on the run (or page), given back when it ends
    config_hash: str = ""  # the configuration the run was asked for under
    page_url: str = ""  # set: the claim is one article page of the run, handed out by the worker that owns it


@dataclass(frozen=True, slots=True)
class PageOrder:
    """An article page a run chose to fetch: where, what its index said of it, and which index named it."""

    url: str
    hint_title: str | None
    hint_published: datetime | None
    index_url: str


class RunLedger(Protocol):
    """The records of crawl runs, as a session needs them."""

    def read_before(self, source: str) -> bool:
        """Whether a run of ``source`` has finished before (its cached index copies are this store's)."""
        ...

    def start_run(self, source: str) -> int:
        """Open a run record; its id."""
        ...

    def record_error(self, run_id: int, source: str, url: str | None, kind: str, message: str) -> None: ...

    def last_seen(self, urls: Sequence[str]) -> dict[str, datetime]:
        """When each stored one of ``urls`` was last fetched."""
        ...

    def update_counts(self, run_id: int, counts: Mapping[str, int | None]) -> None: ...

    async def save(
        self, run_id: int, source: str, analysis: Analysis, destinations: Sequence[DestinationSpec]
    ) -> SaveOutcome | None:
        """Save an analysed article; its outcome, or None when the writer elsewhere decides it."""
        ...

    def finish_run(
        self,
        run_id: int,
        source: str,
        counts: Mapping[str, int | None],
        status: str,
        claim: RunClaim | None,
        incomplete: frozenset[str] = frozenset(),
    ) -> None:
        """Close the run (or, for a page's claim, that page); ``incomplete``: indexes to read in full next run."""
        ...

    def hand_out(
        self, claim: RunClaim | None, source: str, pages: Sequence[PageOrder], deadline_at: float | None
    ) -> bool:
        """Give ``pages`` of a run to be fetched by whoever is free (a cluster); False: fetch them here."""
        ...

    def must_reread(self, index_url: str) -> bool:
        """Whether an unchanged index must be read in full anyway: a page it named was not fetched elsewhere."""
        ...

    def flush(self) -> None:
        """Write out what is pending now (the crawl is closing)."""
        ...


class StoreLedger:
    """The ledger of one machine: the store, with saves batched in short transactions."""

    def __init__(self, store: Store):
        self.store = store
        self.saves = SaveBatch(store)

    def read_before(self, source: str) -> bool:
        return has_finished_run(self.store, source)

    def start_run(self, source: str) -> int:
        return start_run(self.store, source)

    def record_error(self, run_id: int, source: str, url: str | None, kind: str, message: str) -> None:
        record_error(self.store, run_id, source, url, kind, message)

    def last_seen(self, urls: Sequence[str]) -> dict[str, datetime]:
        return last_seen(self.store, urls)

    def update_counts(self, run_id: int, counts: Mapping[str, int | None]) -> None:
        update_run_counts(self.store, run_id, counts)

    async def save(
        self, run_id: int, source: str, analysis: Analysis, destinations: Sequence[DestinationSpec]
    ) -> SaveOutcome | None:
        return await self.saves.save(
            lambda: save_article(
                self.store, analysis.article, analysis.verdict, destinations, fingerprint=analysis.fingerprint
            )
        )

    def finish_run(
        self,
        run_id: int,
        source: str,
        counts: Mapping[str, int | None],
        status: str,
        claim: RunClaim | None,
        incomplete: frozenset[str] = frozenset(),
    ) -> None:
        finish_run(self.store, run_id, counts, status)  # the HTTP cache forgets ``incomplete`` (run_finished)

    def hand_out(
        self, claim: RunClaim | None, source: str, pages: Sequence[PageOrder], deadline_at: float | None
    ) -> bool:
        return False  # one machine: the spider fetches its runs' pages itself

    def must_reread(self, index_url: str) -> bool:
        return False  # the HTTP cache itself forgets an index not read in full

    def flush(self) -> None:
        self.saves.flush()
