"""From fetched pages to stored, scored articles: what the Scrapy adapter calls.

``analyse`` (extract, then score; run in the worker pool ``Analyser``), ``save_article``
(builds the alert payload and hands it to the store), ``CrawlSession`` (one source's
run: counters, errors, pages to save, through a ``RunLedger``) and ``may_be_relevant`` (the link prefilter).
"""

from monitor.ingest.analysis import Analysis, analyse, save_article
from monitor.ingest.batch import SaveBatch
from monitor.ingest.ledger import PageOrder, RunClaim, RunLedger, StoreLedger
from monitor.ingest.prefilter import may_be_relevant
from monitor.ingest.session import CrawlSession
from monitor.ingest.workers import Analyser

__all__ = [
    "Analyser",
    "Analysis",
    "CrawlSession",
    "PageOrder",
    "RunClaim",
    "RunLedger",
    "SaveBatch",
    "StoreLedger",
    "analyse",
    "may_be_relevant",
    "save_article",
]
