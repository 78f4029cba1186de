"""The rule language, operator by operator: queries, terms with options, fields, filters, and parse errors.

Each table row is a query, an article and whether the rule matches it. ``LEAD``
puts a hit after the lead where the field matters.
"""

from __future__ import annotations

import pickle

import pytest

from monitor.errors import MonitorError
from monitor.rules import QueryError, RuleError, RuleSpec, compile_rules, tree
from monitor.rules.engine import Meta, score
from monitor.rules.lang import parse_query, parse_term
from monitor.rules.render import render

LEAD = "First sentence of the story. Second sentence of the story. "


def verdict(query: str, title: str = "", body: str = "", meta: Meta | None = None):  # type: ignore[no-untyped-def]
    ruleset = compile_rules([RuleSpec("q", (), query=query)])
    return score(ruleset, title, body, threshold=1.0, meta=meta)


def matches(query: str, title: str = "", body: str = "", meta: Meta | None = None) -> bool:
    return bool(verdict(query, title, body, meta).matches)


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [
        # AND, OR, NOT, brackets, and words side by side (an implicit AND)
        ("NATO AND sanctions", "NATO imposes sanctions", True),
        ("NATO AND sanctions", "NATO imposes tariffs", False),
        ("NATO sanctions", "sanctions by NATO", True),
        ("NATO sanctions", "NATO alone", False),
        ("NATO OR EU", "the EU met", True),
        ("NATO OR EU", "the UN met", False),
        ("NATO AND NOT football", "NATO football", False),
        ("NATO NOT football", "NATO met", True),
        ("(NATO OR EU) AND (sanctions OR tariffs)", "EU tariffs", True),
        ("(NATO OR EU) AND (sanctions OR tariffs)", "EU talks", False),
        ("NATO AND (EU OR NOT Russia)", "NATO only", True),
        ("NATO AND (EU OR NOT Russia)", "NATO and Russia", False),
        ("NATO AND (EU OR NOT Russia)", "NATO, Russia and the EU", True),
        ("((NATO))", "NATO", True),
        # AND binds tighter than OR
        ("alpha OR beta AND gamma", "alpha", True),
        ("alpha OR beta AND gamma", "beta", False),
        ("alpha OR beta AND gamma", "beta gamma", True),
        # exact phrases, across hyphens, line breaks and inline tags, in straight and typographic quotes
        ('"armed conflict"', "an armed conflict", True),
        ('"armed conflict"', "an armed-conflict zone", True),
        ('"armed conflict"', "an armed\nconflict", True),
        ('"armed conflict"', "an armed\r\n  conflict", True),
        ('"armed conflict"', "an armed <em>conflict</em>", True),
        ('"armed conflict"', 'an <a href="/x">armed</a> conflict', True),
        ('"armed conflict"', "conflict, armed", False),
        ('"armed conflict"', "disarmed conflict", False),
        ('"armed conflict"', "armed conflicts", False),
        ("“armed conflict”", "an armed conflict", True),
        ("„armed conflict“", "an armed conflict", True),
        ("«armed conflict»", "an armed conflict", True),
        ('"armed conflict”', "an armed conflict", True),
        # possessives: the apostrophe (straight or curly) separates words
        ("NATO", "NATO's plan", True),
        ("NATO", "NATO’s plan", True),
        ('"Zelenskyy\'s plan"', "Zelenskyy’s plan", True),
        ('"NATO plan"', "NATO's plan", False),
        # substrings never match
        ("NATO", "Renato", False),
        ("war", "warm award", False),
        ("war", "a war-torn city", True),
        ("G7", "the G77", False),
        ("em", "an <em>armed</em> man", False),  # tags are not words
        # prefixes
        ("sanction*", "new sanctions", True),
        ("sanction*", "he was sanctioned", True),
        ("sanction*", "a sanction", True),
        ("sanction*", "unsanctioned", False),
        ("sanction*", "sanctity", False),
        ('"nuclear weap*"', "nuclear weapons", True),
        ('"nuclear weap*"', "nuclear-weaponry", True),
        ('"nuclear weap*"', "weapons, nuclear", False),
        # inflections of the word as written
        ("sanction~", "sanctions", True),
        ("sanction~", "sanctioned", True),
        ("sanction~", "sanctioning", True),
        ("sanction~", "sanctionable", False),
        ("policy~", "new policies", True),
        ("ban~", "banned", True),
        ("close~", "closing", True),
        ("tax~", "taxes", True),
        ("embargo~", "embargoes", True),
        ('"economic sanction~"', "economic sanctions", True),
        # case-sensitive terms, for acronyms
        ("=NATO", "NATO met", True),
        ("=NATO", "Nato FC won", False),
        ("=NATO", "nato", False),
        ("=NATO", "NATO's", True),
        ("=US", "US troops", True),
        ("=US", "ask us", False),
        ('="Nato FC"', "Nato FC won", True),
        ('="Nato FC"', "NATO FC won", False),
        ("NATO", "Nato FC won", True),
        ("=sanction*", "Sanctions", False),
        ("=Sanction*", "Sanctions", True),
        # Unicode: accents, Cyrillic, Greek, Arabic, Devanagari (combining marks), decomposed accents
        ("Україна", "ВСЯ УКРАЇНА", True),
        ("Україна", "Українами", False),
        ("café", "CAFÉ", True),
        ("café", "cafe\u0301", True),
        ("cafe", "cafe\u0301", False),
        ('"São Paulo"', "SÃO-PAULO", True),
        ("Straße", "STRASSE", True),
        ("Αθήνα", "στην ΑΘΉΝΑ σήμερα", True),
        ("دمشق", "في دمشق اليوم", True),
        ("नमस्ते", "नमस्ते दुनिया", True),
        ("नम", "नमस्ते दुनिया", False),
    ],
)
def test_operator(query: str, body: str, expected: bool) -> None:
    assert matches(query, body=body) is expected


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [
        ("NATO NEAR/3 sanctions", "NATO will impose sanctions", True),  # two words between
        ("NATO NEAR/1 sanctions", "NATO will impose sanctions", False),
        ("NATO NEAR/3 sanctions", "sanctions imposed by NATO", True),  # either order
        ("NATO ONEAR/3 sanctions", "sanctions imposed by NATO", False),  # ordered: NATO first
        ("NATO ONEAR/3 sanctions", "NATO imposed sanctions", True),
        ("NATO NEAR/0 sanctions", "NATO sanctions", True),
        ("NATO NEAR/0 sanctions", "NATO, sanctions", True),  # punctuation is not a word
        ("NATO NEAR/5 sanctions", "NATO met. Sanctions followed.", True),  # across a sentence boundary
        ("NATO NEAR/5 sanctions", "NATO met.\n\nSanctions followed.", True),  # and a paragraph
        ("NATO NEAR/2 NATO", "NATO", False),  # a word is not near itself
        ("NATO NEAR/2 NATO", "NATO and NATO", True),
        ("(NATO OR alliance) NEAR/2 sanction*", "the alliance sanctioned them", True),
        ('"armed conflict" NEAR/2 Europe', "armed conflict in Europe", True),
        ('"armed conflict" NEAR/3 Europe', "Europe fears a new armed conflict", True),
        ('"armed conflict" NEAR/2 Europe', "Europe fears a new armed conflict", False),
        ('"armed conflict" NEAR/0 Europe', "armed conflict in Europe", False),
        ("NATO NEAR/3 sanctions AND Russia", "NATO sanctions hit Russia", True),
        ("NATO NEAR/3 sanctions AND Russia", "NATO sanctions hit Iran", False),
    ],
)
def test_proximity(query: str, body: str, expected: bool) -> None:
    assert matches(query, body=body) is expected


