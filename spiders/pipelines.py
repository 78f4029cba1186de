"""The one item pipeline: hand each fetched page to the core and let it analyse and store it."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler

from monitor.models import Page
from spiders.news import NewsSpider


class StorePipeline:
    """Analyses each Page in the worker pool and saves the article, its matches and alerts."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Page):
            spider = self.crawler.spider
            assert isinstance(spider, NewsSpider)  # the one spider that yields pages
            await spider.session.process(item)
        return item
