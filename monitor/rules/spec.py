"""A rule as the configuration states it: the engine compiles these."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.rules.lang import Node


@dataclass(frozen=True)
class RuleSpec:
    """A rule: what to look for (terms, a query or both), how much it counts, and where its alerts go.

    ``terms`` alone is the simple form: any of these words or phrases. ``query`` is
    a query string (see ``monitor.rules.lang``); ``condition`` and ``exclude`` are the
    parsed tree, filled in by the configuration loader (when None, the engine
    builds it from ``terms`` and ``query``).
    """

    name: str
    terms: tuple[str, ...] = ()
    weight: float = 1.0
    line: int = 0  # where the rule starts in rules.yaml, for messages
    query: str | None = None
    condition: Node | None = None  # everything the rule requires, as one tree
    exclude: tuple[Node, ...] = ()  # vetoes: if any holds, the rule does not match
    threshold: float | None = None  # alert on this rule's own score; None: the article score vs alerts.threshold
    destinations: tuple[str, ...] = ()  # names in alerts.destinations; empty: all of them
    max_age_seconds: int | None = None  # older articles are stored and scored but raise no alert