def test_proximity_never_spans_title_and_body() -> None:
    assert not matches("NATO NEAR/5 sanctions", title="NATO", body="sanctions")
    assert matches("NATO NEAR/5 sanctions", title="NATO sanctions", body="")


def test_proximity_adds_a_bonus_hit_with_both_words_marked() -> None:
    result = verdict("NATO NEAR/5 sanctions", body=LEAD + "NATO imposed sanctions on banks.")
    [match] = result.matches
    near = [hit for hit in match.hits if hit.kind == "near"]
    assert [(hit.term, hit.field, hit.count, hit.points) for hit in near] == [("NATO NEAR/5 sanctions", "body", 1, 1.0)]
    assert near[0].snippet == "**NATO** imposed **sanctions** on banks."
    assert match.score == 3.0  # NATO 1 + sanctions 1 + the proximity bonus 1


@pytest.mark.parametrize(
    ("query", "title", "body", "expected"),
    [
        ("title:NATO", "NATO summit", "", True),
        ("title:NATO", "Summit", "NATO", False),
        ("body:NATO", "", LEAD + "NATO", True),
        ("body:NATO", "", "NATO met.", True),  # the lead is part of the body
        ("body:NATO", "NATO", "", False),
        ("lead:NATO", "", "NATO met.", True),
        ("lead:NATO", "", LEAD + "NATO", False),
        ("title:(NATO OR EU) AND sanctions", "EU summit", "sanctions", True),
        ("title:(NATO OR EU) AND sanctions", "Summit", "EU sanctions", False),
        ("title:NATO NEAR/2 sanctions", "NATO weighs sanctions", "", True),
        ("title:NATO NEAR/2 sanctions", "", "NATO weighs sanctions", False),
    ],
)
def test_text_fields(query: str, title: str, body: str, expected: bool) -> None:
    assert matches(query, title, body) is expected


