"""The ``rules:`` section of rules.yaml: what to look for, how much it counts, and where its alerts go.

A rule is a list of terms, a query string, structured ``all``/``any``/``not``
lists, or any mix of them (all must hold); ``exclude`` lists vetoes. The grammar
is in ``monitor.rules.lang``. Every problem is reported with its line, and a query's
with the column in the query::

    rules.yaml:31: rules[0].query: unbalanced bracket: '(' at column 5 is never closed
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.config.checker import Checker, item_line, kind, node_line, value_line
from monitor.rules import QueryError, RuleError, RuleSpec, definition
from monitor.rules.lang import TEXT_FIELDS, And, Near, Node, Not, Or, Term, parse_query, parse_term, scope

RULE_KEYS = {
    "name",
    "terms",
    "query",
    "all",
    "any",
    "not",
    "exclude",
    "weight",
    "threshold",
    "destinations",
    "max_age",
}
CONDITION_KEYS = ("terms", "query", "all", "any", "not")
ITEM_KINDS = ("term", "all", "any", "not", "query", "near")
ITEM_OPTIONS = {"term": {"case", "inflect", "field"}, "near": {"within", "ordered"}}


def parse_rules(check: Checker, root: CommentedMap) -> tuple[RuleSpec, ...]:
    """Every rule in ``root["rules"]``, each validated; problems go to ``check``."""
    items = check.get(root, "rules", "", check.sequence, required=True)
    destinations = _destination_names(root)
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for field, entry in check.entries(items, "rules", RULE_KEYS):
        before = len(check.problems)
        name = check.get(entry, "name", field, check.name, required=True)
        spec = _rule(check, entry, field, name or "", destinations)
        if name in seen:
            check.fail(value_line(entry, "name"), f"{field}.name", f"duplicate rule name {name!r}")
        if name:
            seen.add(name)
        if spec is not None and len(check.problems) == before:
            try:
                definition(spec)
            except RuleError as error:
                check.fail(node_line(entry), field, str(error).split(": ", 1)[-1])
                continue
            rules.append(spec)
    return tuple(rules)


def _rule(check: Checker, entry: CommentedMap, field: str, name: str, destinations: set[str] | None) -> RuleSpec | None:
    parts: list[Node] = []
    terms: list[str] = []
    if "terms" in entry:
        nodes = _items(check, entry["terms"], f"{field}.terms", value_line(entry, "terms"))
        if nodes:
            parts.append(nodes[0] if len(nodes) == 1 else Or(tuple(nodes)))
            terms = [str(item).strip() for item in entry["terms"] if isinstance(item, str)]
    query = None
    if "query" in entry:
        query = entry["query"]
        node = _query(check, query, f"{field}.query", value_line(entry, "query"))
        if node is not None:
            parts.append(node)
    for key, combine in (("all", And), ("any", Or)):
        if key in entry:
            nodes = _items(check, entry[key], f"{field}.{key}", value_line(entry, key))
            if nodes:
                parts.append(nodes[0] if len(nodes) == 1 else combine(tuple(nodes)))
    if "not" in entry:
        nodes = _items(check, entry["not"], f"{field}.not", value_line(entry, "not"))
        if nodes:
            parts.append(Not(nodes[0] if len(nodes) == 1 else Or(tuple(nodes))))
    if not any(key in entry for key in CONDITION_KEYS):
        check.fail(node_line(entry), field, "needs terms, a query, or all/any lists: what should the rule look for?")
        return None
    exclude = (
        _items(check, entry["exclude"], f"{field}.exclude", value_line(entry, "exclude")) if "exclude" in entry else []
    )
    weight = check.get(entry, "weight", field, check.number, default=1.0)
    threshold = check.get(entry, "threshold", field, check.number)
    max_age = check.get(entry, "max_age", field, check.duration)
    routes = _destinations(check, entry, field, destinations) if "destinations" in entry else ()
    if not parts or not name:
        return None
    condition = parts[0] if len(parts) == 1 else And(tuple(parts))
    return RuleSpec(
        name=name,
        terms=tuple(terms),
        weight=weight or 1.0,
        line=node_line(entry),
        query=query if isinstance(query, str) else None,
        condition=condition,
        exclude=tuple(exclude),
        threshold=threshold,
        destinations=routes or (),
        max_age_seconds=max_age,
    )


def _query(check: Checker, value: Any, field: str, line: int) -> Node | None:
    """A query string, parsed; a problem names the column (and the line within a multi-line query)."""
    if not isinstance(value, str):
        check.fail(line, field, f"must be a query string, not {kind(value)}")
        return None
    try:
        return parse_query(value)
    except QueryError as error:
        message = error.message
        if "\n" in value:
            row = value.count("\n", 0, error.position) + 1
            column = error.position - (value.rfind("\n", 0, error.position) + 1) + 1
            message = re.sub(r"column \d+", f"line {row} of the query, column {column}", message)
        check.fail(line, field, message)
        return None


def _items(check: Checker, value: Any, field: str, line: int) -> list[Node]:
    """A list of terms (strings or mappings) and nested all/any/not/near/query items."""
    items = check.sequence(value, field, line)
    if items is None:
        return []
    if not items:
        check.fail(line, field, "must list at least one item")
        return []
    nodes: list[Node] = []
    for index, item in enumerate(items):
        node = _item(check, item, f"{field}[{index}]", item_line(items, index))
        if node is not None:
            nodes.append(node)
    return nodes if len(nodes) == len(items) else []


def _item(check: Checker, item: Any, field: str, line: int) -> Node | None:
    if isinstance(item, str):
        return _term(check, item, field, line)
    if not isinstance(item, CommentedMap):
        check.fail(line, field, f"must be a word, a phrase or a mapping, not {kind(item)}")
        return None
    kinds = [key for key in item if key in ITEM_KINDS]
    if len(kinds) != 1:
        wanted = ", ".join(ITEM_KINDS)
        check.fail(line, field, f"must have exactly one of {wanted} (found {', '.join(map(str, kinds)) or 'none'})")
        return None
    what = kinds[0]
    node = check.mapping(item, field, line, {what} | ITEM_OPTIONS.get(what, set()))
    if node is None:
        return None
    inner_line = value_line(node, what)
    if what == "term":
        return _term_mapping(check, node, field, line)
    if what == "query":
        return _query(check, node["query"], f"{field}.query", inner_line)
    if what == "near":
        return _near(check, node, field, line)
    children = _items(check, node[what], f"{field}.{what}", inner_line)
    if not children:
        return None
    single = children[0] if len(children) == 1 else None
    if what == "all":
        return single or And(tuple(children))
    grouped = single or Or(tuple(children))
    return grouped if what == "any" else Not(grouped)


def _term(check: Checker, text: str, field: str, line: int) -> Term | None:
    try:
        return parse_term(text)
    except QueryError as error:
        check.fail(line, field, error.message)
        return None


def _term_mapping(check: Checker, node: CommentedMap, field: str, line: int) -> Node | None:
    text = node["term"]
    if not isinstance(text, str):
        check.fail(value_line(node, "term"), f"{field}.term", f"must be a word or phrase, not {kind(text)}")
        return None
    term = _term(check, text, f"{field}.term", value_line(node, "term"))
    if term is None:
        return None
    case = node.get("case", "insensitive")
    if case not in ("sensitive", "insensitive"):
        check.fail(value_line(node, "case"), f"{field}.case", f"must be sensitive or insensitive, not {case!r}")
        return None
    inflect = node.get("inflect", False)
    if not isinstance(inflect, bool):
        check.fail(value_line(node, "inflect"), f"{field}.inflect", f"must be true or false, not {inflect!r}")
        return None
    if inflect and term.prefix:
        check.fail(value_line(node, "inflect"), f"{field}.inflect", "a prefix (*) takes no inflections")
        return None
    term = Term(term.text, term.words, term.prefix, term.inflect or inflect, term.case_sensitive or case == "sensitive")
    if "field" not in node:
        return term
    where = node["field"]
    if where not in TEXT_FIELDS:
        check.fail(
            value_line(node, "field"), f"{field}.field", f"must be one of {', '.join(TEXT_FIELDS)}, not {where!r}"
        )
        return None
    return scope(term, where)


def _near(check: Checker, node: CommentedMap, field: str, line: int) -> Node | None:
    sides = check.sequence(node["near"], f"{field}.near", value_line(node, "near"))
    if sides is None:
        return None
    if len(sides) != 2:
        check.fail(value_line(node, "near"), f"{field}.near", "must list two sides: [word or list, word or list]")
        return None
    if "within" not in node:
        check.fail(line, f"{field}.within", "is required: how many words apart, at most")
        return None
    within = check.integer(node["within"], f"{field}.within", value_line(node, "within"))
    ordered = node.get("ordered", False)
    if not isinstance(ordered, bool):
        check.fail(value_line(node, "ordered"), f"{field}.ordered", f"must be true or false, not {ordered!r}")
        return None
    terms: list[tuple[Term, ...]] = []
    for index, side in enumerate(sides):
        where, side_line = f"{field}.near[{index}]", item_line(sides, index)
        members = side if isinstance(side, CommentedSeq) else [side]
        found: list[Term] = []
        for number, member in enumerate(members):
            at = item_line(side, number) if isinstance(side, CommentedSeq) else side_line
            node_of = _item(check, member, f"{where}[{number}]" if isinstance(side, CommentedSeq) else where, at)
            if isinstance(node_of, Term):
                found.append(node_of)
            elif node_of is not None:
                check.fail(at, where, "each side of near is words or phrases, not all/any/not/near")
        if len(found) != len(members) or not found:
            return None
        terms.append(tuple(found))
    if within is None:
        return None
    return Near(terms[0], terms[1], within, ordered)


def _destinations(check: Checker, entry: CommentedMap, field: str, known: set[str] | None) -> tuple[str, ...] | None:
    line = value_line(entry, "destinations")
    items = check.sequence(entry["destinations"], f"{field}.destinations", line)
    if items is None:
        return None
    names: list[str] = []
    for index, name in enumerate(items):
        where = f"{field}.destinations[{index}]"
        if not isinstance(name, str):
            check.fail(item_line(items, index), where, f"must be a destination name, not {kind(name)}")
        elif known is not None and name not in known:
            listed = ", ".join(sorted(known)) or "none are configured"
            check.fail(item_line(items, index), where, f"unknown destination {name!r} (alerts.destinations: {listed})")
        else:
            names.append(name)
    if not items:
        check.fail(line, f"{field}.destinations", "must name at least one destination (leave it out for all of them)")
    return tuple(names)


def _destination_names(root: CommentedMap) -> set[str] | None:
    """The names in alerts.destinations, or None when that section is too broken to tell."""
    alerts = root.get("alerts")
    if alerts is None:
        return set()
    if not isinstance(alerts, CommentedMap):
        return None
    items = alerts.get("destinations")
    if items is None:
        return set()
    if not isinstance(items, CommentedSeq):
        return None
    return {item["name"] for item in items if isinstance(item, CommentedMap) and isinstance(item.get("name"), str)}


__all__ = ["parse_rules"]
