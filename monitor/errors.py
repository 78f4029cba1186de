"""Typed exceptions of the core. Only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base class for every error the core raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, located by file and line."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ConfigError(MonitorError):
    """The configuration is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(MonitorError):
    """The SQLite store cannot be opened, read or upgraded."""


class ExtractionError(MonitorError):
    """A page could not be turned into an article (not HTML, empty, unreadable)."""


class FetchError(MonitorError):
    """A single page or URL could not be fetched (used outside Scrapy, e.g. ``monitor score URL``)."""


class DemoStoreError(MonitorError):
    """``monitor demo`` was pointed at a file that is not a demo store: it refuses to replace it."""


class AlreadyServing(MonitorError):
    """Another ``monitor serve`` is running on the store; carries its pid (None if it could not be read)."""

    def __init__(self, store: str, pid: int | None):
        self.pid = pid
        who = f"pid {pid}" if pid is not None else "its pid unknown"
        super().__init__(
            f"{store}: another `monitor serve` is running on this store ({who}); stop it before starting one more"
        )
