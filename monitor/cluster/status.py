"""``monitor status --cluster``: the workers and the streams' backlog, as Redis holds them."""

from __future__ import annotations

import json
import time
from typing import Any

from monitor.cluster.bus import CONFIG, PAGES, RESULTS, TASKS, WORKER_GROUP, WORKERS, WRITER_GROUP, connect


def cluster_status(url: str, worker_timeout: float = 30.0) -> dict[str, Any]:
    """The workers (host, pid, last heartbeat, pages a minute, configuration) and what waits in each stream."""
    client = connect(url)
    now = time.time()
    workers = []
    for name, raw in sorted(client.hgetall(WORKERS).items()):
        beat = json.loads(raw)
        age = now - float(beat.get("heartbeat", 0))
        workers.append(
            {
                "name": name.decode(),
                "host": beat.get("host"),
                "pid": beat.get("pid"),
                "last_heartbeat_seconds_ago": round(age, 1),
                "alive": age < worker_timeout,
                "pages_per_minute": beat.get("pages_per_minute", 0),
                "config_hash": beat.get("config_hash", ""),
                "runs": beat.get("runs", 0),
                "pages": beat.get("pages", 0),
            }
        )
    current = client.hget(CONFIG, "hash")
    return {
        "config_hash": current.decode() if current else None,
        "workers": workers,
        "tasks": _backlog(client, TASKS, WORKER_GROUP),
        "pages": _backlog(client, PAGES, WORKER_GROUP),
        "results": _backlog(client, RESULTS, WRITER_GROUP),
    }


def _backlog(client: Any, stream: str, group: str) -> dict[str, int]:
    """Entries in ``stream`` and how many of them a consumer took and has not acknowledged."""
    length = int(client.xlen(stream))
    try:
        pending = int(client.xpending(stream, group)["pending"])
    except Exception:  # no group yet: nothing was ever read
        pending = 0
    return {"entries": length, "in_progress": pending, "waiting": max(0, length - pending)}
