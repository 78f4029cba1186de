"""Crashes, outages and concurrent writers: nothing lost, nothing sent twice, the store intact.

Real processes are killed with SIGKILL; the hour-long outage runs on a simulated
clock (``now``) against a receiver that is really down (its port closed) and then
really back on the same port.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

from monitor.alerts import DeliveryReport, deliver_due
from monitor.store import Store
from monitor.store.migrations import MIGRATIONS, migrate
from monitor.timestamps import utcnow
from tests.receivers import Receiver, Reply, Request
from tests.test_delivery import SECRET, T0, queue, row, webhook

ROOT = Path(__file__).resolve().parent.parent


def test_receiver_down_for_an_hour_then_back_gets_everything_once_in_order(store: Store) -> None:
    with Receiver() as first:
        port = first.port
        destination = webhook(first)
    # From here until T0 + 1 h the port is closed: every connection is refused.
    moment, attempts_while_down = T0, 0
    while moment < T0 + timedelta(hours=1):
        if (moment - T0).total_seconds() % 300 == 0:  # a new match every 5 minutes
            queue(store, [destination], start=moment, first=int((moment - T0).total_seconds() // 300))
        report = deliver_due(store, [destination], now=moment)
        assert report.sent == report.dead == 0
        attempts_while_down += report.failed
        moment += timedelta(seconds=30)
    ids = queue(store, [destination], count=0)
    assert len(ids) == 12
    # One request per retry interval, not one per alert: the alerts queue behind the oldest.
    assert attempts_while_down <= 5
    with Receiver(port=port) as back:
        while moment < T0 + timedelta(hours=6) and len(back.unique()) < len(ids):
            deliver_due(store, [destination], now=moment)
            moment += timedelta(seconds=30)
        assert back.unique() == ids  # every alert, in the order they were queued
        assert len(back.requests) == len(ids)  # and none twice
        assert all(row(store, alert_id)["status"] == "delivered" for alert_id in ids)
        assert deliver_due(store, [destination], now=moment + timedelta(days=1)) == DeliveryReport()
        assert len(back.requests) == len(ids)


# The sender: what `monitor alerts send` and `monitor serve` run, in a process of its own.
SENDER = textwrap.dedent(
    """
    import sys
    from monitor.alerts import deliver_due
    from monitor.config import DestinationSpec
    from monitor.store import Store
    from monitor.timestamps import utcnow

    hook = DestinationSpec(name="hook", type="webhook", url=sys.argv[2], secret=sys.argv[3])
    with Store.open(sys.argv[1]) as store:
        print(deliver_due(store, [hook]))
    """
)


def test_sender_killed_after_the_post_before_the_mark_resends_once_with_the_same_id_at_once(tmp_path: Path) -> None:
    victim: dict[str, int] = {}

    def kill_sender(request: Request) -> bool:
        deadline = time.monotonic() + 10
        while "pid" not in victim and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(victim["pid"], signal.SIGKILL)  # the receiver has the POST; the sender never learns the answer
        return True

    db = tmp_path / "monitor.db"
    with Receiver(Reply(before=kill_sender)) as receiver:
        destination = webhook(receiver)
        with Store.open(db) as store:
            [alert_id] = queue(store, [destination], start=utcnow())
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(db), destination.url, SECRET],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        victim["pid"] = sender.pid
        sender.communicate(timeout=60)
        assert sender.returncode == -signal.SIGKILL
        [first] = receiver.requests
        with Store.open(db) as store:
            stored = row(store, alert_id)
            assert (stored["status"], stored["attempts"]) == ("sending", 1)  # claimed, posted, never marked
            lease_end = datetime.fromisoformat(stored["claimed_until"])
            # Its sender is gone: the next sender re-sends it now, without waiting out the lease.
            assert deliver_due(store, [destination]) == DeliveryReport(sent=1)
            assert utcnow() < lease_end - timedelta(seconds=60)
            assert stored["claimed_pid"] == sender.pid  # how the next sender knew
            assert deliver_due(store, [destination], now=lease_end + timedelta(days=3)) == DeliveryReport()
            assert (row(store, alert_id)["status"], row(store, alert_id)["attempts"]) == ("delivered", 2)
        first, second = receiver.requests  # exactly one re-send ...
        assert first.header("webhook-id") == second.header("webhook-id") == alert_id  # ... with the same id
        assert first.body == second.body
        assert receiver.unique() == [alert_id]


# A writer that stalls inside save_article's transaction, after the article, its matches
# and the first alert row, right before the second alert row: then it is killed.
STALLING_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    from monitor.models import Article, Hit, RuleMatch, Verdict
    from monitor.config import DestinationSpec
    from monitor.ingest import save_article
    from monitor.store import Store

    store = Store.open(sys.argv[1])
    calls = []
    def stall():
        calls.append(1)
        if len(calls) == 5:  # article 1 wrote 3 alert rows; this is article 2's second
            print("inside", flush=True)
            time.sleep(60)
        return 0
    store.conn.create_function("stall", 0, stall)
    store.conn.execute("CREATE TEMP TRIGGER stall_alerts BEFORE INSERT ON main.alerts BEGIN SELECT stall(); END")
    hit = Hit("nato", "NATO", "title", 1, "**NATO** talks")
    verdict = Verdict(5.0, 3.0, (RuleMatch("nato", 5.0, (hit,)),))
    destinations = [DestinationSpec(name=n, type="webhook", url="http://127.0.0.1:9/" + n) for n in "abc"]
    for index in (1, 2):
        url = f"https://news.test/{index}"
        article = Article(url=url, canonical_url=url, title=f"NATO talks {index}", text="NATO met.", source="news")
        save_article(store, article, verdict, destinations, now=datetime(2026, 3, 1, tzinfo=timezone.utc))
    """
)