REUTERS = Meta(urls=("https://www.reuters.com/world/europe/nato-1",), source="bbc-world", language="en-GB")


@pytest.mark.parametrize(
    ("query", "meta", "expected"),
    [
        ("NATO site:reuters.com", REUTERS, True),
        ("NATO site:www.reuters.com", REUTERS, True),
        ("NATO site:https://reuters.com/", REUTERS, True),
        ("NATO site:reuters.com", Meta(urls=("https://uk.reuters.com/a",)), True),
        ("NATO site:reuters.com", Meta(urls=("https://notreuters.com/a",)), False),
        ("NATO site:(apnews.com OR reuters.com)", REUTERS, True),
        ("NATO url:/world/", REUTERS, True),
        ("NATO url:/sport/", REUTERS, False),
        ("NATO source:bbc-world", REUTERS, True),
        ("NATO source:dw-world", REUTERS, False),
        ("NATO source:bbc-*", REUTERS, True),
        ("NATO source:(dw-world OR bbc-world)", REUTERS, True),
        ("NATO lang:en", REUTERS, True),
        ("NATO lang:en-gb", REUTERS, True),
        ("NATO lang:de", REUTERS, False),
        ("NATO lang:en", Meta(), False),
        ('NATO author:"Jane Doe"', Meta(authors=("By Jane Doe, Reuters",)), True),
        ('NATO author:"jane doe"', Meta(authors=("Jane Doe",)), True),
        ('NATO author:"Jane Doe"', Meta(authors=("Jane Doel",)), False),
        ("NATO AND NOT source:bbc-world", REUTERS, False),
        ("NATO AND (site:apnews.com OR lang:en)", REUTERS, True),
    ],
)
def test_filters(query: str, meta: Meta, expected: bool) -> None:
    assert matches(query, body="NATO", meta=meta) is expected


def test_a_top_level_not_vetoes_and_the_veto_is_explained() -> None:
    result = verdict('NATO AND NOT "football club"', body="NATO, the football club, won again.")
    assert not result.matches
    [vetoed] = result.vetoed
    assert vetoed.rule == "q" and vetoed.score == 2.0  # what it would have scored
    [veto] = vetoed.vetoed_by
    assert (veto.term, veto.field, veto.count, veto.points) == ('"football club"', "lead", 1, 0.0)
    assert "**football club**" in veto.snippet


def test_exclude_vetoes_like_a_top_level_not() -> None:
    spec = RuleSpec("nato", ("NATO",), exclude=(parse_term('"football club"'), parse_query("title:match")))
    ruleset = compile_rules([spec])
    assert score(ruleset, "", "NATO met", threshold=1.0).matches
    assert [h.term for h in score(ruleset, "Match report", "NATO won", threshold=1.0).vetoed[0].vetoed_by] == ["match"]


def test_a_nested_not_is_logic_not_a_veto() -> None:
    result = verdict("NATO AND (EU OR NOT Russia)", body="NATO and Russia")
    assert not result.matches and not result.vetoed


def test_vetoed_rules_do_not_count_or_alert() -> None:
    ruleset = compile_rules([RuleSpec("nato", (), query="NATO AND NOT football"), RuleSpec("war", ("war",))])
    result = score(ruleset, "NATO football war", "", threshold=1.0)
    assert [m.rule for m in result.matches] == ["war"] and result.score == 3.0
    assert [m.rule for m in result.alerting()] == ["war"]


