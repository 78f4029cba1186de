"""Running crawls: the crawl engine from outside, a whole ``monitor run``, and judging sources after.

What other packages use: ``run_once`` (every source once, then send), ``run_crawl``
(one engine for some sources, start to end), ``EngineSupervisor`` (``monitor serve``'s
engine: restarted, recycled, reloaded), ``check_sources`` and ``keeps_failing`` (source
health, judged from the recent runs and told to the operator once per change). Inside:
``protocol`` (the messages to and from ``python -m spiders.engine``), ``engine`` (one
engine process; ``EngineProcess`` and its events are public too, for a cluster worker),
``supervisor``, ``child``, ``runner``, ``source_health``.
"""

from monitor.runs.child import CrawlReport, run_crawl
from monitor.runs.engine import EngineExited, EngineProcess
from monitor.runs.protocol import FetchPage, PageFinished, RunFinished, SourceBusy
from monitor.runs.runner import RunSummary, run_once
from monitor.runs.source_health import check_sources, keeps_failing
from monitor.runs.supervisor import EngineSupervisor

__all__ = [
    "CrawlReport",
    "EngineExited",
    "EngineProcess",
    "EngineSupervisor",
    "FetchPage",
    "PageFinished",
    "RunFinished",
    "RunSummary",
    "SourceBusy",
    "check_sources",
    "keeps_failing",
    "run_crawl",
    "run_once",
]