def test_sigkill_inside_the_match_and_outbox_write_leaves_both_or_neither(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    Store.open(db).close()
    writer = subprocess.Popen([sys.executable, "-c", STALLING_WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "inside"
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    with Store.open(db) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        articles = store.query("SELECT id, url FROM articles")
        assert [a["url"] for a in articles] == ["https://news.test/1"]  # the second never committed
        assert store.query("SELECT article_id, rule FROM matches") == [
            {"article_id": articles[0]["id"], "rule": "nato"}
        ]
        alerts = store.query("SELECT article_id, destination, story_key FROM alerts ORDER BY destination")
        assert [(a["article_id"], a["destination"]) for a in alerts] == [(articles[0]["id"], n) for n in "abc"]
        assert {a["story_key"] for a in alerts} == {"https://news.test/1"}


CRAWLER = textwrap.dedent(
    """
    import sys
    from monitor.models import Article, Hit, RuleMatch, Verdict
    from monitor.config import DestinationSpec
    from monitor.ingest import save_article
    from monitor.store import Store

    store = Store.open(sys.argv[1])
    hit = Hit("nato", "NATO", "title", 1, "**NATO** talks")
    verdict = Verdict(5.0, 3.0, (RuleMatch("nato", 5.0, (hit,)),))
    destinations = [DestinationSpec(name=n, type="webhook", url=u) for n, u in (("one", sys.argv[2]), ("two", sys.argv[3]))]
    for index in range(int(sys.argv[4])):
        url = f"https://news.test/{index}"
        save_article(store, Article(url=url, canonical_url=url, title=f"NATO {index}", text="NATO met. " * 50,
                                    source="news"), verdict, destinations)
        # The same article again, with tracking parameters and unchanged: no second alert.
        save_article(store, Article(url=url + "?utm_source=x", canonical_url=url, title=f"NATO {index}",
                                    text="NATO met. " * 50, source="news"), verdict, destinations)
    print("done", flush=True)
    """
)


def test_a_crawler_and_a_sender_write_at_once_without_locking_errors(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    Store.open(db).close()
    articles = 150
    with Receiver() as receiver:
        one = webhook(receiver, name="one")
        two = webhook(receiver, name="two")
        crawler = subprocess.Popen(
            [sys.executable, "-c", CRAWLER, str(db), one.url, two.url, str(articles)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        sent = 0
        with Store.open(db) as store:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                finished = crawler.poll() is not None
                sent += deliver_due(store, [one, two]).sent  # while the crawler writes, in another process
                if finished and sent >= 2 * articles:
                    break
            out, err = crawler.communicate(timeout=10)
            assert crawler.returncode == 0, err
            assert "locked" not in err and out.strip() == "done"
            assert sent == 2 * articles
            assert store.query("SELECT status, COUNT(*) AS n FROM alerts GROUP BY status") == [
                {"status": "delivered", "n": 2 * articles}
            ]
        assert len(receiver.requests) == len(receiver.unique()) == 2 * articles


def test_a_version_1_store_is_upgraded_with_its_alerts_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, name, script in MIGRATIONS[:1]:
        conn.executescript(script)
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01')", (version, name))
    conn.execute(
        "INSERT INTO articles (id, url, fetched_url, source, title, text, content_hash, first_seen, last_seen,"
        " updated_at) VALUES (1, 'https://news.test/a', 'https://news.test/a', 'news', 't', 'x', 'h', 'x', 'x', 'x')"
    )
    conn.execute(
        "INSERT INTO alerts (id, key, article_id, destination, payload, status, next_attempt_at, created_at)"
        " VALUES ('alert_1', 'article:https://news.test/a|destination:hook', 1, 'hook', ?, 'dead', 'x', 'x')",
        (json.dumps({"id": "alert_1"}),),
    )
    conn.close()
    with Store.open(path) as store:
        [kept] = store.query("SELECT id, kind, status, story_key, article_id FROM alerts")
        assert kept == {"id": "alert_1", "kind": "alert", "status": "dead", "story_key": "https://news.test/a",
                        "article_id": 1}  # fmt: skip
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert migrate(store.conn) == []
