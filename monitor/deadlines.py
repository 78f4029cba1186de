"""One hard deadline for everything an HTTP exchange does: connect, headers and body.

Per-read timeouts cannot bound a server that trickles a byte a second, headers
included. Under ``deadline(seconds)``, every socket a deadline-aware session (see
``make_session`` and ``use_deadlines``) opens or reuses is registered with a
watchdog; when the deadline passes, the watchdog shuts those sockets down, which
wakes any blocked send or recv in the requesting thread at once and makes the
request fail with one of ``NETWORK_ERRORS``.

Under ``guarded(policy)``, such a session also resolves each host itself, keeps only
the addresses ``policy`` allows (``monitor.netpolicy``) and connects to those, so the
address checked is the address connected to; when none is allowed it raises
``AddressRefused`` before any connection. Connections through a proxy are the
proxy's, which resolves the name itself: they are not checked.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import requests
import urllib3
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from monitor.netpolicy import NetworkPolicy

# What a request can raise for network trouble, a cut by the watchdog included.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


class Deadline:
    """The watchdog of one ``deadline`` block: cuts every socket registered with it once time is up."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.monotonic()
        self._lock = threading.Lock()
        # Sockets as well as connections: http.client drops ``conn.sock`` once a closing response owns the socket.
        self._watched: list[Any] = []
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed (the watchdog fired, or the clock says so)."""
        return self.fired or time.monotonic() - self.started > self.seconds

    def watch(self, item: Any) -> None:
        """Cut ``item`` (a socket, or a connection's socket) when the deadline passes, or now if it has."""
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


_CURRENT: ContextVar[Deadline | None] = ContextVar("monitor_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every request made in the block on a deadline-aware session to ``seconds`` in all."""
    watchdog = Deadline(seconds)
    token = _CURRENT.set(watchdog)
    watchdog._timer.start()
    try:
        yield watchdog
    finally:
        watchdog._timer.cancel()
        watchdog._timer.join()  # no watchdog thread outlives its block
        _CURRENT.reset(token)


def _cut(item: Any) -> None:
    """Shut a socket (or a connection's socket) down; not close it: the requesting thread owns the descriptor."""
    sock = item if isinstance(item, socket.socket) else getattr(item, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


def _watch(item: Any) -> None:
    watchdog = _CURRENT.get()
    if watchdog is not None:
        watchdog.watch(item)


_POLICY: ContextVar[NetworkPolicy | None] = ContextVar("monitor_network_policy", default=None)


@contextlib.contextmanager
def guarded(policy: NetworkPolicy | None) -> Iterator[None]:
    """Connect only where ``policy`` allows in the block, on a deadline-aware session (None: anywhere)."""
    token = _POLICY.set(policy)
    try:
        yield
    finally:
        _POLICY.reset(token)


def _checked_conn(conn: HTTPConnection, connect: Callable[[], socket.socket]) -> socket.socket:
    """``connect()`` to the addresses of ``conn``'s host that the block's policy allows, resolved once, here."""
    policy = _POLICY.get()
    host = conn._dns_host  # the name urllib3 would resolve (``conn.host`` is what TLS checks and stays)
    if policy is None or conn.proxy is not None or policy.trusts(host):
        return connect()
    try:
        found = socket.getaddrinfo(host, conn.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NameResolutionError(host, conn, error) from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    failure: BaseException | None = None
    for address in policy.allowed_addresses(host, addresses):
        conn._dns_host = address
        try:
            return connect()
        except NETWORK_ERRORS as error:
            failure = error
        finally:
            conn._dns_host = host
    raise failure or NameResolutionError(host, conn, socket.gaierror("no address"))


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = _checked_conn(self, super()._new_conn)
        _watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = _checked_conn(self, super()._new_conn)
        _watch(sock)  # cuts a slow TLS handshake only once it is done; the connect timeout bounds it meanwhile
        return sock

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)  # the TLS socket that replaced the raw one


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch(conn)  # a kept-alive connection opened before this deadline
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch(conn)
        return super()._make_request(conn, *args, **kwargs)


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections a ``deadline`` can cut (SOCKS proxies excepted)."""

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
    """A requests Session whose http and https requests a ``deadline`` can cut."""
    session = requests.Session()
    use_deadlines(session)
    return session


def use_deadlines(session: requests.Session) -> None:
    """Mount ``DeadlineAdapter`` on ``session`` for http and https, unless it already has it."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), DeadlineAdapter):
            session.mount(prefix, DeadlineAdapter())
