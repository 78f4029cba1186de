"""The cluster's Redis: its keys, its signed messages, and calls that outlast an outage.

Every key lives under ``monitor:``. Messages are pickled and signed with HMAC-SHA256
under ``MONITOR_CLUSTER_KEY``: whoever can write to Redis cannot make the writer or a
worker unpickle something it did not sign. Redis calls that fail are retried with a
backoff (1 s doubling to 30 s), and each outage is logged once, when it starts and
when it ends.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis

from monitor.errors import MonitorError

log = logging.getLogger("monitor.cluster")

KEY_ENV = "MONITOR_CLUSTER_KEY"
TASKS = "monitor:tasks"  # stream of source-runs, read by the group WORKERS
PAGES = "monitor:pages"  # stream of article pages the runs handed out, read by the group WORKERS
RESULTS = "monitor:results"  # stream of what runs found, read by the group WRITERS
WORKERS = "monitor:workers"  # hash: worker name -> its heartbeat (JSON)
ALIVE = "monitor:alive:"  # + worker name: set by each heartbeat, lapsing soon after the last (its slots die with it)
CONFIG = "monitor:config"  # hash: "hash" and "blob" (the signed configuration workers run)
SEEN = "monitor:seen"  # hash: URL -> when the store last fetched it (ISO), the workers' "seen before"
SEEN_READY = "monitor:seen:ready"  # set once SEEN holds the whole store
POLITE = "monitor:polite:"  # + host: held for the host's download delay after each request
BUSY = "monitor:busy:"  # + host: sorted set of the requests to the host in flight (score: when the hold lapses)
ROBOTS = "monitor:robots:"  # + scheme://host: the host's robots.txt as fetched, for crawl.robots_max_age
REREAD = "monitor:reread"  # set: indexes to read in full at their next run (a page they named was not fetched)
WORKER_GROUP = "workers"
WRITER_GROUP = "writer"
WRITER_NAME = "writer"  # one writer: a restarted one reads its own pending entries again

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0

T = TypeVar("T")


class ClusterError(MonitorError):
    """The cluster cannot be used: no signing key, a bad URL, a message that is not ours."""


def signing_key() -> bytes:
    """The shared key from the environment; ClusterError without one."""
    key = os.environ.get(KEY_ENV, "")
    if len(key) < 16:
        raise ClusterError(f"set {KEY_ENV} (at least 16 characters, the same on the writer and every worker)")
    return key.encode()


def seal(message: object, key: bytes) -> bytes:
    """A message as bytes for Redis: its HMAC, then its pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return hmac.new(key, data, hashlib.sha256).digest() + data


def unseal(blob: bytes, key: bytes) -> object:
    """The message in ``blob``; ClusterError if it was not signed with ``key``."""
    mac, data = blob[:32], blob[32:]
    if len(blob) < 32 or not hmac.compare_digest(mac, hmac.new(key, data, hashlib.sha256).digest()):
        raise ClusterError("a message in Redis is not signed with this cluster's key: ignored")
    try:
        return pickle.loads(data)
    except Exception as error:  # signed by us, but by another version of the code
        raise ClusterError(
            f"a message in Redis cannot be read ({error}): do the writer and workers run one version?"
        ) from error


def connect(url: str) -> Any:
    """A client for ``url`` (redis://HOST:PORT/DB); nothing is sent yet.

    Typed ``Any``: redis-py's own annotations make every reply ``bytes | str | int``.
    """
    try:
        return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
    except ValueError as error:
        raise ClusterError(f"not a Redis URL: {redact(url)} ({error})") from error


def redact(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Outage:
    """Retries Redis calls through an outage, logging its start and end once."""

    def __init__(self, what: str, stop: threading.Event | None = None):
        self.what = what
        self.stop = stop or threading.Event()
        self.since: float | None = None
        self.backoff = FIRST_BACKOFF

    def call(self, action: Callable[[], T]) -> T:
        """``action()``, again and again while Redis is unreachable; ClusterError once ``stop`` is set."""
        while True:
            try:
                result = action()
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as error:
                self.failed(error)
                if self.stop.wait(self.backoff):
                    raise ClusterError(f"{self.what}: stopped while Redis was unreachable") from error
                self.backoff = min(MAX_BACKOFF, self.backoff * 2)
                continue
            self.succeeded()
            return result

    def failed(self, error: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s: Redis unreachable (%s); retrying until it is back", self.what, error)

    def succeeded(self) -> None:
        if self.since is not None:
            log.warning("%s: Redis is back after %.0f s", self.what, time.monotonic() - self.since)
            self.since = None
            self.backoff = FIRST_BACKOFF


def settle(pipe: Any, stream: str, group: str, *ids: str) -> None:
    """In ``pipe``: acknowledge the entries ``ids`` of ``stream`` for ``group`` and delete them, done with."""
    pipe.xack(stream, group, *ids)
    pipe.xdel(stream, *ids)


def as_text(value: bytes | str) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else value


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) unless it exists."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
