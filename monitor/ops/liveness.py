"""An optional health endpoint for systemd, Docker or Kubernetes probes: ``GET /healthz`` on 127.0.0.1.

200 when the scheduler is alive and the last successful crawl is recent enough,
503 otherwise; the body says why, as JSON.
"""

from __future__ import annotations

import json
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from monitor.errors import MonitorError
from monitor.localserver import LocalServer, QuietHandler
from monitor.store import Store
from monitor.store.reports import first_run_started_at, last_success_at, outbox_backlog
from monitor.timestamps import utcnow

# A source may miss a couple of slots (a slow site) before the service counts as unhealthy.
STALE_AFTER_INTERVALS = 3


class Watched(Protocol):
    """What the health endpoint needs to know about the running service."""

    db_path: str

    @property
    def alive(self) -> bool: ...

    @property
    def config(self) -> Any: ...


def health(service: Watched, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether the service is healthy, and the facts behind it."""
    moment = now or utcnow()
    intervals = [s.interval_seconds for s in service.config.sources if s.enabled] or [3600]
    allowed = STALE_AFTER_INTERVALS * max(intervals) + 300
    try:
        with Store.open(service.db_path, create=False) as store:
            last = last_success_at(store)
            backlog = outbox_backlog(store)
            started = first_run_started_at(store)
    except MonitorError as error:
        return False, {"scheduler_alive": service.alive, "error": str(error)}
    age = (moment - datetime.fromisoformat(last)).total_seconds() if last else None
    # A service that has not had time for a first successful run is not yet unhealthy.
    young = started is None or (moment - datetime.fromisoformat(started)).total_seconds() < allowed
    recent = (age is not None and age <= allowed) or (last is None and young)
    healthy = service.alive and recent
    return healthy, {
        "status": "ok" if healthy else "unhealthy",
        "scheduler_alive": service.alive,
        "last_successful_run": last,
        "last_successful_run_age_seconds": None if age is None else round(age),
        "allowed_age_seconds": allowed,
        "outbox_backlog": backlog,
    }


class HealthServer(LocalServer):
    """Serves ``/healthz`` for one service on 127.0.0.1 (port 0 picks a free port)."""

    def __init__(self, service: Watched, port: int = 0, host: str = "127.0.0.1"):
        self.service = service
        super().__init__(self._handler(), port=port, host=host, thread_name="healthz")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self.service

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/healthz":
                    self.send_error(404)
                    return
                healthy, facts = health(service)
                body = json.dumps(facts).encode()
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
