"""Which process is doing what on a store: lock files beside it, each held by one process at a time.

``monitor serve`` holds the store's ``serve`` lock while it runs, so a second one refuses
to start. Every crawl holds a lease on each source it crawls, so a ``monitor run`` beside
``serve`` (or beside another ``monitor run``) leaves a source that is being crawled alone,
and a source whose lease is free has no live crawl: a run of it still ``running`` was left
by processes that are gone. Both are ``flock`` locks on files in ``<store>-locks/``: the
kernel releases one when the last process holding it ends, however it ends, so no lock is
ever stale. The crawl engine takes each source's lease for the length of its run, so a crawl
that outlives the process that started it keeps its sources until it ends too. A lock file holds
the pid of the process that took it last, to name it to whoever finds it taken.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from monitor.errors import AlreadyServing, StoreError

__all__ = ["Lock", "SourceLeases", "hold_store", "locks_folder"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def locks_folder(db_path: str | Path) -> Path:
    """The folder of a store's lock files, ``<store>-locks`` beside it: the same for every path to the store."""
    store = Path(db_path).resolve()
    return store.with_name(store.name + "-locks")


class Lock:
    """A lock file this process holds (an exclusive ``flock``) until ``release``."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd

    def release(self) -> None:
        """Give the lock back (a process that ends gives its locks back anyway)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_lock(path: Path) -> Lock | None:
    """Take the lock at ``path`` now and write this process's pid in it; None while another process holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise StoreError(f"{path}: cannot open the lock file: {error}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as error:
        os.close(fd)
        raise StoreError(f"{path}: cannot take the lock: {error}") from error
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass  # the lock is held all the same; only the pid shown to others is missing
    return Lock(path, fd)


def holder(path: Path) -> int | None:
    """The pid written in the lock file at ``path`` (the process that took it last); None if none can be read."""
    for _ in range(20):
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.05)  # taken a moment ago: its pid is being written
    return None


def hold_store(db_path: str | Path) -> Lock:
    """Take the store's ``serve`` lock for this process; AlreadyServing, naming the holder's pid, if it is taken."""
    path = locks_folder(db_path) / "serve.lock"
    lock = try_lock(path)
    if lock is None:
        raise AlreadyServing(str(db_path), holder(path))
    return lock


def source_lock_file(folder: Path, source: str) -> Path:
    """The lease file of ``source``: part of its name, readable, and a hash of it all (a name may hold anything)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    return folder / f"source-{_UNSAFE.sub('-', source)[:40]}-{digest}.lock"


class SourceLeases:
    """The leases taken for one crawl: ``held``, the sources it may crawl; ``busy``, those another process is crawling.

    ``busy`` maps each such source to the pid of the process that took its lease (None if unknown).
    """

    def __init__(self, db_path: str | Path, sources: Iterable[str]):
        folder = locks_folder(db_path)
        self.held: list[str] = []
        self.busy: dict[str, int | None] = {}
        self._locks: list[Lock] = []
        try:
            for source in dict.fromkeys(sources):
                path = source_lock_file(folder, source)
                lock = try_lock(path)
                if lock is None:
                    self.busy[source] = holder(path)
                else:
                    self.held.append(source)
                    self._locks.append(lock)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give every held lease back."""
        for lock in self._locks:
            lock.release()
        self._locks = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
