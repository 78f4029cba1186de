"""Local news sites on 127.0.0.1: pages, an RSS feed, a sitemap and robots.txt, served from memory.

Used by ``monitor demo``, the end-to-end tests and the benchmarks, so all three
crawl the same kind of site the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape

from monitor.localserver import LocalServer, QuietHandler


@dataclass(frozen=True)
class Story:
    """One article page of a site."""

    path: str
    title: str
    published: datetime
    summary: str
    html: str  # may contain "{base}", replaced by the site's base URL when served


@dataclass
class Route:
    """What the server answers for one path."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class LocalSite(LocalServer):
    """A threaded HTTP server on 127.0.0.1 answering from a dict of routes; a context manager."""

    def __init__(self, name: str = "site", routes: dict[str, Route] | None = None, port: int = 0):
        self.name = name
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[str] = []
        self._lock = threading.Lock()
        # A crawler hanging up mid-response (a size cap, a timeout) is expected here, not news.
        super().__init__(self._handler(), port=port, thread_name=f"site-{name}", report_errors=False)

    def add_news(
        self, title: str, stories: list[Story], *, feed_path: str = "/feed.xml", sitemap_path: str = "/sitemap.xml"
    ) -> None:
        """Serve ``stories`` with an RSS feed, a sitemap and a robots.txt that names the sitemap."""
        base = self.base
        for story in stories:
            self.routes[story.path] = Route(story.html.replace("{base}", base).encode("utf-8"))
        self.routes[feed_path] = Route(
            rss_feed(title, base, stories).encode("utf-8"), "application/rss+xml; charset=utf-8"
        )
        self.routes[sitemap_path] = Route(sitemap(base, stories).encode("utf-8"), "application/xml; charset=utf-8")
        self.routes.setdefault(
            "/robots.txt",
            Route(f"User-agent: *\nDisallow: /private/\nSitemap: {base}{sitemap_path}\n".encode(), "text/plain"),
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with site._lock:
                    site.requests.append(self.path)
                route = site.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    route = Route(b"<html><body><h1>Not found</h1></body></html>", status=404)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(route.body)

        return Handler


def rss_feed(title: str, base: str, stories: list[Story]) -> str:
    """An RSS 2.0 feed of ``stories``, newest first."""
    items = "".join(
        f"<item><title>{escape(s.title)}</title><link>{escape(base + s.path)}</link>"
        f"<guid>{escape(base + s.path)}</guid><pubDate>{format_datetime(s.published)}</pubDate>"
        f"<description>{escape(s.summary)}</description></item>"
        for s in sorted(stories, key=lambda s: s.published, reverse=True)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>{escape(base)}/</link><description>{escape(title)}</description>{items}</channel></rss>"
    )


def sitemap(base: str, stories: list[Story]) -> str:
    """A sitemap of ``stories`` with their dates."""
    urls = "".join(
        f"<url><loc>{escape(base + s.path)}</loc><lastmod>{s.published.isoformat()}</lastmod></url>" for s in stories
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )
