"""HTTP for alert delivery: one POST under one hard deadline, redirects never followed.

``post`` bounds the whole attempt (connect, headers and body), not each read: a
watchdog shuts the attempt's sockets down when its deadline passes, so a receiver
that trickles a byte a second is cut off like one that hangs. Only the first
``READ_LIMIT`` bytes of an answer are read. Error texts never quote the URL, which
is a credential.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

READ_LIMIT = 16 * 1024  # bytes of an answer read at most


@dataclass(frozen=True)
class HttpResult:
    """The answer to one POST, or why there was none (``error`` set, ``status`` maybe None)."""

    status: int | None
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


# The deadline watchdog. As urllib3 opens a socket or starts a request on a kept-alive
# connection, it is registered with the current attempt's watchdog; when the deadline
# passes, the watchdog shuts those sockets down, which wakes any blocked send or recv
# in the sending thread at once. Sockets are held as well as connections because
# http.client drops ``conn.sock`` once a closing response owns the socket.
_CURRENT: ContextVar[_Watchdog | None] = ContextVar("monitor_alerts_watchdog", default=None)


class _Watchdog:
    """Cuts every socket of one attempt when the attempt's deadline passes."""

    def __init__(self, seconds: float):
        self._lock = threading.Lock()
        self._watched: list[Any] = []  # sockets, and connections whose socket is cut
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join()

    def watch(self, item: Any) -> None:
        with self._lock:
            self._watched.append(item)
            fired = self.fired
        if fired:
            _cut(item)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            watched = list(self._watched)
        for item in watched:
            _cut(item)


def _cut(item: Any) -> None:
    """Shut a socket (or a connection's socket) down; not close it: the sending thread owns the descriptor."""
    sock = item if isinstance(item, socket.socket) else getattr(item, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


def _watch(item: Any) -> None:
    watchdog = _CURRENT.get()
    if watchdog is not None:
        watchdog.watch(item)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # cuts a slow TLS handshake only once it is done; the connect timeout bounds it meanwhile
        return sock

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)  # the TLS socket that replaced the raw one


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch(conn)  # a kept-alive connection opened during an earlier attempt
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch(conn)
        return super()._make_request(conn, *args, **kwargs)


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections a per-attempt deadline can cut (SOCKS proxies excepted)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def make_session() -> requests.Session:
    """A requests Session fit for delivery: deadline-aware adapters for http and https."""
    session = requests.Session()
    use_deadlines(session)
    return session


def use_deadlines(session: requests.Session) -> None:
    """Mount ``DeadlineAdapter`` on ``session`` for http and https, unless it already has it."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), DeadlineAdapter):
            session.mount(prefix, DeadlineAdapter())


def post(session: requests.Session, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpResult:
    """POST ``body`` to ``url`` within ``timeout`` seconds in all; never raises for network trouble.

    The answer's status, headers and first ``READ_LIMIT`` bytes are returned. Error
    texts never quote the URL (requests' own messages do, so they are not used).
    """
    started = time.monotonic()
    watchdog = _Watchdog(timeout)
    token = _CURRENT.set(watchdog)
    watchdog.start()
    response: requests.Response | None = None
    status: int | None = None
    answer_headers: Mapping[str, str] = {}
    chunks: list[bytes] = []
    error: str | None = None
    try:
        response = session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        status, answer_headers = response.status_code, response.headers
        size = 0
        for chunk in response.iter_content(chunk_size=1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= READ_LIMIT or watchdog.fired or time.monotonic() - started > timeout:
                break
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        error = describe_error(exc)
    finally:
        watchdog.stop()
        _CURRENT.reset(token)
        if response is not None:
            response.close()
    seconds = time.monotonic() - started
    if watchdog.fired or seconds > timeout:
        error = f"no complete answer within the {timeout:g} s deadline"
    text = b"".join(chunks).decode("utf-8", "replace")
    return HttpResult(status, text, answer_headers, error, seconds)


def describe_error(exc: BaseException) -> str:
    """A one-line description of a network failure that never quotes the URL."""
    kinds: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (requests.exceptions.ConnectTimeout, "connection timed out"),
        (requests.exceptions.Timeout, "timed out"),
        (requests.exceptions.SSLError, "TLS error"),
        (requests.exceptions.ProxyError, "proxy error"),
        (
            (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema),
            "invalid destination URL",
        ),
        ((requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError), "unreadable answer"),
        (requests.exceptions.ConnectionError, "connection failed"),
    ]
    kind = next((text for types, text in kinds if isinstance(exc, types)), type(exc).__name__)
    cause = _root_os_error(exc)
    return f"{kind} ({cause})" if cause else kind


def _root_os_error(exc: BaseException) -> str:
    """The deepest plain OS error behind ``exc`` (like "Connection refused"), or ""."""
    found = ""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack and len(seen) < 32:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # Only the interpreter's own OSErrors: urllib3's subclasses carry the connection in their args.
        if isinstance(current, OSError) and type(current).__module__ == "builtins" and current.strerror:
            found = current.strerror
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        stack.extend(item for item in nested if isinstance(item, BaseException))
    return found
