"""Tests for the rules engine: matching, scoring, explanations and snippets.

Scoring has three fields since rules learned the lead: the title (boost 3), the
lead (the body's first two sentences, boost 2) and the rest of the body (boost 1).
Tests that mean "the body" put ``LEAD`` first, so their hits land after the lead.
Snippets are the sentence of the hit, at most ``SNIPPET_CONTEXT`` characters
either side of it.
"""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import MonitorError
from monitor.models import Verdict
from monitor.rules import RuleError, RuleSet, RuleSpec, compile_rules
from monitor.rules.engine import score
from monitor.rules.text import SNIPPET_CONTEXT

LEAD = "First sentence of the story. Second sentence of the story. "


def sat(count: int) -> float:
    """The saturation curve, written out independently of the engine."""
    return 2 * count / (count + 1)


def one_rule(*terms: str, weight: float = 1.0, title_boost: float = 3.0) -> RuleSet:
    """A rule set with a single rule called ``r``."""
    return compile_rules([RuleSpec("r", terms, weight=weight)], title_boost=title_boost)


def body_verdict(term: str, body: str) -> Verdict:
    """Score ``body`` against one rule holding ``term``."""
    return score(one_rule(term), "", body, threshold=1.0)


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("armed conflict", "an armed conflict began"),
        ("armed conflict", "an armed-conflict began"),
        ("armed conflict", "an armed\nconflict began"),
        ("armed conflict", "an armed\r\n\tconflict began"),
        ("armed conflict", "an armed <em>conflict</em> began"),
        ("armed conflict", "an <b>armed</b> conflict"),
        ("armed conflict", 'an armed <a href="/x?y=1">conflict</a>'),
        ("armed conflict", "Armed   Conflict"),
        ("armed conflict", "ARMED CONFLICT!"),
        ("armed-conflict", "armed conflict"),
        ("NATO", "NATO"),
        ("NATO", "nato"),
        ("NATO", "NATO's position"),
        ("NATO", "NATO’s position"),
        ("NATO", "(NATO)"),
        ("NATO", "“NATO”"),
        ("NATO", "NATO-led"),
        ("NATO", "end of sentence NATO."),
        ("nato", "NATO"),
        ("Zelenskyy's", "Zelenskyy's plan"),
        ("Zelenskyy's", "Zelenskyy’s plan"),
        ("Zelenskyy", "Zelenskyy’s plan"),
        ("Україна", "україна"),
        ("Україна", "УКРАЇНА"),
        ("Україна", "Вся Україна, як одна"),
        ("Україна", "Україна's"),
        ("café", "Café"),
        ("café", "CAFÉ"),
        ("café", "cafe\u0301 au lait"),  # decomposed é
        ("cafe\u0301", "café au lait"),
        ("São Paulo", "SÃO-PAULO"),
        ("Straße", "STRASSE"),
        ("G7", "the G7 summit"),
    ],
)
def test_term_matches(term: str, text: str) -> None:
    assert body_verdict(term, text).matches


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("NATO", "Renato"),
        ("NATO", "NATOs"),
        ("NATO", "NA TO"),
        ("NATO", "NAT O"),
        ("NATO", ""),
        ("armed conflict", "disarmed conflict"),
        ("armed conflict", "armed conflicts"),
        ("armed conflict", "conflict armed"),
        ("armed conflict", "armed and conflict"),
        ("armed conflict", "armed"),
        ("armed conflict", "conflict"),
        ("Zelenskyy's", "Zelenskyy"),
        ("Україна", "Українами"),
        ("Україна", "Ukraine"),
        ("café", "cafe"),
        ("café", "cafés"),
        ("cafe", "cafe\u0301"),  # a decomposed accent stays part of its word
        ("G7", "G77"),
        ("em", "an <em>armed</em> man"),  # tags are not words
        ("href", '<a href="/x">link</a>'),
    ],
)
def test_term_does_not_match(term: str, text: str) -> None:
    assert not body_verdict(term, text).matches


