"""Query strings cut into tokens: words, quoted phrases, brackets, operators and field prefixes.

Part of the rule language (``monitor.rules.lang``); problems are ``QueryError`` with
the offset where they were found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.errors import MonitorError

__all__ = [
    "FILTER_FIELDS",
    "MAX_DISTANCE",
    "OPERATORS",
    "QUOTES",
    "TEXT_FIELDS",
    "QueryError",
    "Token",
    "closing_quote",
    "lex",
]

TEXT_FIELDS = ("title", "lead", "body")
FILTER_FIELDS = ("site", "url", "source", "lang", "author")
MAX_DISTANCE = 1000
OPERATORS = ("AND", "OR", "NOT")
# Straight and typographic quotes, each with the quotes that may close it.
QUOTES = {'"': '"”', "“": '”"', "„": '“”"', "«": "»", "”": '”"'}
_SPECIAL = set("()") | set(QUOTES)
_NEAR = re.compile(r"^(O?NEAR)(?:/(.*))?$", re.IGNORECASE)
_FIELD = re.compile(r"^([A-Za-z]+):")


class QueryError(MonitorError):
    """A query or term that cannot be parsed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int = 0):
        self.message = message
        self.position = position
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Token:
    """One piece of a query, with its 0-based offset."""

    kind: str  # "(", ")", "AND", "OR", "NOT", "NEAR", "FIELD", "TERM"
    text: str
    position: int
    distance: int = 0
    ordered: bool = False


def lex(text: str) -> list[Token]:
    """The tokens of a query string; QueryError for an unknown field, a bad NEAR or an unclosed quote."""
    tokens: list[Token] = []
    index = 0
    in_filter = False  # inside "site:(a OR b)": values are taken verbatim
    while index < len(text):
        char = text[index]
        previous = tokens[-1] if tokens else None
        # A filter's value follows its colon directly and is taken verbatim (url:https://…).
        verbatim = in_filter or (
            previous is not None
            and previous.kind == "FIELD"
            and previous.text in FILTER_FIELDS
            and previous.position + len(previous.text) + 1 == index
        )
        if char.isspace():
            index += 1
        elif char in "()":
            if char == "(" and previous is not None and previous.kind == "FIELD" and previous.text in FILTER_FIELDS:
                in_filter = True
            elif char == ")":
                in_filter = False
            tokens.append(Token(char, char, index))
            index += 1
        elif char in QUOTES or (char == "=" and text[index + 1 : index + 2] in QUOTES and text[index + 1 :]):
            index = _lex_quoted(text, index, tokens)
        else:
            end = index
            while end < len(text) and not text[end].isspace() and text[end] not in _SPECIAL:
                end += 1
            word = text[index:end]
            field = None if verbatim else _FIELD.match(word)
            if field is not None:
                tokens.append(_field_token(field.group(1), index))
                index += field.end()
                if index >= len(text) or text[index].isspace():
                    raise QueryError(f"{field.group()} needs a word, phrase or ( right after the colon", index - 1)
                continue
            if verbatim and not (in_filter and word == "OR"):
                tokens.append(Token("TERM", word, index))
            else:
                tokens.append(_word_token(word, index))
            index = end
    return tokens


def closing_quote(text: str, opening: int) -> int:
    """The offset of the quote that closes the one at ``opening``, or -1."""
    ends = [text.find(quote, opening + 1) for quote in QUOTES[text[opening]]]
    found = [end for end in ends if end >= 0]
    return min(found) if found else -1


def _lex_quoted(text: str, index: int, tokens: list[Token]) -> int:
    start = index
    if text[index] == "=":
        index += 1
    closing = closing_quote(text, index)
    if closing < 0:
        raise QueryError(f"unclosed quote {text[index]} at column {index + 1}", index)
    end = closing + 1
    while end < len(text) and text[end] in "*~":
        end += 1
    tokens.append(Token("TERM", text[start:end], start))
    return end


def _field_token(name: str, position: int) -> Token:
    field = name.lower()
    if field not in TEXT_FIELDS + FILTER_FIELDS:
        known = ", ".join(TEXT_FIELDS + FILTER_FIELDS)
        raise QueryError(
            f"unknown field {name + ':'!r} at column {position + 1} (known fields: {known});"
            " quote the word to search for it",
            position,
        )
    return Token("FIELD", field, position)


def _word_token(word: str, position: int) -> Token:
    if word in OPERATORS:
        return Token(word, word, position)
    near = _NEAR.match(word)
    if near and near.group(1).isupper():
        operator, distance = near.group(1), near.group(2)
        if distance is None or distance == "":
            raise QueryError(f"{operator} at column {position + 1} needs a distance, as in {operator}/10", position)
        if not distance.isdigit() or not 0 <= int(distance) <= MAX_DISTANCE:
            raise QueryError(
                f"{word} at column {position + 1}: the distance must be a whole number of words"
                f" from 0 to {MAX_DISTANCE}",
                position,
            )
        return Token("NEAR", word, position, int(distance), operator == "ONEAR")
    if word.upper() in OPERATORS or near:
        raise QueryError(
            f"{word!r} at column {position + 1}: operators are upper-case ({word.upper()});"
            f' quote it ("{word}") to search for the word',
            position,
        )
    return Token("TERM", word, position)
