"""The rule language: terms, and boolean queries with proximity and field filters, as an immutable tree.

A **term** is a word or a phrase, matched whole-word and case-insensitively::

    NATO                   a word ("NATO", "nato", "NATO's", "(NATO)"; not "Renato")
    "armed conflict"       a phrase (also "armed-conflict", "armed\\nconflict", "armed <em>conflict</em>")
    sanction*              a prefix: sanction, sanctions, sanctioned… (at least 3 letters before the *)
    sanction~              English inflections of the word as written: sanction, sanctions, sanctioned, sanctioning
    =NATO                  case-sensitive: "NATO" but not "Nato" (for acronyms)
    ="Nato FC"             a case-sensitive phrase; * and ~ work on a phrase's last word

A **query** (``rules[].query``) combines terms. Operators are upper-case; loosest binding first::

    query   := or
    or      := and ("OR" and)*
    and     := not ("AND"? not)*                  words side by side are ANDed
    not     := "NOT" not | near
    near    := primary (("NEAR/" n | "ONEAR/" n) primary)?
    primary := "(" or ")" | FIELD ":" primary | term

``a NEAR/n b``: a and b with at most n words between them, in either order;
``ONEAR/n``: a before b. Each side is a term or a bracketed OR of terms. Distance
counts words across sentence boundaries but never between title and body.

Fields restrict terms: ``title:``, ``lead:`` (the body's first two sentences),
``body:`` (the whole body, lead included). Filters test the article, not its
text: ``site:reuters.com`` (that host or a subdomain), ``url:/world/`` (a piece of
the URL), ``source:bbc-world`` (``bbc-*`` for a prefix), ``lang:en`` (also en-GB),
``author:"Jane Doe"``. A filter takes one value or a bracketed OR of values:
``source:(bbc-world OR dw-world)``.

Example: ``(NATO OR "North Atlantic Treaty Organization") NEAR/10 sanction~ AND NOT "football club" AND lang:en``

``monitor.rules.render`` writes a tree back as a query string or as an indented tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from monitor.rules.lex import FILTER_FIELDS, QUOTES, TEXT_FIELDS, QueryError, Token, closing_quote, lex
from monitor.rules.text import split_words

DEFAULT_FIELDS = ("title", "body")  # the body includes the lead
MIN_PREFIX = 3  # letters before a wildcard *

__all__ = [
    "FILTER_FIELDS",
    "TEXT_FIELDS",
    "And",
    "Filter",
    "Near",
    "Node",
    "Not",
    "Or",
    "QueryError",
    "Term",
    "parse_query",
    "parse_term",
    "scope",
]


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase with its options."""

    text: str  # as written, for explanations
    words: tuple[str, ...]  # its words as written (NFC), case kept
    prefix: bool = False  # the last word is a prefix (sanction*)
    inflect: bool = False  # the last word takes English inflections (sanction~)
    case_sensitive: bool = False
    fields: tuple[str, ...] = DEFAULT_FIELDS


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    """Some term of ``left`` within ``distance`` words of some term of ``right`` (after it when ``ordered``)."""

    left: tuple[Term, ...]
    right: tuple[Term, ...]
    distance: int
    ordered: bool = False


@dataclass(frozen=True, slots=True)
class Filter:
    """A test on the article rather than its text: site, url, source, lang or author."""

    field: str
    values: tuple[str, ...]


Node = Term | And | Or | Not | Near | Filter


def parse_term(text: str, *, position: int = 0, quoted: bool = False) -> Term:
    """One term as written in a ``terms:`` list or a query: ``=`` for case, ``*`` or ``~`` at the end."""
    raw = text.strip()
    case_sensitive = raw.startswith("=")
    body = raw[1:] if case_sensitive else raw
    if body[:1] in QUOTES:
        closing = closing_quote(body, 0)
        if closing < 0:
            raise QueryError(f"unclosed quote {body[0]} in {raw!r}", position)
        if body[closing + 1 :].strip("*~"):
            raise QueryError(f"{raw!r} has text after its closing quote", position)
        body = body[1:closing] + body[closing + 1 :]
    prefix, inflect = body.endswith("*"), body.endswith("~")
    if prefix or inflect:
        body = body[:-1].rstrip()
        if body.endswith(("*", "~")):
            raise QueryError(f"{raw!r} may end in * or in ~, not both", position)
    if "*" in body:
        raise QueryError(f"a wildcard * only ends a term, as in sanction*, not {raw!r}", position)
    words = tuple(split_words(body))
    if not words:
        raise QueryError(f"must be a word or phrase, not {raw!r}", position)
    if prefix and len(words[-1]) < MIN_PREFIX:
        raise QueryError(f"a wildcard needs at least {MIN_PREFIX} letters before it, not {raw!r}", position)
    return Term(text=raw, words=words, prefix=prefix, inflect=inflect, case_sensitive=case_sensitive)


def parse_query(text: str) -> Node:
    """Parse a query string into a tree; QueryError says what is wrong and where."""
    tokens = lex(text)
    if not tokens:
        raise QueryError("is empty", 0)
    parser = _Parser(tokens, len(text))
    node = parser.parse_or()
    if parser.index < len(tokens):
        token = tokens[parser.index]
        if token.kind == ")":
            raise QueryError(f"unbalanced bracket: ')' at column {token.position + 1} has no '('", token.position)
        raise QueryError(f"unexpected {token.text!r} at column {token.position + 1}", token.position)
    return node


