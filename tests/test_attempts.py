"""An attempt is counted when its post starts: a sender killed mid-post charges only the message it was posting.

Real sender processes are killed with SIGKILL while the receiver holds their first POST.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

from monitor.alerts import DeliveryReport, deliver_due
from monitor.config import DestinationSpec
from monitor.store import Store
from monitor.timestamps import utcnow
from tests.receivers import Receiver, Reply, Request
from tests.test_delivery import SECRET, queue, row

MAX_ATTEMPTS = 2

SENDER = textwrap.dedent(
    """
    import sys
    from monitor.alerts import deliver_due
    from monitor.config import DestinationSpec
    from monitor.store import Store

    hook = DestinationSpec(name="hook", type="webhook", url=sys.argv[2], secret=sys.argv[3], max_attempts=int(sys.argv[4]))
    with Store.open(sys.argv[1]) as store:
        print(deliver_due(store, [hook]))
    """
)


def test_a_sender_killed_mid_post_again_and_again_charges_only_the_posted_message(tmp_path: Path) -> None:
    hanging, done = threading.Event(), threading.Event()
    hanging.set()

    def hold(request: Request) -> bool:
        if not hanging.is_set():
            return False  # answered normally (200)
        done.wait(30)
        return True  # never answered: the sender is killed meanwhile

    db = tmp_path / "monitor.db"
    try:
        with Receiver(default=Reply(before=hold)) as receiver:
            hook = DestinationSpec(name="hook", type="webhook", url=receiver.url("/hook"), secret=SECRET,
                                   timeout_seconds=20, max_attempts=MAX_ATTEMPTS)  # fmt: skip
            with Store.open(db) as store:
                ids = queue(store, [hook], count=5, start=utcnow() - timedelta(minutes=1))

            def kill_during_post(posted: str) -> None:
                seen = len(receiver.requests)
                sender = subprocess.Popen([sys.executable, "-c", SENDER, str(db), hook.url, SECRET, str(MAX_ATTEMPTS)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
                try:
                    assert receiver.wait_for(seen + 1, timeout=15)[-1].header("webhook-id") == posted
                finally:
                    sender.kill()
                    sender.communicate(timeout=10)

            def attempts() -> list[int]:
                with Store.open(db) as store:
                    return [row(store, alert_id)["attempts"] for alert_id in ids]

            # Each kill charges the message being posted, and only it; the rest of the batch stays untried.
            kill_during_post(ids[0])
            assert attempts() == [1, 0, 0, 0, 0]
            kill_during_post(ids[0])
            assert attempts() == [2, 0, 0, 0, 0]
            # More kills than its attempts allow: the next sender gives it up, then posts the next one.
            kill_during_post(ids[1])
            assert attempts() == [2, 1, 0, 0, 0]
            with Store.open(db) as store:
                first = row(store, ids[0])
                assert (first["status"], first["last_error"]) == ("dead", f"gave up after {MAX_ATTEMPTS} attempts")

            hanging.clear()
            with Store.open(db) as store:
                assert deliver_due(store, [hook]) == DeliveryReport(sent=4)
                stored = [row(store, alert_id) for alert_id in ids[1:]]
            assert [(r["status"], r["attempts"]) for r in stored] == [("delivered", 2)] + [("delivered", 1)] * 3
            # Each kill re-sent what it was posting once, with the same id, and everything went in order.
            assert [r.header("webhook-id") for r in receiver.requests] == [ids[0], ids[0], ids[1], *ids[1:]]
    finally:
        done.set()
