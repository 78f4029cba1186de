"""Logging: one line per event, as text for people or JSON for log shippers, with secrets scrubbed.

Three levels of detail, chosen with ``-v``: WARNING (the default) shows problems, one
line each; INFO (``-v``) adds the monitor's own account, one line per article stored or
alerted; DEBUG (``-vv``) adds the crawl's own details (Scrapy's settings, requests and
stats) and tracebacks. Below DEBUG, libraries speak only from WARNING up, an exception is
its type and message on the event's line, and Scrapy's reports of a failed download are
left out: the monitor logs (and records) each failed request itself, in one line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OWN_LOGGERS = ("monitor", "spiders")
# Scrapy's own lines about a request that failed, with a traceback: the spider's errback reports each one.
DOWNLOAD_FAILURES = (
    ("scrapy.downloadermiddlewares.retry", "Gave up retrying"),
    ("scrapy.downloadermiddlewares.robotstxt", "Error downloading"),
)


def _own(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] in OWN_LOGGERS


def _one_line(text: str) -> str:
    """A multi-line message (Scrapy's settings and stats dumps, a list of problems) on one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _exception_line(record: logging.LogRecord) -> str:
    """The record's exception as ``Type: message``, or "" when it has none."""
    if not record.exc_info or record.exc_info[1] is None:
        return ""
    error = record.exc_info[1]
    return _one_line(f"{type(error).__name__}: {error}")


class DetailFilter(logging.Filter):
    """Below DEBUG: libraries' records from WARNING up only, and none of Scrapy's download-failure reports."""

    def __init__(self, level: int):
        super().__init__()
        self.details = level <= logging.DEBUG

    def filter(self, record: logging.LogRecord) -> bool:
        if _own(record):
            return True
        # Scrapy's DEBUG lines dump every item, whole pages included: its INFO is detail enough.
        floor = logging.INFO if self.details else logging.WARNING
        # Scrapy sets its own loggers to DEBUG, so their records reach the handler whatever the root's level.
        if record.levelno < max(floor, logging.getLogger().getEffectiveLevel()):
            return False
        if self.details:
            return True
        message = record.msg if isinstance(record.msg, str) else ""
        return not any(record.name == name and message.startswith(start) for name, start in DOWNLOAD_FAILURES)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, each event on one line; with ``tracebacks``, an exception's traceback follows it."""

    def __init__(self, *, tracebacks: bool = False):
        super().__init__(TEXT_FORMAT)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        # Not logging.Formatter.format: it caches the traceback on the record, for every other handler too.
        record.message = _one_line(record.getMessage())
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        if self.tracebacks and record.exc_info:
            return line + "\n" + self.formatException(record.exc_info)
        exception = _exception_line(record)
        return f"{line} ({exception})" if exception else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def __init__(self, *, tracebacks: bool = True):
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info) if self.tracebacks else _exception_line(record)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int | str = logging.WARNING, fmt: str = "text") -> None:
    """Send log records to stderr, one line each, in ``fmt`` ("text" or "json"), with the detail of ``level``."""
    number = logging.getLevelName(level) if isinstance(level, str) else level
    tracebacks = number <= logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(tracebacks=tracebacks) if fmt == "json" else TextFormatter(tracebacks=tracebacks)
    )
    handler.addFilter(DetailFilter(number))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(number)
    # Library warnings become log records too, so every line on stderr has the chosen format.
    logging.captureWarnings(True)