def scope(node: Node, field: str, position: int = 0) -> Node:
    """``node`` with its terms restricted to ``field`` (title, lead or body)."""
    if isinstance(node, Term):
        return _scope_term(node, field, position)
    if isinstance(node, And):
        return And(tuple(scope(child, field, position) for child in node.children))
    if isinstance(node, Or):
        return Or(tuple(scope(child, field, position) for child in node.children))
    if isinstance(node, Not):
        return Not(scope(node.child, field, position))
    if isinstance(node, Near):
        left = tuple(_scope_term(term, field, position) for term in node.left)
        right = tuple(_scope_term(term, field, position) for term in node.right)
        return Near(left, right, node.distance, node.ordered)
    return node  # a filter is about the article, not a field


def _scope_term(term: Term, field: str, position: int) -> Term:
    narrowed = _narrow(term.fields, field)
    if not narrowed:
        where = "/".join(term.fields)
        raise QueryError(f"{field}: around {term.text!r}, which is limited to {where}:, can never match", position)
    return replace(term, fields=narrowed)


def _narrow(fields: tuple[str, ...], field: str) -> tuple[str, ...]:
    """The intersection of a term's fields with ``field``; the body includes the lead."""
    if field in fields:
        return (field,)
    if field == "lead" and "body" in fields:
        return ("lead",)
    if field == "body" and "lead" in fields:
        return ("lead",)
    return ()


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule."""

    def __init__(self, tokens: list[Token], length: int):
        self.tokens = tokens
        self.index = 0
        self.length = length

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise QueryError("ends too early: a word, phrase or ( is missing at the end", self.length)
        self.index += 1
        return token

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.index += 1
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_not()]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            if token.kind == "AND":
                self.index += 1
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_not(self) -> Node:
        token = self.peek()
        if token is not None and token.kind == "NOT":
            self.index += 1
            return Not(self.parse_not())
        return self.parse_near()

    def parse_near(self) -> Node:
        left = self.parse_primary()
        token = self.peek()
        if token is None or token.kind != "NEAR":
            return left
        self.index += 1
        right = self.parse_primary()
        after = self.peek()
        if after is not None and after.kind == "NEAR":
            raise QueryError(
                f"{after.text} at column {after.position + 1}: chain proximity with AND, as in"
                " (a NEAR/5 b) AND (b NEAR/5 c)",
                after.position,
            )
        return Near(_near_side(left, token), _near_side(right, token), token.distance, token.ordered)

    def parse_primary(self) -> Node:
        token = self.take()
        if token.kind == "(":
            if (inner := self.peek()) is not None and inner.kind == ")":
                raise QueryError(f"empty brackets at column {token.position + 1}", token.position)
            node = self.parse_or()
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise QueryError(
                    f"unbalanced bracket: '(' at column {token.position + 1} is never closed", token.position
                )
            self.index += 1
            return node
        if token.kind == "FIELD":
            if token.text in FILTER_FIELDS:
                return self.parse_filter(token)
            return scope(self.parse_primary(), token.text, token.position)
        if token.kind == "TERM":
            return parse_term(token.text, position=token.position)
        if token.kind == ")":
            raise QueryError(f"unbalanced bracket: ')' at column {token.position + 1} has no '('", token.position)
        raise QueryError(
            f"expected a word, phrase or ( at column {token.position + 1}, found {token.text}", token.position
        )

    def parse_filter(self, field: Token) -> Filter:
        token = self.take()
        if token.kind == "TERM":
            return Filter(field.text, (_filter_value(field.text, token),))
        if token.kind != "(":
            raise QueryError(f"{field.text}: needs a value at column {token.position + 1}", token.position)
        values = []
        while True:
            value = self.take()
            if value.kind != "TERM":
                raise QueryError(
                    f"{field.text}:( takes values joined by OR; found {value.text} at column {value.position + 1}",
                    value.position,
                )
            values.append(_filter_value(field.text, value))
            after = self.take()
            if after.kind == ")":
                return Filter(field.text, tuple(values))
            if after.kind != "OR":
                raise QueryError(
                    f"{field.text}:( takes values joined by OR; found {after.text} at column {after.position + 1}",
                    after.position,
                )


def _filter_value(field: str, token: Token) -> str:
    value = token.text
    if value[:1] in QUOTES:
        value = value[1:].rstrip("*~")[:-1] + value[len(value.rstrip("*~")) :]
    value = value.strip()
    if field == "site":
        value = re.sub(r"^[a-z]+://", "", value.lower()).split("/", 1)[0].removeprefix("www.")
        if not re.fullmatch(r"[a-z0-9.-]+\.[a-z0-9-]+|[a-z0-9-]+", value):
            raise QueryError(f"site: must be a host name like reuters.com, not {token.text!r}", token.position)
    elif field == "lang":
        value = value.lower().replace("_", "-")
        if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)*", value):
            raise QueryError(f"lang: must be a language code like en or pt-br, not {token.text!r}", token.position)
    elif field == "author" and not split_words(value):
        raise QueryError(f"author: needs a name, not {token.text!r}", token.position)
    elif not value:
        raise QueryError(f"{field}: needs a value", token.position)
    return value


def _near_side(node: Node, operator: Token) -> tuple[Term, ...]:
    if isinstance(node, Term):
        return (node,)
    if isinstance(node, Or) and all(isinstance(child, Term) for child in node.children):
        return tuple(child for child in node.children if isinstance(child, Term))
    raise QueryError(
        f"{operator.text} at column {operator.position + 1} joins words, phrases or (a OR b) groups,"
        " not AND, NOT, NEAR or filters",
        operator.position,
    )
