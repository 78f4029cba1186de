"""monitor: a media-monitoring scraper with alerts.

The core package: configuration, extraction, rules, store, alerts, scheduling
and the CLI. It never imports Scrapy; the crawl lives in the ``spiders``
package and talks to the core through ``monitor.ingest.analysis``.
"""

__version__ = "0.1.0"