@pytest.mark.parametrize(
    ("term", "text", "count"),
    [
        ("NATO", "NATO, nato and Nato's", 3),
        ("NATO", "NATO Renato NATOs NATO", 2),
        ("armed conflict", "armed conflict, armed-conflict and armed\nconflict", 3),
        ("armed conflict", "armed armed conflict", 1),
        ("war", "war " * 20, 20),
    ],
)
def test_hit_counts_occurrences(term: str, text: str, count: int) -> None:
    [hit] = body_verdict(term, text).hits
    assert hit.count == count


@pytest.mark.parametrize(
    ("terms", "title", "body", "weight", "title_boost", "expected"),
    [
        (("NATO",), "NATO", "", 1.0, 3.0, 3.0),
        (("NATO",), "", LEAD + "NATO", 1.0, 3.0, 1.0),
        (("NATO",), "", "NATO", 1.0, 3.0, 2.0),  # in the lead
        (("NATO",), "NATO", LEAD + "NATO", 1.0, 3.0, 4.0),
        (("NATO",), "NATO", "NATO", 1.0, 3.0, 5.0),
        (("NATO",), "NATO", "", 1.0, 2.0, 2.0),
        (("NATO",), "", LEAD + "NATO NATO", 1.0, 3.0, 1.333),
        (("NATO",), "", LEAD + "NATO NATO NATO", 1.0, 3.0, 1.5),
        (("NATO",), "", "NATO NATO NATO", 1.0, 3.0, 3.0),
        (("NATO",), "NATO NATO NATO", "", 1.0, 3.0, 4.5),
        (("NATO",), "", LEAD + "NATO", 2.5, 3.0, 2.5),
        (("NATO",), "NATO", LEAD + "NATO", 0.5, 3.0, 2.0),
        (("NATO",), "", "NATO met. Then it left. NATO again", 1.0, 3.0, 3.0),  # lead 2 + body 1
        (("NATO", "Russia"), "", LEAD + "NATO and Russia", 1.0, 3.0, 2.0),
        (("NATO", "Russia"), "Russia", LEAD + "NATO NATO NATO", 2.0, 3.0, 9.0),
        (("NATO", "armed conflict"), "", LEAD + "armed conflict", 1.0, 3.0, 1.0),
        (("NATO",), "", "nothing here", 1.0, 3.0, 0.0),
    ],
)
def test_scoring(
    terms: tuple[str, ...],
    title: str,
    body: str,
    weight: float,
    title_boost: float,
    expected: float,
) -> None:
    ruleset = one_rule(*terms, weight=weight, title_boost=title_boost)
    verdict = score(ruleset, title, body, threshold=1.0)
    assert verdict.score == expected
    assert isinstance(verdict.score, float)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 20, 1000])
def test_body_mentions_saturate_below_one_lead_and_one_title_mention(count: int) -> None:
    ruleset = one_rule("NATO")
    in_body = score(ruleset, "", LEAD + "NATO " * count, threshold=1.0).score
    in_lead = score(ruleset, "", "NATO", threshold=1.0).score
    in_title = score(ruleset, "NATO", "", threshold=1.0).score
    assert in_body == round(sat(count), 3)
    assert in_body < 2.0 == in_lead < 3.0 == in_title


def test_twenty_body_mentions_score_less_than_one_title_mention() -> None:
    ruleset = one_rule("NATO")
    twenty = score(ruleset, "", LEAD + "NATO said. " * 20, threshold=1.0).score
    assert twenty == 1.905  # 2 * 20 / 21
    assert twenty < score(ruleset, "NATO said", "", threshold=1.0).score


def test_article_score_sums_rules() -> None:
    ruleset = compile_rules(
        [
            RuleSpec("alliance", ("NATO",), weight=2.0),
            RuleSpec("war", ("armed conflict", "troops"), weight=0.5),
            RuleSpec("other", ("weather",)),
        ]
    )
    verdict = score(ruleset, "NATO summit", LEAD + "troops in armed conflict", threshold=1.0)
    assert {m.rule: m.score for m in verdict.matches} == {"alliance": 6.0, "war": 1.0}
    assert verdict.score == 7.0


