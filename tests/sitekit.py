"""Helpers for tests that crawl local sites: the demo's sites and configs pointing at them."""

from __future__ import annotations

from pathlib import Path

RULES = """
rules:
  - name: nato
    terms: [NATO, North Atlantic Treaty Organization, Stoltenberg]
  - name: ukraine
    terms: [Ukraine, Kyiv]
  - name: sanctions
    terms: [sanctions]
  - name: armed-conflict
    terms: [armed conflict]
    weight: 0.5
"""


def config_text(sources: str, *, destinations: str = "", workers: int = 1, extra_crawl: str = "") -> str:
    """A rules.yaml for local sites: no delays, no retries, the four default topics."""
    alerts = (
        f"alerts:\n  threshold: 3.0\n  destinations:\n{destinations}" if destinations else "alerts:\n  threshold: 3.0\n"
    )
    return (
        "version: 1\n"
        "crawl:\n  user_agent: 'monitor-test/0.1 (+https://example.org/contact)'\n  download_delay: 0\n"
        f"  retries: 0\n  timeout: 5s\n  workers: {workers}\n{extra_crawl}"
        f"{alerts}sources:\n{sources}{RULES}"
    )


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)
