"""The ``rules:`` section of rules.yaml: what words matter, and how much."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml.comments import CommentedMap

from monitor.settings import RuleSpec
from monitor.yamlcheck import (
    Checker,
    item_line,
    node_line,
    value_line,
)


def parse_rules(check: Checker, root: CommentedMap) -> tuple[RuleSpec, ...]:
    items = check.get(root, "rules", "", check.sequence, required=True)
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items or []):
        field = f"rules[{index}]"
        entry = check.mapping(item, field, item_line(items, index), {"name", "terms", "weight"})
        if entry is None:
            continue
        name = check.get(entry, "name", field, check.name, required=True)
        terms = check.get(entry, "terms", field, _terms(check), required=True)
        weight = check.get(entry, "weight", field, check.number, default=1.0)
        if name in seen:
            check.fail(value_line(entry, "name"), f"{field}.name", f"duplicate rule name {name!r}")
        if name and terms:
            seen.add(name)
            rules.append(RuleSpec(name=name, terms=tuple(terms), weight=weight or 1.0, line=node_line(entry)))
    return tuple(rules)


def _terms(check: Checker) -> Callable[[Any, str, int], list[str] | None]:
    def convert(value: Any, field: str, line: int) -> list[str] | None:
        items = check.sequence(value, field, line)
        if items is None:
            return None
        if not items:
            check.fail(line, field, "must list at least one word or phrase")
            return None
        terms: list[str] = []
        for index, term in enumerate(items):
            line_of_term = item_line(items, index)
            if not isinstance(term, str) or not re.search(r"\w", term):
                check.fail(line_of_term, f"{field}[{index}]", f"must be a word or phrase, not {term!r}")
            else:
                terms.append(term.strip())
        return terms if len(terms) == len(items) else None

    return convert