@pytest.mark.parametrize(
    ("title", "body", "threshold", "alert"),
    [
        ("", LEAD + "NATO", 1.0, True),  # at the threshold alerts
        ("", LEAD + "NATO", 1.001, False),
        ("NATO", "", 3.0, True),
        ("", LEAD + "NATO NATO NATO", 3.0, False),
        ("", "nothing", 0.0, False),  # no match never alerts
        ("", "", 0.0, False),
    ],
)
def test_threshold_decides_alert(title: str, body: str, threshold: float, alert: bool) -> None:
    verdict = score(one_rule("NATO"), title, body, threshold=threshold)
    assert verdict.threshold == threshold
    assert verdict.alert is alert


def test_matches_ordered_by_score_then_name() -> None:
    ruleset = compile_rules(
        [
            RuleSpec("charlie", ("nato",)),
            RuleSpec("bravo", ("nato",), weight=2.0),
            RuleSpec("alpha", ("nato",)),
            RuleSpec("delta", ("weather",)),
        ]
    )
    verdict = score(ruleset, "", LEAD + "NATO", threshold=1.0)
    assert [(m.rule, m.score) for m in verdict.matches] == [
        ("bravo", 2.0),
        ("alpha", 1.0),
        ("charlie", 1.0),
    ]


def test_hits_ordered_title_first_then_count_then_term() -> None:
    ruleset = one_rule("zeta", "alpha", "beta", "gamma", "delta")
    verdict = score(ruleset, "delta", "gamma. " + LEAD + "zeta alpha alpha beta beta delta", threshold=1.0)
    [match] = verdict.matches
    assert [(h.field, h.term, h.count) for h in match.hits] == [
        ("title", "delta", 1),
        ("lead", "gamma", 1),
        ("body", "alpha", 2),
        ("body", "beta", 2),
        ("body", "delta", 1),
        ("body", "zeta", 1),
    ]


def test_hit_keeps_term_as_written_and_names_rule_and_field() -> None:
    ruleset = compile_rules([RuleSpec("alliance", ("Nato Summit",))])
    verdict = score(ruleset, "NATO SUMMIT opens", "", threshold=1.0)
    [hit] = verdict.hits
    assert (hit.rule, hit.term, hit.field, hit.count) == (
        "alliance",
        "Nato Summit",
        "title",
        1,
    )
    assert hit.snippet == "**NATO SUMMIT** opens"


def test_same_term_twice_in_a_rule_counts_once() -> None:
    verdict = score(one_rule("NATO", "nato", "N.A.T.O"), "", LEAD + "NATO", threshold=1.0)
    assert [h.term for h in verdict.hits] == ["NATO"]
    assert verdict.score == 1.0


def test_term_shared_by_rules_matches_each() -> None:
    ruleset = compile_rules([RuleSpec("a", ("NATO",)), RuleSpec("b", ("nato",))])
    verdict = score(ruleset, "", "NATO", threshold=1.0)
    assert [(h.rule, h.term) for h in verdict.hits] == [("a", "NATO"), ("b", "nato")]


def test_many_rules_only_matching_ones_reported() -> None:
    specs = [RuleSpec(f"rule{i}", (f"term{i}", f"phrase {i}")) for i in range(10_000)]
    ruleset = compile_rules(specs)
    verdict = score(ruleset, "term42", LEAD + "a phrase 9999 and term7", threshold=1.0)
    assert [m.rule for m in verdict.matches] == ["rule42", "rule7", "rule9999"]
    assert verdict.score == 5.0