@pytest.mark.parametrize(
    ("query", "problem", "column"),
    [
        ("(NATO OR EU", "unbalanced bracket: '(' at column 1 is never closed", 1),
        ("NATO)", "unbalanced bracket: ')' at column 5 has no '('", 5),
        ("foo:bar", "unknown field 'foo:' at column 1", 1),
        ("NATO AND Foo:x", "unknown field 'Foo:'", 10),
        ("a NEAR b", "NEAR at column 3 needs a distance, as in NEAR/10", 3),
        ("a ONEAR b", "ONEAR at column 3 needs a distance", 3),
        ("a NEAR/x b", "the distance must be a whole number", 3),
        ("a NEAR/5000 b", "from 0 to 1000", 3),
        ("", "is empty", 1),
        ("   ", "is empty", 1),
        ("a or b", "operators are upper-case (OR)", 3),
        ("a near/3 b", "operators are upper-case (NEAR/3)", 3),
        ("a AND", "ends too early", 6),
        ("OR a", "expected a word, phrase or ( at column 1, found OR", 1),
        ('"armed conflict', "unclosed quote", 1),
        ("()", "empty brackets at column 1", 1),
        ("x*", "at least 3 letters", 1),
        ("sanc*tion", "only ends a term", 1),
        ("a NEAR/3 b NEAR/3 c", "chain proximity with AND", 12),
        ("(a AND b) NEAR/3 c", "joins words, phrases or (a OR b) groups", 11),
        ("a NEAR/3 site:x.com", "joins words", 3),
        ("title:body:x", "can never match", 1),
        ("title: x", "needs a word, phrase or ( right after the colon", 6),
        ("site:(a.com b.com)", "takes values joined by OR", 13),
        ("lang:english1", "language code", 6),
        ("site:no_such_host", "host name", 6),
    ],
)
def test_parse_errors_say_what_and_where(query: str, problem: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert problem in caught.value.message
    assert caught.value.position + 1 == column
    assert isinstance(caught.value, MonitorError)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("NOT NATO", "needs a word or phrase to look for, not only NOT"),
        ("site:reuters.com", "could match without any of its words"),
        ("NATO OR NOT EU", "could match without any of its words"),
        ("NATO OR lang:en", "could match without any of its words"),
    ],
)
def test_rules_that_could_match_without_a_word_are_refused(query: str, problem: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rules([RuleSpec("odd", (), query=query, line=7)])
    assert problem in str(caught.value) and "'odd' (line 7)" in str(caught.value)


def test_query_and_terms_must_both_hold() -> None:
    ruleset = compile_rules([RuleSpec("r", ("NATO", "EU"), query="sanctions")])
    assert score(ruleset, "", "EU sanctions", threshold=1.0).matches
    assert not score(ruleset, "", "EU talks", threshold=1.0).matches


def test_a_queries_top_level_not_vetoes_next_to_terms_too() -> None:
    ruleset = compile_rules([RuleSpec("r", ("NATO",), query="(sanctions OR embargo) AND NOT football")])
    result = score(ruleset, "", "NATO sanctions football", threshold=1.0)
    assert not result.matches and [hit.term for hit in result.vetoed[0].vetoed_by] == ["football"]


@pytest.mark.parametrize(
    "query",
    [
        'NATO NEAR/10 sanction* AND NOT "football club"',
        '(NATO OR "North Atlantic Treaty Organization") ONEAR/5 sanction~ AND title:=EU',
        'site:(reuters.com OR apnews.com) AND author:"Jane Doe" AND lang:en AND war',
        "a OR b AND c OR NOT (d OR e)",
    ],
)
def test_render_parses_back_to_the_same_tree(query: str) -> None:
    node = parse_query(query)
    assert parse_query(render(node)) == node
    assert tree(node)  # and it can be shown


def test_tree_shows_structure_and_options() -> None:
    lines = tree(parse_query("(NATO OR =EU) AND sanction~ AND title:war"), vetoes=(parse_term("football"),))
    assert lines == [
        "ALL of",
        "├─ ANY of",
        '│  ├─ word "NATO"',
        '│  └─ word "EU", case-sensitive',
        '├─ word "sanction", inflections',
        '└─ word "war", in title',
        'VETO word "football"',
    ]


def test_query_rules_survive_pickle() -> None:
    ruleset = compile_rules([RuleSpec("q", (), query='NATO NEAR/5 sanction~ AND NOT "football club"')])
    copy = pickle.loads(pickle.dumps(ruleset))
    body = "NATO imposed sanctions. The football club lost."
    assert score(copy, "", body, threshold=1.0) == score(ruleset, "", body, threshold=1.0)


def test_ten_thousand_query_rules_report_only_what_matches() -> None:
    specs = [RuleSpec(f"r{i}", (), query=f'"term{i}" AND (alpha OR beta{i}) AND NOT gamma{i}') for i in range(10_000)]
    ruleset = compile_rules(specs)
    result = score(ruleset, "term42 alpha", "term7 beta7 and term9 gamma9 alpha", threshold=1.0)
    assert sorted(m.rule for m in result.matches) == ["r42", "r7"]
    assert [m.rule for m in result.vetoed] == ["r9"]
