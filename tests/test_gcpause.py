"""The collector pause while building rules: only when no other thread could be affected."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

from monitor.gcpause import gc_paused

ALONE = """
import gc, threading
from monitor.gcpause import gc_paused
assert threading.active_count() == 1
before = gc.isenabled()
with gc_paused():
    inside = gc.isenabled()
print(before, inside, gc.isenabled())
"""


def test_the_collector_is_paused_inside_the_block_and_back_on_after_when_this_thread_is_alone() -> None:
    # A fresh interpreter: the test process may have threads of its own (servers of other tests).
    result = subprocess.run([sys.executable, "-c", ALONE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "True"]


def test_with_another_thread_alive_the_collector_stays_on() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        with gc_paused():
            assert gc.isenabled()
        assert gc.isenabled()
    finally:
        stop.set()
        other.join()


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
