"""Invariants of the rules engine, checked with hypothesis on generated rules and texts.

* The engine agrees with a plain, slow evaluator written here from the grammar's
  definitions, whatever the shape of the query (its indexes, prechecks and shortcuts
  must never change an answer).
* A query written back (``render``) parses to a query that means the same.
* Adding an unrelated word never changes a score.
* A rule's explanation always accounts for its score.
"""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.rules import RuleError, RuleSpec, compile_rules
from monitor.rules.engine import score
from monitor.rules.lang import And, Near, Node, Not, Or, Term, parse_query
from monitor.rules.render import render

VOCAB = ["nato", "war", "sanctions", "sanctioned", "eu", "russia", "peace", "talks"]
FILLER = ["the", "NATO", "War", "Sanctions", "EU's", "warm", "renato", "peaceful"]
SEPARATORS = [" ", " ", " ", "-", "\n", ". ", ", ", "’s ", " <em>", "</em> ", "\n\n"]

# Mostly the rules' own words, so that rules match as often as they miss.
texts = st.lists(st.tuples(st.sampled_from(VOCAB * 3 + FILLER), st.sampled_from(SEPARATORS)), max_size=25).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)
fields = st.sampled_from([("title", "body"), ("title",), ("body",)])


@st.composite
def terms(draw: st.DrawFn) -> Term:
    words = tuple(
        draw(
            st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2).filter(
                lambda w: len(w) == 1 or draw(st.booleans())
            )
        )
    )
    prefix = draw(st.booleans()) and len(words[-1]) > 4
    if prefix:
        words = (*words[:-1], words[-1][: draw(st.integers(3, len(words[-1]) - 1))])
    return Term(text=" ".join(words), words=words, prefix=prefix, fields=draw(fields))


nears = st.builds(
    Near,
    st.lists(terms(), min_size=1, max_size=2).map(tuple),
    st.lists(terms(), min_size=1, max_size=2).map(tuple),
    st.integers(0, 4),
    st.booleans(),
)
# Queries that need at least one word (the engine refuses the others), with NOT inside and on top.
positive = st.recursive(
    st.one_of(terms(), nears),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(inner, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
        st.lists(inner, min_size=2, max_size=3).map(lambda c: And((*c[:-1], Not(c[-1])))),  # a AND NOT b
    ),
    max_leaves=6,
)
trees = st.one_of(
    positive,
    st.builds(lambda a, b: And((a, Not(b))), positive, positive),  # a veto
    positive.map(lambda a: Not(Not(a))),
    st.builds(lambda a, b: Or((a, Not(Not(b)))), positive, positive),
)


def words_of(text: str) -> list[str]:
    """The reference tokenizer: tags blanked, lower-cased runs of letters and digits."""
    return re.findall(r"\w+", re.sub(r"</?[A-Za-z][^>]*>", " ", text).lower())


def occurrences(term: Term, words: list[str]) -> list[tuple[int, int]]:
    size = len(term.words)
    found = []
    for start in range(len(words) - size + 1):
        *head, last = words[start : start + size]
        if head == list(term.words[:-1]) and (
            last.startswith(term.words[-1]) if term.prefix else last == term.words[-1]
        ):
            found.append((start, start + size - 1))
    return found


def holds(node: Node, title: list[str], body: list[str]) -> bool:
    """The grammar's meaning, evaluated the slow and obvious way."""
    if isinstance(node, Term):
        return any(
            occurrences(node, words) for field, words in (("title", title), ("body", body)) if field in node.fields
        )
    if isinstance(node, Near):
        for field, words in (("title", title), ("body", body)):
            lefts = [o for t in node.left if field in t.fields for o in occurrences(t, words)]
            rights = [o for t in node.right if field in t.fields for o in occurrences(t, words)]
            for left in lefts:
                for right in rights:
                    if right[0] > left[1] and right[0] - left[1] - 1 <= node.distance:
                        return True
                    if not node.ordered and left[0] > right[1] and left[0] - right[1] - 1 <= node.distance:
                        return True
        return False
    if isinstance(node, Not):
        return not holds(node.child, title, body)
    if isinstance(node, And):
        return all(holds(child, title, body) for child in node.children)
    assert isinstance(node, Or)
    return any(holds(child, title, body) for child in node.children)


def compiled(query: str):  # type: ignore[no-untyped-def]
    try:
        return compile_rules([RuleSpec("q", (), query=query)])
    except RuleError:
        assume(False)  # only NOT, or a query that could match without any word: refused, rightly


@settings(max_examples=300, deadline=None)
@given(node=trees, title=texts, body=texts)
def test_the_engine_agrees_with_the_obvious_evaluator(node: Node, title: str, body: str) -> None:
    ruleset = compiled(render(node))
    verdict = score(ruleset, title, body, threshold=1.0)
    assert bool(verdict.matches) is holds(node, words_of(title), words_of(body))


@settings(max_examples=200, deadline=None)
@given(node=trees)
def test_render_then_parse_means_the_same(node: Node) -> None:
    again = parse_query(render(node))
    assert render(again) == render(parse_query(render(again)))
    for title, body in (("nato war", "sanctions talks russia"), ("eu", "peace nato-war talks")):
        assert holds(again, words_of(title), words_of(body)) is holds(node, words_of(title), words_of(body))


@settings(max_examples=200, deadline=None)
@given(node=trees, title=texts, body=texts, word=st.from_regex(r"[a-z]{1,10}", fullmatch=True))
def test_an_unrelated_word_never_changes_a_score(node: Node, title: str, body: str, word: str) -> None:
    assume(not any(word.startswith(v[:3]) or v.startswith(word) for v in VOCAB))
    ruleset = compiled(render(node))
    before = score(ruleset, title, body, threshold=1.0)
    after = score(ruleset, title, body + " " + word, threshold=1.0)
    assert after.score == before.score
    assert [m.rule for m in after.vetoed] == [m.rule for m in before.vetoed]


@settings(max_examples=200, deadline=None)
@given(
    node=trees,
    title=texts,
    body=texts,
    weight=st.floats(min_value=0.1, max_value=5.0, allow_nan=False),
    boost=st.floats(min_value=1.0, max_value=5.0, allow_nan=False),
)
def test_a_rules_explanation_always_accounts_for_its_score(
    node: Node, title: str, body: str, weight: float, boost: float
) -> None:
    try:
        ruleset = compile_rules([RuleSpec("q", (), query=render(node), weight=weight)], title_boost=boost)
    except RuleError:
        assume(False)
    verdict = score(ruleset, title, body, threshold=1.0)
    field_boost = {"title": boost, "lead": 2.0, "body": 1.0}
    for match in (*verdict.matches, *verdict.vetoed):
        assert match.hits, "a match always shows what hit"
        for hit in match.hits:
            assert hit.points == round(field_boost[hit.field] * 2 * hit.count / (hit.count + 1), 4)
            assert hit.snippet.count("**") >= 2
        assert match.score == round(match.weight * sum(hit.points for hit in match.hits), 3)
    assert verdict.score == round(sum(match.score for match in verdict.matches), 3)
