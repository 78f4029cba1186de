"""The crawl engine: one process, one Twisted reactor, one spider, crawling source-runs as they are asked for.

``monitor serve`` and ``monitor run`` start it (``monitor.runs.engine``) and talk to it
with ``monitor.runs.protocol``: on stdin a pickled ``Config``, then ``StartRun`` and
``Drain`` messages; on the pipe ``--events-fd`` names, what became of each run. The
spider, the extraction pool (whose workers compile the rules once) and the store's
connection live as long as the process, so a source-run whose feed has not changed
costs one conditional request and two small writes. A new configuration is a new
engine: the supervisor starts one and drains this one. Usage::

    python -m spiders.engine --db db/monitor.db --events-fd N [--log-level WARNING]
    python -m spiders.engine --cluster redis://HOST:PORT/DB --cache-dir DIR --events-fd N

With ``--cluster`` the engine is a cluster worker's: it has no store; each run comes
with the record its writer opened (``StartRun.claim``), and what the run finds goes to
the writer through Redis (``monitor.cluster.ResultPublisher``), which also keeps the
one-run-per-source promise and judges the sources. Its runs hand their article pages
out to the cluster, and ``FetchPage`` asks it for one page some run handed out.

Each run holds its source's lease (``monitor.processes``) from its start to its end,
so no other process crawls the source meanwhile. When stdin ends (the monitor that
started the engine is gone) the engine starts no more runs, lets those in flight end
(their deadlines bound them) and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from typing import IO, Any, cast

from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_from_coro

from monitor.config import Config
from monitor.errors import MonitorError
from monitor.ingest import Analyser, RunLedger, StoreLedger
from monitor.logs import configure_logging
from monitor.models import SourceRunSummary
from monitor.processes import SourceLeases
from monitor.runs import check_sources
from monitor.runs.protocol import (
    AlertsQueued,
    Drain,
    EngineState,
    FetchPage,
    PageFinished,
    RunFinished,
    SourceBusy,
    StartRun,
    receive,
    send,
)
from monitor.store import Store
from monitor.store.runs import close_left_open
from monitor.timestamps import utcnow
from spiders import settings as default_settings
from spiders.news import NewsSpider, SourceRun
from spiders.settings import from_config, httpcache_dir

log = logging.getLogger("monitor.engine")


class Engine:
    """Starts the runs it is asked for on the spider, ends them, and says so on the events pipe."""

    def __init__(self, config: Config, store: Store | None, crawler: Crawler, events: IO[bytes]):
        self.config = config
        self.store = store  # None in a cluster worker: its writer keeps the records
        self.crawler = crawler
        self.events = events
        self.spider: NewsSpider | None = None  # set once Scrapy has opened it
        self.waiting: list[object] = []  # messages that came before the spider was open
        self.leases: dict[str, SourceLeases | None] = {}  # the sources of the runs in flight (and their leases)
        self.pages: set[str] = set()  # the tickets of the handed-out pages in flight
        self.draining = False

    def emit(self, message: object) -> None:
        with contextlib.suppress(OSError, ValueError):  # the monitor is gone; stdin's end drains the engine
            send(self.events, message)

    def spider_opened(self, spider: NewsSpider) -> None:
        self.spider = spider
        waiting, self.waiting = self.waiting, []
        for message in waiting:
            self.command(message)

    def command(self, message: object) -> None:
        """Handle one message from the monitor (on the reactor's thread)."""
        if self.spider is None:  # Scrapy has not opened the spider yet: in order, once it has
            self.waiting.append(message)
        elif isinstance(message, StartRun):
            self.start(message)
        elif isinstance(message, FetchPage):
            self.fetch_page(message)
        elif isinstance(message, Drain):
            self.drain(message.grace, message.reason)
        else:
            log.error("engine: unknown message %r ignored", message)

    def start(self, message: StartRun) -> None:
        name = message.source
        assert self.spider is not None
        if self.draining:
            log.warning("engine: draining, run of %s not started", name)
            self.emit(SourceBusy(name, os.getpid()))
            return
        if name in self.leases:
            self.emit(SourceBusy(name, os.getpid()))
            return
        leases = SourceLeases(self.store.path, [name]) if self.store is not None else None
        if leases is not None and not leases.held:
            self.emit(SourceBusy(name, leases.busy.get(name)))
            return
        self.leases[name] = leases
        try:
            if self.store is not None:
                close_left_open(self.store, [name])
            self.spider.start_run(name, message.deadline, self.run_ended, self.alerts_queued, message.claim)
        except (MonitorError, KeyError) as error:
            log.error("engine: could not start a run of %s: %s", name, error)
            lease = self.leases.pop(name)
            if lease is not None:
                lease.release()
            message_text = f"could not start: {error}"
            self.emit(RunFinished(SourceRunSummary(source=name, status="failed", errors=1, message=message_text)))
            return

    def fetch_page(self, message: FetchPage) -> None:
        """Fetch a page a run handed out: no lease (the run holds none of this engine's), many of one source at once."""
        assert self.spider is not None
        ticket = message.claim.ticket
        self.pages.add(ticket)
        try:
            self.spider.fetch_page(
                message.source,
                message.claim,
                message.deadline_at,
                message.page,
                lambda run: self.page_ended(ticket, run),
            )
        except (MonitorError, KeyError) as error:  # a source this configuration no longer has
            log.error("engine: could not fetch %s of %s: %s", message.page.url, message.source, error)
            self.page_ended(ticket, None)

    def page_ended(self, ticket: str, run: SourceRun | None) -> None:
        self.pages.discard(ticket)
        self.emit(PageFinished(ticket, run.summary.pages if run is not None and run.summary is not None else 0))
        if self.draining and not self.leases and not self.pages:
            self.stop()

    def run_ended(self, run: SourceRun) -> None:
        try:
            if self.store is not None:
                check_sources(self.store, self.config, utcnow(), [run.name])
        except MonitorError as error:
            log.error("engine: could not judge source %s: %s", run.name, error)
        lease = self.leases.pop(run.name, None)
        if lease is not None:
            lease.release()
        assert run.summary is not None
        self.emit(RunFinished(run.summary))
        self.emit(EngineState(_rss_bytes()))
        if self.draining and not self.leases and not self.pages:
            self.stop()

    def alerts_queued(self, count: int) -> None:
        self.emit(AlertsQueued(count))

    def drain(self, grace: float | None, reason: str) -> None:
        """Start no more runs; stop those still going after ``grace`` seconds (None: let their deadlines end them)."""
        self.draining = True
        if not self.leases and not self.pages:
            self.stop()
            return
        if grace is not None:
            from twisted.internet import reactor

            cast(Any, reactor).callLater(grace, self.stop_runs, reason)

    def stop_runs(self, reason: str) -> None:
        if self.spider is not None:
            for run in list(self.spider.runs):
                self.spider.stop_run(run, reason)

    def stop(self) -> None:
        """Close the spider (which ends the process) once Scrapy's engine runs: it may still be opening."""
        if self.spider is not None:
            self.spider.keep_open = False
        from twisted.internet import reactor

        engine = self.crawler.engine
        if engine is not None and engine.running:
            deferred_from_coro(self.crawler.stop_async())
        else:
            cast(Any, reactor).callLater(0.05, self.stop)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spiders.engine")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db")
    where.add_argument("--cluster", help="a cluster worker's engine: the writer's Redis URL")
    parser.add_argument("--cache-dir", help="the HTTP cache (default: beside the store)")
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    commands = sys.stdin.buffer
    config = receive(commands)
    if not isinstance(config, Config):
        print(f"engine: expected a pickled Config on stdin, got {type(config).__name__}", file=sys.stderr)
        return 2
    events = os.fdopen(args.events_fd, "wb")

    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.setdict(from_config(config), priority="cmdline")
    settings.set("LOG_LEVEL", args.log_level, priority="cmdline")
    settings.set("MONITOR_DB", args.db, priority="cmdline")
    settings.set("HTTPCACHE_DIR", args.cache_dir or httpcache_dir(args.db), priority="cmdline")
    # The monitor's handler, not Scrapy's: its format, one line per event, and its detail per -v (monitor.logs).
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    configure_logging(args.log_level, os.environ.get("MONITOR_LOG_FORMAT", "text"))

    store: Store | None = None
    ledger: RunLedger
    if args.cluster:
        from monitor.cluster import ResultPublisher

        worker = os.environ.get("MONITOR_WORKER_NAME") or f"{socket.gethostname()}:{os.getpid()}"
        ledger = ResultPublisher(args.cluster, worker)
        settings.set("MONITOR_CLUSTER", args.cluster, priority="cmdline")
        settings.set("MONITOR_WORKER_NAME", worker, priority="cmdline")
        # The delay and concurrency budget are the cluster's, per host across workers (ClusterPolitenessMiddleware),
        # taken just before a request is queued for download: a local delay (or AutoThrottle's) after it would
        # reorder hosts' turns.
        settings.set("MONITOR_CLUSTER_DELAY", settings.getfloat("DOWNLOAD_DELAY"), priority="cmdline")
        settings.set(
            "MONITOR_CLUSTER_CONCURRENCY", settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"), priority="cmdline"
        )
        settings.set("DOWNLOAD_DELAY", 0, priority="cmdline")
        settings.set("AUTOTHROTTLE_ENABLED", False, priority="cmdline")
    else:
        store = Store.open(args.db)
        ledger = StoreLedger(store)
    analyser = Analyser(config.rules, config.alerts.threshold, config.crawl.workers, config.alerts.max_age_seconds)
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(NewsSpider)
    engine = Engine(config, store, crawler, events)
    crawler.signals.connect(engine.spider_opened, signal=signals.spider_opened)
    process.crawl(crawler, config=config, ledger=ledger, analyser=analyser)

    from twisted.internet import reactor

    def read_commands() -> None:
        while (message := receive(commands)) is not None:
            cast(Any, reactor).callFromThread(engine.command, message)
        gone = Drain(grace=None, reason="the monitor that started the engine is gone")
        cast(Any, reactor).callFromThread(engine.command, gone)

    threading.Thread(target=read_commands, name="engine-commands", daemon=True).start()
    # The monitor decides when runs stop: a Ctrl-C meant for it (sent to the whole process group) is
    # not this process's to act on, and a SIGTERM (systemd's, to every process of the service) drains.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(
        signal.SIGTERM,
        lambda *_: cast(Any, reactor).callFromThread(engine.command, Drain(None, "the engine was sent SIGTERM")),
    )
    try:
        process.start(install_signal_handlers=False)
    finally:
        analyser.close()
        if store is not None:
            store.close()
        events.close()
    return 0


if __name__ == "__main__":
    status = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit now: the command reader may still be blocked on stdin, which the interpreter's
    # shutdown would wait for, and the collector's last walk over every object costs ~0.5 s.
    os._exit(status)
