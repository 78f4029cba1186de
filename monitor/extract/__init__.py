"""From the web to an article: discovery, fetching, page metadata, publication dates, extraction, stories.

What other packages use: ``extract_article`` (HTML and a URL to an ``Article``),
discovery (links from feeds, sitemaps, robots.txt and listing pages), ``fetch_page``
and ``read_page`` (one page outside a crawl), and the story signature. Inside:
``discovery``, ``fetch``, ``pagemeta`` (titles, JSON-LD), ``published`` (dates),
``article`` (the extraction), ``stories`` (near-duplicate signatures). Nothing here
touches the store or sends anything.
"""

from monitor.extract.article import extract_article
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
from monitor.extract.stories import SAME_STORY, band_hashes, signature, similarity

__all__ = [
    "SAME_STORY",
    "DiscoveryError",
    "Link",
    "SitemapContent",
    "band_hashes",
    "extract_article",
    "fetch_page",
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
