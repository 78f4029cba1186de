"""Crawl some sources in this process and write a JSON report: what ``monitor run`` starts.

Each ``monitor run`` (and each scheduled run in ``monitor serve``) starts this in
a fresh process, because a Twisted reactor cannot be restarted: a crash or a
leak in one crawl dies with its process. With ``--config-from-stdin`` the parent
pipes in the configuration it validated (a pickled ``monitor.config.Config``), so the
crawl runs that, unparsed again, even if the file has changed. Usage::

    python -m spiders.crawl --config rules.yaml [--config-from-stdin] --db db/monitor.db --report out.json \
        [--source NAME ...] [--deadline SECONDS]

With ``--deadline``, every spider still crawling after that many seconds is closed
(Scrapy's ``CLOSESPIDER_TIMEOUT``): its run is recorded as failed with a ``deadline``
error, its counters kept, and the report written as usual.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import sys
from pathlib import Path
from typing import BinaryIO

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from monitor.config import Config, load_config
from monitor.errors import MonitorError
from monitor.ingest import Analyser
from monitor.logs import configure_logging
from monitor.models import SourceRunSummary
from spiders import settings as default_settings
from spiders.news import NewsSpider


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spiders.crawl")
    parser.add_argument("--config", required=True)
    # The configuration the parent validated (monitor serve's running one), pickled; --config names it.
    parser.add_argument("--config-from-stdin", action="store_true")
    parser.add_argument("--db", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--source", action="append", default=[])
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--deadline", type=float, help="close every spider still crawling after SECONDS")
    args = parser.parse_args(argv)
    try:
        config = _config_from(sys.stdin.buffer) if args.config_from_stdin else load_config(args.config)
        names = args.source or [s.name for s in config.sources if s.enabled]
        sources = [config.source(name) for name in names]
    except (MonitorError, KeyError) as error:
        print(f"crawl: {error}", file=sys.stderr)
        return 2

    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.setdict(default_settings.from_config(config), priority="cmdline")
    settings.set("LOG_LEVEL", args.log_level, priority="cmdline")
    settings.set("MONITOR_CONFIG", args.config, priority="cmdline")
    settings.set("MONITOR_LOADED_CONFIG", config, priority="cmdline")  # loaded once, for every spider
    settings.set("MONITOR_DB", args.db, priority="cmdline")
    if args.deadline:
        settings.set("CLOSESPIDER_TIMEOUT", args.deadline, priority="cmdline")
    analyser = Analyser(config.rules, config.alerts.threshold, config.crawl.workers, config.alerts.max_age_seconds)
    settings.set("MONITOR_ANALYSER", analyser, priority="cmdline")

    # The monitor's handler, not Scrapy's: its format, one line per event, and its detail per -v (monitor.logs).
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    configure_logging(args.log_level, os.environ.get("MONITOR_LOG_FORMAT", "text"))
    process = CrawlerProcess(settings)
    crawlers: list[tuple[str, Crawler]] = []
    for source in sources:
        crawler = process.create_crawler(NewsSpider)
        crawlers.append((source.name, crawler))
        process.crawl(crawler, source=source.name)
    try:
        process.start()
    finally:
        analyser.close()

    report: list[SourceRunSummary] = []
    for name, crawler in crawlers:
        spider = crawler.spider
        summary = spider.summary if isinstance(spider, NewsSpider) else None
        if summary is None:
            summary = SourceRunSummary(
                source=name, status="failed", errors=1, message="the spider did not start (see the log)"
            )
        report.append(summary)
    Path(args.report).write_text(json.dumps([entry.to_json() for entry in report]), encoding="utf-8")
    return 0


def _config_from(stream: BinaryIO) -> Config:
    """The parent's validated configuration, unpickled from its pipe (trusted: our own parent wrote it)."""
    config = pickle.load(stream)
    if not isinstance(config, Config):
        raise MonitorError(f"expected a pickled Config on stdin, got {type(config).__name__}")
    return config


if __name__ == "__main__":
    status = main()
    # About to exit: spare the collector a last walk over every object of Scrapy and the rules (~0.5 s).
    gc.freeze()
    sys.exit(status)
