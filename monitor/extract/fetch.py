"""Fetch one page outside a crawl (for ``monitor score URL``), with the crawl's limits."""

from __future__ import annotations

from pathlib import Path

from w3lib.encoding import html_to_unicode

from monitor.config import CrawlSpec
from monitor.deadlines import NETWORK_ERRORS, deadline, guarded, make_session
from monitor.errors import FetchError
from monitor.extract.discovery import is_fetchable
from monitor.netpolicy import AddressRefused, NetworkPolicy


def fetch_page(url: str, crawl: CrawlSpec) -> tuple[str, str]:
    """GET ``url``; return (final URL, HTML text). FetchError on any failure, size or time overrun.

    ``crawl.timeout_seconds`` bounds the whole fetch, redirects, headers and body included.
    As in a crawl, the URL's own host may be internal (the operator wrote it), but a redirect
    to another internal address is refused unless ``crawl.allow_private_networks`` allows it.
    """
    if not is_fetchable(url):
        raise FetchError(f"{url}: only http:// and https:// URLs can be fetched")
    too_slow = f"{url}: took longer than {crawl.timeout_seconds} s; stopped"
    policy = NetworkPolicy.of(crawl.allow_private_networks, url)
    with deadline(crawl.timeout_seconds) as limit, guarded(policy):
        try:
            with (
                make_session() as session,
                session.get(
                    url,
                    headers={"User-Agent": crawl.user_agent},
                    timeout=crawl.timeout_seconds,
                    stream=True,
                    allow_redirects=True,
                ) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > crawl.max_page_bytes:
                        raise FetchError(f"{url}: larger than {crawl.max_page_bytes} bytes; refused")
                    if limit.expired:
                        raise FetchError(too_slow)
                content_type = response.headers.get("Content-Type", "")
                final_url = response.url
        except AddressRefused as refused:
            raise FetchError(f"{url}: refused: {refused}") from None
        except NETWORK_ERRORS as error:
            raise FetchError(too_slow if limit.expired else f"{url}: {type(error).__name__}") from None
    return final_url, decode_html(bytes(body), content_type)


def read_page(path: Path) -> str:
    """Read a saved page, decoding it the way a browser would."""
    try:
        return decode_html(path.read_bytes(), "")
    except OSError as error:
        raise FetchError(f"{path}: {error.strerror or error}") from None


def decode_html(body: bytes, content_type: str) -> str:
    """Bytes to text using the HTTP charset, the BOM, <meta charset>, or a good guess, in that order."""
    _, text = html_to_unicode(content_type or None, body)
    return text
