"""Opening the SQLite store: pragmas, schema upgrades, write transactions.

Every write that must be all-or-nothing (an article, its matches and the alerts
it owes) happens in one ``BEGIN IMMEDIATE`` transaction, so a crawl and an alert
sender can write at once and a crash never leaves a match without its alerts.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.store.migrations import LATEST_VERSION, current_version, migrate

BUSY_TIMEOUT_MS = 30_000


class Store:
    """An open store. Use ``Store.open(path)``; close it when done (or use it as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> Store:
        """Open (and create or upgrade) the store at ``path``; StoreError if it is unusable."""
        target = Path(path)
        if not create and not target.exists():
            raise StoreError(f"{target}: no store here yet (run `monitor run` or `monitor demo` first)")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
            conn = sqlite3.connect(
                str(target), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: the outbox lives here, and a lost alert row matters more than a few ms per commit.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            version = current_version(conn)
            if version > LATEST_VERSION:
                raise StoreError(
                    f"{target}: schema version {version} is newer than this monitor knows"
                    f" ({LATEST_VERSION}); upgrade monitor"
                )
            migrate(conn)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{target}: cannot open the store: {unusable_because(target) or error}") from error
        except OSError as error:
            why = "it is a file, not a folder" if isinstance(error, FileExistsError) else error.strerror or str(error)
            raise StoreError(
                f"{target}: cannot create the store's folder {error.filename or target.parent}: {why}"
            ) from error
        return cls(conn, str(target))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken with BEGIN IMMEDIATE so it never fails half-way on a lock.

        Inside another write (a batch of them, ``ingest.SaveBatch``) it is a savepoint: it
        commits with the outer one, and rolls back alone if it fails.
        """
        if self.conn.in_transaction:
            self.conn.execute("SAVEPOINT nested_write")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK TO nested_write")
                self.conn.execute("RELEASE nested_write")
                raise
            self.conn.execute("RELEASE nested_write")
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise StoreError(f"{self.path}: cannot start a write: {error}") from error
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return [dict(row) for row in self.conn.execute(sql, params)]


def unusable_because(target: Path) -> str:
    """Why SQLite cannot use a store at ``target``, found by trying what it needs; "" if nothing is found.

    SQLite only says "unable to open database file". It needs to write in the store's
    folder (the store itself, and its -wal and -shm files beside it) and to read and
    write the store's file.
    """
    folder = target.absolute().parent
    probe = folder / f".{target.name}-probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as error:
        return (
            f"its folder {folder} is not writable ({error.strerror}): SQLite writes the store and its -wal and -shm"
            " files there; make the folder writable, or put the store somewhere writable with --db or MONITOR_DB"
        )
    probe.unlink()
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        return f"the file {target.absolute()} is not readable and writable by this user"
    return ""
