"""Apprise destinations: the long tail of chat and push services (Telegram, Matrix, ntfy, …) through one URL.

The message is the email's subject and plain part (``mail.mail_text``), sent as text.
Apprise says only whether a service took it, so every failure is treated as
temporary and retried on the schedule; retries exhausted pause the destination as
for any other. The URL is a credential (its "host" is often a token): Apprise's own
log lines go through the same scrubbing as urllib3's (``redact.protect_logs``).

Apprise makes its own connections. When the URL names a server (a dotted name, an
IP address, localhost), that name is resolved here first and the destination is
not contacted if the ``NetworkPolicy`` allows none of its addresses; Apprise then
resolves it again itself. Services with a fixed public endpoint (``tgram://``) are
not checked. The attempt is bounded by the destination's timeout, for the whole
call and for each connect and read.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from monitor.alerts.redact import reads_as_server
from monitor.alerts.transport import HttpResult
from monitor.netpolicy import AddressRefused, NetworkPolicy

ERROR_LINES = 3  # of Apprise's warnings and errors, kept in the result


def notify(url: str, title: str, body: str, timeout: float, policy: NetworkPolicy | None = None) -> HttpResult:
    """Send ``title`` and ``body`` through the Apprise ``url`` within ``timeout`` seconds; never raises for trouble."""
    started = time.monotonic()
    try:
        check_host(url, policy)
    except AddressRefused as refused:
        return HttpResult(None, error=f"refused: {refused}", seconds=time.monotonic() - started, refused=True)
    except OSError as error:
        return HttpResult(None, error=f"the service's name does not resolve ({error})", seconds=0.0)
    import apprise  # here: loading its services takes a fifth of a second, and only apprise destinations need it

    asset = apprise.AppriseAsset(storage_mode="memory")  # nothing written to disk
    plugin = apprise.Apprise.instantiate(url, asset=asset)
    if plugin is None:
        return HttpResult(None, error="Apprise cannot use this URL", seconds=time.monotonic() - started)
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    if "overflow=" not in url:  # a digest longer than the service takes is cut, not refused
        plugin.overflow_mode = apprise.OverflowMode.TRUNCATE
    client = apprise.Apprise(asset=asset)
    client.add(plugin)
    result = client.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT, timeout=timeout)
    seconds = time.monotonic() - started
    if result:
        return HttpResult(None, seconds=seconds, accepted=True)
    said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    detail = "; ".join(" ".join(line.split()) for line in said[-ERROR_LINES:])
    return HttpResult(None, error="Apprise reported a failure" + (f": {detail}" if detail else ""), seconds=seconds)


def check_host(url: str, policy: NetworkPolicy | None) -> None:
    """AddressRefused if ``url`` names a server whose addresses ``policy`` all refuses; OSError if it cannot resolve."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return
    if policy is None or not host or not reads_as_server(host) or policy.trusts(host):
        return
    found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    policy.allowed_addresses(host, list(dict.fromkeys(str(info[4][0]) for info in found)))
