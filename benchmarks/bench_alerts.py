"""Alert delivery: latency from a match being stored to the webhook receiving it, and outbox throughput.

Everything runs on 127.0.0.1 against a real store (WAL, ``synchronous=FULL``) in a
temporary folder and a receiver that answers 200 at once (HTTP/1.1, keep-alive),
for one signed webhook destination (Standard Webhooks, HMAC-SHA256).

* **Latency.** A writer saves matching articles with ``save_article`` (article,
  match and outbox row in one transaction) every ``--gap`` ms and notes when each
  commit returned; a *sender process* loops ``deliver_due`` and sleeps ``--poll``
  ms between runs, the way ``monitor serve`` does every ``--send-interval`` (30 s
  by default: with that interval, add up to 30 s, 15 s on average, to these
  figures). The receiver notes when each request arrived. Both use the system-wide
  monotonic clock, so the difference is the end-to-end latency.
* **Throughput.** ``--alerts`` alerts are queued first; one ``deliver_due`` call
  drains them all (claims of 10 in a transaction, one POST each, one transaction
  to mark each) and is timed.

It measures and prints; it asserts nothing about speed. Usage::

    python benchmarks/bench_alerts.py [--latency-alerts 300] [--gap 20] [--poll 50] [--alerts 3000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from machine import cpu_model  # benchmarks/machine.py: the scripts run from benchmarks/ on sys.path

from monitor.alerts import deliver_due
from monitor.config import DestinationSpec
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.store import Store

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TEXT = "Leaders met at the NATO summit in Vilnius and agreed new sanctions. " * 40


class InstantReceiver:
    """In a process of its own: answers 200 to every POST at once and notes when each webhook-id arrived.

    Arrival times come from the monotonic clock, which Linux shares between processes.
    """

    def __init__(self) -> None:
        self._parent, child = multiprocessing.Pipe()
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.Process(target=_serve, args=(child, self._stop), daemon=True)
        self.port = 0
        self.arrivals: dict[str, float] = {}
        self.count = 0

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> InstantReceiver:
        self._process.start()
        self.port = int(self._parent.recv())
        return self

    def collect(self) -> None:
        """Fetch what arrived so far."""
        self._parent.send("report")
        self.arrivals, self.count = self._parent.recv()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._parent.send("stop")
        self._process.join(10)


def _serve(conn: Any, stop: Any) -> None:
    arrivals: dict[str, float] = {}
    count = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: with Nagle on, the body waits for the client's delayed ACK (40 ms).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.monotonic()
            with lock:
                arrivals.setdefault(self.headers.get("webhook-id", ""), arrived)
                count[0] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while not stop.is_set():
        if conn.poll(0.05):
            if conn.recv() == "stop":
                break
            with lock:
                conn.send((dict(arrivals), count[0]))
    server.shutdown()


def destination(url: str) -> DestinationSpec:
    return DestinationSpec(name="hook", type="webhook", url=url, secret=SECRET)


def verdict() -> Verdict:
    hits = (Hit("nato", "NATO", "body", 1, "leaders met at the **NATO** summit"),
            Hit("sanctions", "sanctions", "body", 1, "agreed new **sanctions**"))  # fmt: skip
    return Verdict(5.0, 3.0, (RuleMatch("nato", 3.0, hits[:1]), RuleMatch("sanctions", 2.0, hits[1:])))


def save(store: Store, index: int, target: DestinationSpec) -> str:
    """Store one matching article; the id of the alert it queued."""
    url = f"https://news.example/world/story-{index}"
    article = Article(url=url, canonical_url=url, title=f"NATO summit agrees sanctions ({index})", text=TEXT,
                      source="bench", authors=["Reuters"], language="en")  # fmt: skip
    save_article(store, article, verdict(), [target])
    return str(store.query("SELECT id FROM alerts WHERE story_key = ?", [url])[0]["id"])


def sender_loop(db: str, url: str, poll: float, stop: Any) -> None:
    """What `monitor serve` does, with a short interval: deliver what is due, sleep, again."""
    with Store.open(db) as store:
        while not stop.is_set():
            deliver_due(store, [destination(url)])
            stop.wait(poll)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(share * (len(ordered) - 1)), len(ordered) - 1)]


def measure_latency(folder: Path, count: int, gap: float, poll: float) -> dict[str, float]:
    db = str(folder / "latency.db")
    Store.open(db).close()
    with InstantReceiver() as receiver:
        target = destination(receiver.url())
        stop = multiprocessing.Event()
        sender = multiprocessing.Process(target=sender_loop, args=(db, receiver.url(), poll, stop))
        sender.start()
        saved: dict[str, float] = {}
        with Store.open(db) as store:
            for index in range(count):
                alert_id = save(store, index, target)
                saved[alert_id] = time.monotonic()  # the commit has returned: the match is stored
                time.sleep(gap)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            receiver.collect()
            if len(receiver.arrivals) >= count:
                break
            time.sleep(0.1)
        stop.set()
        sender.join(30)
        latencies = [(receiver.arrivals[i] - saved[i]) * 1000 for i in saved if i in receiver.arrivals]
        duplicates = receiver.count - len(receiver.arrivals)
    return {
        "count": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
        "mean": statistics.mean(latencies),
        "duplicates": duplicates,
    }


def measure_throughput(folder: Path, count: int) -> dict[str, float]:
    db = str(folder / "throughput.db")
    with InstantReceiver() as receiver, Store.open(db) as store:
        target = destination(receiver.url())
        started = time.perf_counter()
        for index in range(count):
            save(store, index, target)
        queued = time.perf_counter() - started
        started = time.perf_counter()
        cpu = time.process_time()
        report = deliver_due(store, [target])
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        receiver.collect()
        assert report.sent == count == receiver.count, (report, receiver.count)
    return {
        "count": count,
        "wall": wall,
        "rate": count / wall,
        "cpu_ms": cpu / count * 1000,
        "queue_rate": count / queued,
    }


def machine() -> str:
    """CPU model, cores, memory, Python and SQLite, the OS, and the date."""
    model = cpu_model()
    memory = next((int(line.split()[1]) / 1024 / 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0.0)  # fmt: skip
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}; "
            f"{datetime.now():%Y-%m-%d %H:%M}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-alerts", type=int, default=300, help="matches stored one by one (default 300)")
    parser.add_argument("--gap", type=float, default=20, help="ms between two stored matches (default 20)")
    parser.add_argument("--poll", type=float, default=50, help="ms the sender sleeps between runs (default 50)")
    parser.add_argument("--alerts", type=int, default=3000, help="alerts queued for the throughput run (default 3000)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as folder:
        lat = measure_latency(Path(folder), args.latency_alerts, args.gap / 1000, args.poll / 1000)
        print(f"latency, stored -> received ({lat['count']:.0f} alerts, one every {args.gap:g} ms, sender polling"
              f" every {args.poll:g} ms): p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, mean {lat['mean']:.1f} ms,"
              f" max {lat['max']:.1f} ms, duplicates {lat['duplicates']:.0f}")  # fmt: skip
        out = measure_throughput(Path(folder), args.alerts)
        print(f"throughput: {out['count']:.0f} queued alerts drained in {out['wall']:.2f} s = {out['rate']:.0f}"
              f" alerts/s ({out['cpu_ms']:.2f} ms sender CPU per alert); queueing them (save_article)"
              f" ran at {out['queue_rate']:.0f} articles/s")  # fmt: skip


if __name__ == "__main__":
    main()
