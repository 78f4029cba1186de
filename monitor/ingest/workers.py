"""Run ``analyse`` on every core: extraction costs about ten times what fetching does.

Scrapy's callbacks run on one thread, so the crawl engine hands pages to a pool of
worker processes, each holding its own compiled rules, and awaits the result. The
pool lives as long as the engine: the rules are compiled once per worker, not per run.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from monitor.ingest.analysis import Analysis, analyse
from monitor.models import Page
from monitor.rules import RuleSet, RuleSpec, compile_rules

WORKER_MAX_PAGES = 5000  # pages a worker analyses before a fresh one (compiling the rules again) replaces it

# The worker process's own compiled rules, set once by ``_init_worker``.
_worker_rules: RuleSet | None = None
_worker_threshold: float = 0.0
_worker_max_age: int | None = None


def _exit_with(owner: int) -> None:
    """Exit when the process that owns the pool dies: a SIGKILLed engine must not leave its workers behind."""
    import select

    try:
        watched = os.pidfd_open(owner)
    except ProcessLookupError:  # it died (and was reaped) before this worker even started
        os._exit(1)
    except OSError:  # no pidfd here (not Linux 5.3+): the worker outlives a killed engine
        return
    select.select([watched], [], [])
    os._exit(1)


def _init_worker(rules: Sequence[RuleSpec], threshold: float, max_age_seconds: int | None, owner: int) -> None:
    global _worker_rules, _worker_threshold, _worker_max_age
    import threading

    _worker_rules = compile_rules(rules)  # first: compiling pauses the collector only while no other thread runs
    _worker_threshold = threshold
    _worker_max_age = max_age_seconds
    threading.Thread(target=_exit_with, args=(owner,), daemon=True).start()


def _analyse_in_worker(page: Page) -> Analysis:
    assert _worker_rules is not None, "worker not initialised"
    return analyse(page, _worker_rules, _worker_threshold, _worker_max_age)


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Analyser:
    """Analyses pages in ``workers`` processes, or inline in this process when ``workers`` is 1."""

    def __init__(
        self, rules: Sequence[RuleSpec], threshold: float, workers: int = 0, max_age_seconds: int | None = None
    ):
        self.max_age_seconds = max_age_seconds
        self.rules = tuple(rules)
        self.threshold = threshold
        self.workers = workers or default_workers()
        self._pool: Executor | None = None

    @functools.cached_property
    def ruleset(self) -> RuleSet:
        """The rules compiled in this process, for inline analysis and the prefilter.

        Compiled on first use: with worker processes (each compiles its own) and no
        prefilter, this process never needs them, and 10,000 rules take a second.
        """
        return compile_rules(self.rules)

    def submit(self, page: Page) -> Future[Analysis]:
        """Start analysing ``page``; the future raises ExtractionError for a page with no article."""
        if self.workers == 1:
            future: Future[Analysis] = Future()
            try:
                future.set_result(analyse(page, self.ruleset, self.threshold, self.max_age_seconds))
            except Exception as error:
                future.set_exception(error)
            return future
        try:
            return self._executor().submit(_analyse_in_worker, page)
        except BrokenProcessPool:
            # A worker died (a pathological page, the OOM killer): start a fresh pool, once.
            self.restart()
            return self._executor().submit(_analyse_in_worker, page)

    def restart(self) -> None:
        """Throw away a broken pool; the next page starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def discard_broken(self) -> None:
        """Throw away the pool if a dead worker broke it (not a fresh one another page already started)."""
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self.restart()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # forkserver: children start from a clean, single-threaded server rather than
            # forking the crawl process with its reactor and thread pools.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["monitor.ingest.analysis", "datasketch"])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.rules, self.threshold, self.max_age_seconds, os.getpid()),
                # A worker lives for many runs now: replace it now and then, so a leak cannot grow for ever.
                max_tasks_per_child=WORKER_MAX_PAGES,
            )
        return self._pool
