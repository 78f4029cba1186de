"""Running crawls: one source-run in a crawl process, a whole ``monitor run``, and judging sources after.

What other packages use: ``run_once`` (every source once, then send), ``run_crawl``
(one crawl process), ``check_sources`` and ``keeps_failing`` (source health, judged
from the recent runs and told to the operator once per change). Inside: ``child``
(starting and watching ``python -m spiders.crawl``), ``runner``, ``source_health``.
"""

from monitor.runs.child import CrawlReport, run_crawl
from monitor.runs.runner import RunSummary, run_once
from monitor.runs.source_health import check_sources, keeps_failing

__all__ = ["CrawlReport", "RunSummary", "check_sources", "keeps_failing", "run_crawl", "run_once"]