@pytest.mark.parametrize(
    ("term", "text", "snippet"),
    [
        ("NATO", "Allies of NATO's east", "Allies of **NATO**'s east"),
        ("NATO", "Allies of NATO’s east", "Allies of **NATO**’s east"),
        ("armed conflict", "an armed-conflict zone", "an **armed-conflict** zone"),
        (
            "armed conflict",
            "an armed <em>conflict</em> zone",
            "an **armed conflict** zone",
        ),
        ("armed conflict", "an <b>armed</b>\n\n conflict", "an **armed conflict**"),
        ("NATO", "NATO  said\tthis and NATO again", "**NATO** said this and NATO again"),
        ("NATO", "NATO  said\tthis\n\nand NATO again", "**NATO** said this"),  # a line break ends a sentence
        ("NATO", "Talks ended. NATO met Russia. Then it rained.", "**NATO** met Russia."),
        ("NATO", "Mr. Rutte of NATO spoke. Next.", "Mr. Rutte of **NATO** spoke."),
        ("NATO", "The U.S. and NATO agree. Next.", "The U.S. and **NATO** agree."),
        ("NATO", '"Ask NATO," he said. Next.', '"Ask **NATO**," he said.'),
        ("Zelenskyy's", "Zelenskyy’s plan", "**Zelenskyy’s** plan"),
        ("Україна", "Вся УКРАЇНА тут", "Вся **УКРАЇНА** тут"),
        ("café", "un cafe\u0301 noir", "un **café** noir"),  # text is composed (NFC) before matching
    ],
)
def test_snippet_marks_first_hit_in_original_text(term: str, text: str, snippet: str) -> None:
    [hit] = body_verdict(term, text).hits
    assert hit.snippet == snippet


def test_snippet_of_each_field_comes_from_that_field() -> None:
    verdict = score(one_rule("NATO"), "NATO meets", "Today NATO said", threshold=1.0)
    assert [h.snippet for h in verdict.hits] == [
        "**NATO** meets",
        "Today **NATO** said",
    ]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["lorem"] * 50, ["ipsum"] * 50),
        (["a", "bb", "ccc", "dddd"] * 20, ["eeeee", "ff"] * 30),
        (["Україна,"] * 30, ["слово,"] * 30),
    ],
)
def test_long_snippet_is_bounded_and_cut_at_words(before: list[str], after: list[str]) -> None:
    body = " ".join([*before, "armed-conflict", *after])
    [hit] = body_verdict("armed conflict", body).hits
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("…")
    assert "**armed-conflict**" in hit.snippet
    assert len(hit.snippet) <= len("armed-conflict") + 2 * SNIPPET_CONTEXT + 4 + 2
    assert len(hit.snippet) >= len("armed-conflict") + 2 * (SNIPPET_CONTEXT - 20)
    inner = hit.snippet.strip("…").replace("**", "")
    assert inner in body
    assert set(inner.split()) <= set(before) | set(after) | {"armed-conflict"}


def test_snippet_in_unbroken_text_still_shows_hit() -> None:
    body = "x" * 200 + " NATO " + "y" * 200
    [hit] = body_verdict("NATO", body).hits
    assert "**NATO**" in hit.snippet
    assert len(hit.snippet) <= len("NATO") + 2 * SNIPPET_CONTEXT + 4 + 2


def test_snippet_shows_first_occurrence() -> None:
    body = "NATO first. " + "filler " * 40 + "NATO second."
    [hit] = body_verdict("NATO", body).hits
    assert hit.count == 2
    assert hit.snippet.startswith("**NATO** first.")


@pytest.mark.parametrize("term", ["", "--", "   ", "!!!", "’", "—/—"])
def test_wordless_term_is_an_error(term: str) -> None:
    spec = RuleSpec("wordless", ("NATO", term), line=12)
    with pytest.raises(RuleError) as caught:
        compile_rules([RuleSpec("fine", ("ok",)), spec])
    assert isinstance(caught.value, MonitorError)
    assert "wordless" in str(caught.value)
    assert repr(term) in str(caught.value)
    assert "12" in str(caught.value)


