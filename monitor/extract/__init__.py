"""From the web to an article: discovery, fetching, page metadata, publication dates, extraction, stories.

What other packages use: ``extract_article`` (HTML and a URL to an ``Article``),
discovery (links from feeds, sitemaps, robots.txt and listing pages), ``fetch_page``
and ``read_page`` (one page outside a crawl), and the story signature (``fingerprint_of``, run
in the extraction workers, gives the store an article's ``Fingerprint``). Inside:
``discovery``, ``fetch``, ``pagemeta`` (titles, JSON-LD), ``published`` (dates),
``article`` (the extraction), ``stories`` (near-duplicate signatures). Nothing here
touches the store or sends anything.
"""

from monitor.extract.article import canonicalize_url, extract_article
from monitor.extract.discovery import (
    DiscoveryError,
    Link,
    SitemapContent,
    fresh_links,
    is_fetchable,
    links_from_feed,
    links_from_listing,
    links_from_sitemap,
    site_root,
    sitemaps_from_robots,
)
from monitor.extract.fetch import fetch_page, read_page
from monitor.extract.stories import Fingerprint, fingerprint_of, signature, similarity

__all__ = [
    "DiscoveryError",
    "Fingerprint",
    "Link",
    "SitemapContent",
    "canonicalize_url",
    "extract_article",
    "fetch_page",
    "fingerprint_of",
    "fresh_links",
    "is_fetchable",
    "links_from_feed",
    "links_from_listing",
    "links_from_sitemap",
    "read_page",
    "signature",
    "similarity",
    "site_root",
    "sitemaps_from_robots",
]
