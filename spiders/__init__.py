"""Scrapy spiders and thin adapters over the ``monitor`` core.

Sources are data in ``rules.yaml``: one generic spider, ``news``, crawls any of
them (``scrapy crawl news -a source=NAME``). Everything beyond fetching and
following links (extraction, scoring, storage, alerts) happens in the core.
"""
