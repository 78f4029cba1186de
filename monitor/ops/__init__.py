"""Operating the monitor: ``serve`` (the scheduler), status, liveness, retention, reports, browsing.

What the CLI uses: ``serve``, ``status_report``, ``prune``, ``build_report``, ``render_report``
and ``write_html_report``, ``run_browser`` and ``write_metadata``. Inside: ``serve`` (APScheduler,
reloads, signals), ``status`` (what ``monitor status`` shows), ``liveness`` (the
``/healthz`` endpoint of a running serve), ``retention``, ``report`` and ``report_html`` (the
period's report, with charts), ``browse`` (Datasette, and ``datasette_plugins/``, which Datasette
loads itself: the charts page).
"""

from monitor.ops.browse import run_browser, write_metadata
from monitor.ops.report import build_report, render_report
from monitor.ops.report_html import write_html_report
from monitor.ops.retention import prune
from monitor.ops.scheduler import serve
from monitor.ops.status import status_report

__all__ = [
    "build_report",
    "prune",
    "render_report",
    "run_browser",
    "serve",
    "status_report",
    "write_html_report",
    "write_metadata",
]