def test_ruleset_keeps_its_rules() -> None:
    specs = [RuleSpec("a", ("NATO",)), RuleSpec("b", ("war",), weight=2.0)]
    assert compile_rules(specs).rules == tuple(specs)


def test_ruleset_survives_pickle() -> None:
    ruleset = compile_rules(
        [
            RuleSpec("alliance", ("NATO", "armed conflict"), weight=1.5),
            RuleSpec("ukraine", ("Україна", "Zelenskyy's")),
        ],
        title_boost=2.5,
    )
    copy = pickle.loads(pickle.dumps(ruleset))
    title, body = "NATO and Україна", "Zelenskyy’s armed <i>conflict</i> NATO"
    assert copy == ruleset
    assert score(copy, title, body, threshold=2.0) == score(ruleset, title, body, threshold=2.0)


def test_scoring_is_deterministic() -> None:
    ruleset = compile_rules([RuleSpec(f"r{i}", ("NATO", "war")) for i in range(5)])
    verdicts = {score(ruleset, "war", "NATO war NATO", threshold=1.0) for _ in range(3)}
    assert len(verdicts) == 1


# Property tests: texts built from the words the rules use, so there are hits.
VOCAB = ["nato", "armed", "conflict", "україна", "café", "zelenskyy", "s", "war"]
FILLER = ["the", "NATO", "Armed", "УКРАЇНА", "CAFÉ", "Renato", "disarmed", "warm"]
SEPARATORS = [" ", "-", "\n", "’s ", "'s ", ", ", " <em>", "</em> ", ". "]

words = st.sampled_from(VOCAB + FILLER)
texts = st.lists(st.tuples(words, st.sampled_from(SEPARATORS)), max_size=40).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)
terms = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3).map(" ".join)
rule_lists = st.lists(
    st.tuples(
        st.lists(terms, min_size=1, max_size=4),
        st.floats(min_value=0.1, max_value=5.0, allow_nan=False),
    ),
    min_size=1,
    max_size=5,
).map(lambda rules: [RuleSpec(f"rule{i}", tuple(ts), weight=w) for i, (ts, w) in enumerate(rules)])
boosts = st.floats(min_value=1.0, max_value=5.0, allow_nan=False)


@settings(max_examples=200)
@given(
    specs=rule_lists,
    title=texts,
    body=st.one_of(texts, st.text()),
    word=st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    boost=boosts,
)
def test_unrelated_word_never_changes_score(
    specs: list[RuleSpec], title: str, body: str, word: str, boost: float
) -> None:
    used = {w for spec in specs for t in spec.terms for w in re.findall(r"\w+", t)}
    if word in used:
        return
    ruleset = compile_rules(specs, title_boost=boost)
    before = score(ruleset, title, body, threshold=1.0)
    after = score(ruleset, title, body + " " + word, threshold=1.0)
    assert after.score == before.score


@settings(max_examples=200)
@given(specs=rule_lists, title=texts, body=texts, boost=boosts)
def test_explanation_accounts_for_score(specs: list[RuleSpec], title: str, body: str, boost: float) -> None:
    ruleset = compile_rules(specs, title_boost=boost)
    verdict = score(ruleset, title, body, threshold=1.0)
    weights = {spec.name: spec.weight for spec in specs}
    field_boost = {"title": boost, "lead": 2.0, "body": 1.0}
    assert verdict.score == pytest.approx(round(sum(m.score for m in verdict.matches), 3), abs=1e-9)
    for match in verdict.matches:
        assert match.hits
        assert match.weight == weights[match.rule]
        assert all(hit.rule == match.rule for hit in match.hits)
        assert all("**" in hit.snippet for hit in match.hits)
        # Each hit carries its points, and the points are the formula: boost × 2n / (n + 1).
        for hit in match.hits:
            assert hit.points == round(field_boost[hit.field] * sat(hit.count), 4)
        # The rule's score is exactly what its hits show.
        assert match.score == round(match.weight * sum(hit.points for hit in match.hits), 3)
