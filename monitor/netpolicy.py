"""Which addresses the monitor may connect to: public ones, and internal ones only where the operator said so.

Feeds, pages and redirects are written by strangers, and so is the DNS of every name
they point to: a link to ``http://169.254.169.254/`` (a cloud's metadata service) or a
name that resolves to ``127.0.0.1`` must not make the monitor fetch from inside its own
network. An address is *internal* when it is loopback, private, link-local, multicast,
reserved or otherwise not globally routable, IPv4 or IPv6 (an IPv6 address that embeds
an IPv4 one is judged by the IPv4 one). A connection to an internal address is refused
unless it is to a host the operator wrote themselves as an internal IP literal or as
``localhost`` (the host of a source's or a destination's own URL), or the address is in
``crawl.allow_private_networks``. The checks are made on the address actually
connected to, after DNS: the callers resolve once and connect to what was checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.errors import MonitorError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "crawl.allow_private_networks"
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: neither private nor global
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses (::a.b.c.d)


class AddressRefused(MonitorError):
    """A connection to an internal address that nobody allowed; it was not made."""

    def __init__(self, host: str, address: Address, kind: str):
        self.host = host
        self.address = address
        self.kind = kind
        where = f"{host} is" if parse_ip(host) == address else f"{host} resolves to {address},"
        super().__init__(
            f"{where} {_article(kind)} {kind} address: not contacted (allow its network in {SETTING} to reach it)"
        )


def parse_ip(host: str) -> Address | None:
    """The IP address ``host`` is written as (``127.0.0.1``, ``::1``, ``[::1]``), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a name under it, which always means this machine (RFC 6761)."""
    name = host.lower()
    return name == "localhost" or name.endswith(".localhost")


def internal_kind(address: Address) -> str | None:
    """What makes ``address`` internal (``loopback``, ``private``, ``link-local`` ...), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or (address in _COMPATIBLE and int(address) > 1)):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return internal_kind(embedded)
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in _SHARED, "shared (carrier-grade NAT)"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "reserved"),
    )
    return next((kind for internal, kind in checks if internal), None)


def parse_network(text: str) -> Network:
    """A network written as a CIDR (``10.0.0.0/8``, ``fd00::/8``; a bare address is one host); ValueError if not."""
    value = text.strip()
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"must be a network like 10.0.0.0/8 or fd00::/8, not {text!r}") from None
    raise ValueError(
        f"{value!r} has bits set after its /{loose.prefixlen} prefix: write {loose}"
        f" for the network, or {value.split('/')[0]}/{loose.max_prefixlen} for one address"
    )


def host_of(url: str) -> str | None:
    """The host a URL connects to (lower-case; an IP address in its canonical form), or None."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return canonical_host(host) if host else None


def canonical_host(host: str) -> str:
    """``host`` as compared with a trusted one: lower-case, an IP address in its canonical form."""
    address = parse_ip(host)
    return str(address) if address is not None else host.lower()


@dataclass(frozen=True)
class NetworkPolicy:
    """Where connections may go: any public address; internal ones in ``allowed``, or on the ``trusted`` hosts."""

    allowed: tuple[Network, ...] = ()
    trusted: frozenset[str] = frozenset()  # hosts the operator wrote as an internal address or localhost

    @classmethod
    def of(cls, networks: Iterable[str], own_url: str | None = None) -> NetworkPolicy:
        """The policy of a source or destination: ``networks`` (CIDRs) allowed, and its own URL's host if internal."""
        allowed = tuple(parse_network(text) for text in networks)
        home = host_of(own_url) if own_url else None
        if home is None:
            return cls(allowed)
        address = parse_ip(home)
        internal = is_loopback_name(home) or (address is not None and internal_kind(address) is not None)
        return cls(allowed, frozenset({home}) if internal else frozenset())

    def trusts(self, host: str) -> bool:
        """Whether ``host`` is one the operator wrote as internal: reached on any port, whatever it resolves to."""
        return canonical_host(host) in self.trusted

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be connected to (its kind of internal address), or None when it may."""
        kind = internal_kind(address)
        if kind is None:
            return None
        plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        candidates = [address] if plain is None else [address, plain]
        if any(candidate in network for network in self.allowed for candidate in candidates):
            return None
        return kind

    def check(self, host: str, address: Address) -> None:
        """Raise AddressRefused unless a connection to ``address``, asked for as ``host``, is allowed."""
        if self.trusts(host):
            return
        kind = self.refusal(address)
        if kind is not None:
            raise AddressRefused(host, address, kind)

    def allowed_addresses(self, host: str, addresses: Iterable[str]) -> list[str]:
        """Of the addresses ``host`` resolved to, those that may be connected to; AddressRefused if none may."""
        kept: list[str] = []
        refused: AddressRefused | None = None
        for text in addresses:
            address = parse_ip(text)
            if address is None:
                continue
            try:
                self.check(host, address)
            except AddressRefused as error:
                refused = refused or error
                continue
            kept.append(text)
        if not kept and refused is not None:
            raise refused
        return kept


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
