"""Shared fixtures: the network guard, a fresh store, and config files written on the fly."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETGUARD = Path(__file__).resolve().parent / "netguard"

# Every process the tests start (crawls, `monitor` itself) loads the guard too.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD), str(ROOT), os.environ.get("PYTHONPATH")) if p)
sys.path.insert(0, str(NETGUARD))
import sitecustomize  # noqa: E402,F401 - installs the guard in this process

from monitor.demo import start_sites  # noqa: E402
from monitor.demo.sites import LocalSite  # noqa: E402
from monitor.store import Store  # noqa: E402


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[LocalSite, LocalSite]]:
    """The demo's two news sites on 127.0.0.1 (the seed story is on both), for one test module."""
    ledger, herald = start_sites()
    yield ledger, herald
    ledger.stop()
    herald.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store in a temporary folder."""
    with Store.open(tmp_path / "monitor.db") as opened:
        yield opened


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write YAML text to a config file in tmp_path and return its path."""

    def write(text: str, name: str = "rules.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
