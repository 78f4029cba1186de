"""``monitor demo``: the whole pipeline, offline, in under a minute.

Two local news sites (one with an RSS feed, one with a sitemap) and a local alert
receiver start on 127.0.0.1; a real crawl runs against them; alerts are delivered
to the receiver; the demo prints what arrived, what stayed quiet, and a search, and
writes the period's HTML report with its charts beside the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import threading
from base64 import b64encode
from collections.abc import Collection
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TextIO

from monitor.alerts import SignatureError, verify
from monitor.config import load_config
from monitor.demo.receiver import Receiver
from monitor.demo.sites import LocalSite, Story
from monitor.errors import DemoStoreError, MonitorError, StoreError
from monitor.ops import build_report, write_html_report
from monitor.output import write_rows
from monitor.runs import run_once
from monitor.store import Store, sync_sources
from monitor.store.canned import shell_example
from monitor.store.queries import search
from monitor.store.reports import last_runs, unalerted_articles
from monitor.timestamps import utcnow

SEED_PATH = "/world/nato-offers-arms-talks.html"
QUIET_PATH = "/lifestyle/savar-rose-village.html"


def load_stories() -> dict[str, list[Story]]:
    """The bundled demo pages, by site ("ledger", "herald")."""
    pages = resources.files("monitor.demo") / "pages"
    catalog = json.loads((pages / "catalog.json").read_text(encoding="utf-8"))
    sites: dict[str, list[Story]] = {}
    for entry in catalog:
        html = (pages / entry["site"] / entry["path"].lstrip("/")).read_text(encoding="utf-8")
        sites.setdefault(entry["site"], []).append(
            Story(
                path=entry["path"],
                title=entry["title"],
                published=datetime.fromisoformat(entry["published"]),
                summary=entry["summary"],
                html=html,
            )
        )
    return sites


def start_sites() -> tuple[LocalSite, LocalSite]:
    """The Daily Ledger and The Harbour Herald, serving the bundled pages."""
    stories = load_stories()
    ledger = LocalSite("ledger").start()
    herald = LocalSite("herald").start()
    ledger.add_news("The Daily Ledger", stories["ledger"])
    herald.add_news("The Harbour Herald", stories["herald"])
    return ledger, herald


def write_demo_config(folder: Path, ledger: str, herald: str) -> Path:
    """The demo's rules.yaml, pointing at the local sites."""
    template = (resources.files("monitor.demo") / "demo.yaml").read_text(encoding="utf-8")
    path = folder / "demo.yaml"
    path.write_text(template.replace("{ledger}", ledger).replace("{herald}", herald), encoding="utf-8")
    return path


def run_demo(db_path: Path, out: TextIO, *, keep_serving: bool = False) -> int:
    """Run the demo, print what happened; 0 if the seed story alerted and the quiet one did not.

    DemoStoreError, before anything is deleted or printed, if ``db_path`` is a file but not a demo store.
    """
    ledger, herald = start_sites()
    try:
        return _run(db_path, ledger, herald, out, keep_serving=keep_serving)
    finally:
        ledger.stop()
        herald.stop()


def demo_report_path(db_path: Path) -> Path:
    """Where the demo writes its HTML report: ``demo-report.html`` beside ``demo.db``."""
    return db_path.with_name(db_path.stem + "-report.html")


def demo_mark(db_path: Path) -> Path:
    """The file that says the store beside it is a demo store: ``demo.db-demo`` for ``demo.db``."""
    return db_path.with_name(db_path.name + "-demo")


def replace_demo_store(db_path: Path, sources: Collection[str]) -> None:
    """Delete the demo store at ``db_path`` (if any) and mark its successor; DemoStoreError if it is not one.

    A store is the demo's when ``demo_mark`` is beside it and it holds runs of ``sources`` only
    (so a demo store later used by ``monitor run`` is not the demo's to delete any more).
    """
    mark = demo_mark(db_path)
    if db_path.exists():
        if not mark.is_file():
            raise DemoStoreError(
                f"{db_path} is not a demo store (no {mark.name} beside it), so monitor demo will not replace it;"
                " choose another --db, or delete it yourself"
            )
        foreign = _foreign_sources(db_path, sources)
        if foreign:
            raise DemoStoreError(
                f"{db_path} holds runs of sources that are not the demo's ({', '.join(foreign)}),"
                " so monitor demo will not replace it; choose another --db"
            )
    try:
        for stale in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
            stale.unlink(missing_ok=True)
        # Marked before it exists, so a demo stopped half-way leaves a store the next demo may replace.
        db_path.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(
            f"{db_path.name}, beside this file, is the store of `monitor demo`, which deletes it and makes it"
            " again on every run. Delete this file and monitor demo will leave that store alone.\n",
            encoding="utf-8",
        )
    except OSError as error:
        raise StoreError(f"{db_path}: cannot replace the demo store: {error}") from error


