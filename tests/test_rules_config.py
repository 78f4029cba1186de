"""The ``rules:`` section of rules.yaml: every form a rule can take, and every mistake reported with its line."""

from __future__ import annotations

import pytest

from monitor.config import Config, parse_config
from monitor.errors import ConfigError
from monitor.rules import compile_rules, definition
from monitor.rules.engine import score

HEAD = """\
version: 1
alerts:
  threshold: 3
  destinations:
    - name: newsroom
      type: slack
      url: ${SLACK_URL:-}
    - name: ingest
      type: webhook
      url: ${HOOK_URL:-}
sources: []
rules:
"""
HEAD_LINES = HEAD.count("\n")


def load(rules: str) -> Config:
    return parse_config(HEAD + rules, "rules.yaml", {})


def problems(rules: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(rules)
    return [str(problem) for problem in caught.value.problems]


def at(line: int) -> str:
    """``rules.yaml:N``, counting ``line`` from the first line after HEAD."""
    return f"rules.yaml:{HEAD_LINES + line}:"


def test_a_simple_rule_stays_simple() -> None:
    [rule] = load("  - name: nato\n    terms: [NATO, armed conflict]\n").rules
    assert rule.terms == ("NATO", "armed conflict") and rule.weight == 1.0
    ruleset = compile_rules([rule])
    assert score(ruleset, "", "an armed-conflict", threshold=1).matches


def test_every_rule_key() -> None:
    [rule] = load(
        """\
  - name: nato
    query: 'NATO NEAR/10 sanction* AND NOT "football club"'
    exclude: ["Nato FC", {query: 'source:sport-*'}]
    weight: 2
    threshold: 4.5
    destinations: [newsroom]
    max_age: 7d
"""
    ).rules
    assert rule.query == 'NATO NEAR/10 sanction* AND NOT "football club"'
    assert (rule.weight, rule.threshold, rule.destinations, rule.max_age_seconds) == (2.0, 4.5, ("newsroom",), 604800)
    assert rule.line == HEAD_LINES + 1
    _, vetoes = definition(rule)
    assert len(vetoes) == 3  # the query's NOT and the two exclusions


STRUCTURED = """\
  - name: structured
    all:
      - any: [NATO, {term: EU, case: sensitive}]
      - {near: [[Stoltenberg, Rutte], sanction~], within: 8, ordered: true}
      - {term: sanction, inflect: true, field: body}
    not: [football]
"""
SAME_AS_QUERY = """\
  - name: query
    query: '(NATO OR =EU) AND (Stoltenberg OR Rutte) ONEAR/8 sanction~ AND body:sanction~ AND NOT football'
"""


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("", "NATO: Stoltenberg backs sanctions on banks.", True),
        ("", "The EU: Rutte seeks sanction on banks, sanctioned.", True),
        ("", "The eu: Rutte seeks sanction on banks.", False),  # EU is case-sensitive
        ("", "NATO: sanctions, said Stoltenberg.", False),  # ordered: the name comes first
        ("", "NATO: Stoltenberg backs sanctions on football.", False),  # vetoed
        ("Sanctions", "NATO: Stoltenberg and Rutte", False),  # sanction~ must be in the body
    ],
)
def test_structured_lists_mean_the_same_as_a_query(title: str, body: str, expected: bool) -> None:
    structured, query = load(STRUCTURED + SAME_AS_QUERY).rules
    for rule in (structured, query):
        verdict = score(compile_rules([rule]), title, body, threshold=1)
        assert bool(verdict.matches) is expected, rule.name


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # a query that does not parse: the line of the query: value, the column in the message
        ("  - name: r\n    query: '(NATO OR EU'\n", [f"{at(2)} rules[0].query: unbalanced bracket: '(' at column 1"]),
        (
            "  - name: r\n    query: 'NATO)'\n",
            [f"{at(2)} rules[0].query: unbalanced bracket: ')' at column 5 has no '('"],
        ),
        (
            "  - name: r\n    query: 'NATO AND bogus:x'\n",
            [f"{at(2)} rules[0].query: unknown field 'bogus:' at column 10"],
        ),
        (
            "  - name: r\n    query: 'NATO NEAR sanctions'\n",
            [f"{at(2)} rules[0].query: NEAR at column 6 needs a distance"],
        ),
        ("  - name: r\n    query: ''\n", [f"{at(2)} rules[0].query: is empty"]),
        ("  - name: r\n    query: 'a or b'\n", [f"{at(2)} rules[0].query: 'or' at column 3: operators are upper-case"]),
        ("  - name: r\n    query: 42\n", [f"{at(2)} rules[0].query: must be a query string, not the number 42"]),
        # an empty value is reported on its own line, not on the next rule's
        ("  - name: r\n    query:\n  - name: s\n    terms: [x]\n", [f"{at(2)} rules[0].query: must be a query string"]),
        (
            "  - name: r\n    query: |\n      NATO AND\n      bogus:x\n",
            [f"{at(2)} rules[0].query: unknown field 'bogus:' at line 2 of the query, column 1"],
        ),
        # terms
        ("  - name: r\n    terms: []\n", [f"{at(2)} rules[0].terms: must list at least one item"]),
        ("  - name: r\n    terms: [ok, '--']\n", [f"{at(2)} rules[0].terms[1]: must be a word or phrase, not '--'"]),
        ("  - name: r\n    terms: [x*]\n", [f"{at(2)} rules[0].terms[0]: a wildcard needs at least 3 letters"]),
        (
            "  - name: r\n    terms:\n      - NATO\n      - 3\n",
            [f"{at(4)} rules[0].terms[1]: must be a word, a phrase"],
        ),
        # structured items
        (
            "  - name: r\n    all: [{term: x, field: footer}]\n",
            [f"{at(2)} rules[0].all[0].field: must be one of title"],
        ),
        ("  - name: r\n    all: [{term: x, case: upper}]\n", [f"{at(2)} rules[0].all[0].case: must be sensitive or"]),
        ("  - name: r\n    all: [{foo: x}]\n", [f"{at(2)} rules[0].all[0]: must have exactly one of term, all"]),
        ("  - name: r\n    all: [{near: [a, b]}]\n", [f"{at(2)} rules[0].all[0].within: is required"]),
        ("  - name: r\n    all: [{near: [a], within: 3}]\n", [f"{at(2)} rules[0].all[0].near: must list two sides"]),
        ("  - name: r\n    all: [{term: x, within: 3}]\n", [f"{at(2)} rules[0].all[0].within: unknown key"]),
        # the rule as a whole
        ("  - name: r\n    weight: 2\n", [f"{at(1)} rules[0]: needs terms, a query, or all/any lists"]),
        ("  - name: r\n    query: 'NOT NATO'\n", [f"{at(1)} rules[0]: needs a word or phrase to look for"]),
        ("  - name: r\n    query: 'lang:en'\n", [f"{at(1)} rules[0]: could match without any of its words"]),
        (
            "  - name: r\n    terms: [a]\n    wieght: 2\n",
            [f"{at(3)} rules[0].wieght: unknown key (known keys: all, any,"],
        ),
        ("  - name: r\n    terms: [a]\n    threshold: -1\n", [f"{at(3)} rules[0].threshold: must be a number greater"]),
        (
            "  - name: r\n    terms: [a]\n    max_age: soon\n",
            [f"{at(3)} rules[0].max_age: must be a duration like 30s"],
        ),
        (
            "  - name: r\n    terms: [a]\n    destinations: [newsroom, nowhere]\n",
            [
                f"{at(3)} rules[0].destinations[1]: unknown destination 'nowhere' (alerts.destinations: ingest, newsroom)"
            ],
        ),
        ("  - name: r\n    terms: [a]\n    destinations: []\n", [f"{at(3)} rules[0].destinations: must name at least"]),
        # several problems at once, each at its own line
        (
            "  - name: a\n    query: '(x'\n  - name: b\n    query: 'y NEAR z'\n",
            [f"{at(2)} rules[0].query: unbalanced", f"{at(4)} rules[1].query: NEAR at column 3"],
        ),
    ],
)
def test_mistakes_are_reported_with_their_line(rules: str, expected: list[str]) -> None:
    found = problems(rules)
    assert len(found) == len(expected), found
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(start), problem


def test_destinations_are_checked_against_alerts_even_when_alerts_has_none() -> None:
    config = "version: 1\nsources: []\nrules:\n  - name: r\n    terms: [a]\n    destinations: [newsroom]\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(config, "rules.yaml", {})
    assert "rules.yaml:6: rules[0].destinations[0]: unknown destination 'newsroom' (alerts.destinations: none" in str(
        caught.value
    )