def _foreign_sources(db_path: Path, sources: Collection[str]) -> list[str]:
    """The sources other than ``sources`` that the store at ``db_path`` has runs of."""
    try:
        with Store.open(db_path, create=False) as store:
            ran = last_runs(store)
    except StoreError:
        return []  # marked as the demo's but unreadable (damaged, or from a newer monitor): still the demo's
    return sorted(set(ran) - set(sources))


def _run(db_path: Path, ledger: LocalSite, herald: LocalSite, out: TextIO, *, keep_serving: bool) -> int:
    secret = "whsec_" + b64encode(secrets.token_bytes(24)).decode()
    with Receiver() as receiver, tempfile.TemporaryDirectory(prefix="monitor-demo-") as folder:
        os.environ["MONITOR_DEMO_SLACK_URL"] = receiver.base + "/slack"
        os.environ["MONITOR_DEMO_WEBHOOK_URL"] = receiver.base + "/webhook"
        os.environ["MONITOR_DEMO_WEBHOOK_SECRET"] = secret
        config = load_config(write_demo_config(Path(folder), ledger.base, herald.base))
        replace_demo_store(db_path, [source.name for source in config.sources])
        out.write("monitor demo: everything below runs on 127.0.0.1, nothing leaves this machine\n")
        out.write(f"  The Daily Ledger    {ledger.base}/feed.xml  (RSS feed)\n")
        out.write(f"  The Harbour Herald  {herald.base}/sitemap.xml  (sitemap)\n")
        out.write(f"  alert receiver      {receiver.base}  (Slack-style and signed webhook)\n\n")
        out.flush()
        started = utcnow()
        report_path = demo_report_path(db_path)
        with Store.open(db_path) as store:
            sync_sources(store, config.sources)
            summary = run_once(config, store)
            out.write(summary.render() + "\n\n")
            ok = _show_results(store, receiver, secret, ledger.base, out)
            try:
                write_html_report(build_report(store, started), report_path)
            except OSError as error:
                why = error.strerror or error
                raise MonitorError(f"{report_path}: cannot write the demo's report: {why}") from error
        out.write(f"\nThe report, with its charts, is {report_path} (one HTML file: open it in a browser).\n")
        out.write(
            f"\nThe store is {db_path}. Try:\n"
            f"  monitor --db {db_path} search 'sanctions OR \"armed conflict\"'\n"
            f"  monitor --db {db_path} matches --json\n"
            f"  sqlite3 {db_path} '{shell_example()}'\n"
        )
        if keep_serving:
            out.write("\nServing the demo sites until Ctrl-C.\n")
            out.flush()
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0 if ok else 1


def _show_results(store: Store, receiver: Receiver, secret: str, ledger_base: str, out: TextIO) -> bool:
    webhooks = receiver.posts("/webhook")
    out.write(f"Alerts received by the local webhook ({len(webhooks)}), signatures checked:\n")
    alerted: set[str] = set()
    for post in webhooks:
        event = post.json()
        try:
            verify(secret, post.headers, post.body)
            signature = "signature ok"
        except SignatureError as error:
            signature = f"BAD SIGNATURE: {error}"
        article = event["article"]
        outlets = event["story"]["outlets"]
        alerted.update(outlet["url"] for outlet in outlets)
        rules = ", ".join(f"{r['rule']} {r['score']:g}" for r in event["rules"])
        carried = "; ".join(f"{o['source']} {o['url']}" for o in outlets)
        out.write(
            f"  [{event['score']:>5.2f}] {article['title']}\n"
            f"          {signature} · one story, {len(outlets)} outlet(s): {carried}\n"
            f"          rules: {rules}\n"
        )
        best = event["rules"][0]["hits"][0] if event["rules"] and event["rules"][0]["hits"] else None
        if best:
            out.write(f"          “{best['snippet']}”\n")
    out.write(f"Slack messages received by the local Slack stand-in: {len(receiver.posts('/slack'))}\n\n")

    quiet = unalerted_articles(store)
    out.write("Stored, scored, and rightly quiet:\n")
    for row in quiet:
        out.write(f"  [{row['score']:>5.2f}] {row['title']} ({row['source']})\n")
    out.write(
        "  (the rose-village story's sidebar and Most Read list name NATO, Ukraine and sanctions;\n"
        "   extraction keeps only the article, so it does not alert)\n\n"
    )

    out.write('Full-text search for "sanctions":\n')
    found = [
        {"source": r["source"], "title": r["title"], "snippet": r["snippet"]}
        for r in search(store, "sanctions", limit=5)
    ]
    write_rows(found, "table", out, table_widths={"title": 45, "snippet": 100})
    seed_alerted = ledger_base + SEED_PATH in alerted
    quiet_alerted = ledger_base + QUIET_PATH in alerted
    if not seed_alerted or quiet_alerted:
        out.write("\nDEMO FAILED: expected the NATO story to alert and the rose-village story not to.\n")
        return False
    return True
