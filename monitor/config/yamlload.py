"""Read YAML quickly, with the line numbers validation needs: libyaml where it can, ruamel.yaml where it must.

ruamel.yaml's round-trip loader gives mappings and lists that know their lines,
which every ``FILE:LINE: field`` message relies on, but it is pure Python: a
``rules.yaml`` of 10,000 rules takes it about 3 s, paid again by every crawl
process and every command. PyYAML's libyaml parser composes the same document in
a tenth of that; ``load`` turns its nodes into the same ruamel ``CommentedMap``
and ``CommentedSeq`` objects, lines and columns included, and resolves plain
scalars with ruamel's own YAML 1.2 resolver ("yes" stays a string, as ruamel has it).

Only the plain subset takes that path: mappings with distinct scalar keys, lists,
strings, decimal integers and floats, booleans and nulls. Anything else (anchors
and aliases, explicit tags, merge keys, duplicate keys, ``%`` directives, dates,
hex or octal numbers, block scalars, tabs, the line breaks NEL, LS and PS) and
every syntax error is left to ruamel.yaml, so the data and the error messages are
ruamel.yaml's. Two differences remain: an empty value (``key:`` and nothing) is
placed just after its colon, where ruamel.yaml places it at the next token; and a
document nested deeper than libyaml's 1,000 levels raises ``NestedTooDeep`` at once,
where ruamel.yaml takes seconds to end in a RecursionError.
"""

from __future__ import annotations

import re
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.resolver import VersionedResolver

try:
    from yaml.cyaml import CParser as _CParser  # libyaml: absent when PyYAML was built without it
except ImportError:  # pragma: no cover - the locked PyYAML wheels carry libyaml
    _CParser = None

__all__ = ["NestedTooDeep", "NotPlain", "fast_path", "load", "resolved_tag"]

_IMPLICIT = "!monitor-implicit:"  # marks a tag the document did not write (see _Composer.resolve)
_PLAIN, _QUOTED, _SEQ, _MAP = (_IMPLICIT + kind for kind in ("plain", "quoted", "seq", "map"))
_CORE = "tag:yaml.org,2002:"
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_SIMPLE_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
# A directive can change how scalars resolve; NEL, LS and PS break lines for libyaml (YAML 1.1) but not
# for ruamel.yaml (1.2); libyaml reads a tab inside a plain scalar ("c<TAB>d") that ruamel.yaml refuses.
# Anchors and aliases (& or * where a node starts) are ruamel.yaml's too: the parsers split "&a:" apart
# differently. Documents with any of them are left to ruamel.yaml.
_SLOW_TEXT = re.compile("^%|[\t\x85\u2028\u2029]|(?:^|[\\s\\[{,])[&*]", re.MULTILINE)
_TRUE = frozenset({"true", "True", "TRUE"})
# First character -> the (tag, pattern) pairs ruamel.yaml tries on a plain scalar: YAML 1.2, as
# YAML(typ="rt") reads a document without a %YAML directive. Read once: resolve() recomputes it per call.
_RESOLVERS: dict[Any, list[tuple[str, re.Pattern[str]]]] = VersionedResolver().versioned_resolver


class NotPlain(Exception):
    """The document uses something outside the plain subset: ruamel.yaml reads it."""


class NestedTooDeep(Exception):
    """The document nests more than libyaml's 1,000 levels (ruamel.yaml would take seconds to give up)."""

    def __init__(self, line: int):
        super().__init__(f"line {line}: nested more than 1,000 levels deep")
        self.line = line


if _CParser is not None:

    class _Composer(_CParser):  # type: ignore[misc]
        """libyaml's parser and composer; tags it resolves say only whether the scalar was plain."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            # Called for nodes with no tag written, and for the non-specific tag "!" (implicit is false then);
            # any tag written is refused later, in _convert.
            if kind is pyyaml.ScalarNode:
                plain, quoted = implicit
                return _PLAIN if plain else _QUOTED if quoted else "!"
            if not implicit:
                return "!"
            return _SEQ if kind is pyyaml.SequenceNode else _MAP

        def descend_resolver(self, parent: Any, index: Any) -> None:
            return None  # no path-dependent resolvers

        def ascend_resolver(self) -> None:
            return None


def load(text: str) -> Any:
    """``text`` as ruamel.yaml's round-trip loader reads it; raises ruamel's ``MarkedYAMLError`` for bad YAML."""
    try:
        return fast_path(text)
    except NotPlain:
        return YAML(typ="rt").load(text)


def fast_path(text: str) -> Any:
    """``text`` read through libyaml; raises ``NotPlain`` for anything ruamel.yaml must read itself."""
    if _CParser is None or _SLOW_TEXT.search(text):
        raise NotPlain
    composer = _Composer(text)
    try:
        node = composer.get_single_node()
    except pyyaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        if "maximum nesting depth" in str(error) and mark is not None:
            raise NestedTooDeep(mark.line + 1) from None
        raise NotPlain from None  # ruamel.yaml says what is wrong, in its words
    finally:
        composer.dispose()
    return None if node is None else _convert(node, set())


def _convert(node: Any, seen: set[int]) -> Any:
    if id(node) in seen:
        raise NotPlain  # an alias: the same node twice
    seen.add(id(node))
    tag = node.tag
    if not tag.startswith(_IMPLICIT):
        raise NotPlain
    if tag == _PLAIN:
        return _plain(node.value)
    if tag == _QUOTED:
        if node.style in ("|", ">"):
            raise NotPlain  # block scalars: the two parsers disagree on edge cases ("|" then "#")
        return node.value
    start = node.start_mark
    if tag == _SEQ:
        items = CommentedSeq()
        items._yaml_set_line_col(start.line, start.column)
        for index, child in enumerate(node.value):
            items.append(_convert(child, seen))
            items._yaml_set_idx_line_col(index, [child.start_mark.line, child.start_mark.column])
        return items
    mapping = CommentedMap()
    mapping._yaml_set_line_col(start.line, start.column)
    for key_node, value_node in node.value:
        if not isinstance(key_node, pyyaml.ScalarNode):
            raise NotPlain
        key = _convert(key_node, seen)
        if key in mapping:
            raise NotPlain  # ruamel.yaml refuses duplicate keys with its own message
        mapping[key] = _convert(value_node, seen)
        key_at, value_at = key_node.start_mark, value_node.start_mark
        mapping._yaml_set_kv_line_col(key, [key_at.line, key_at.column, value_at.line, value_at.column])
    return mapping


def resolved_tag(value: str) -> str:
    """The tag ruamel.yaml gives the plain scalar ``value``, e.g. ``tag:yaml.org,2002:int`` for "010"."""
    for tag, pattern in _RESOLVERS.get(value[:1], ()):
        if pattern.match(value):
            return str(tag)
    return _CORE + "str"


def _plain(value: str) -> Any:
    """A plain scalar resolved as ruamel.yaml resolves it, for the types the plain subset allows."""
    tag = resolved_tag(value)
    if tag == _CORE + "str":
        return value
    if tag == _CORE + "null":
        return None
    if tag == _CORE + "bool":
        return value in _TRUE
    if tag == _CORE + "int" and _DECIMAL.fullmatch(value):
        return int(value)
    if tag == _CORE + "float" and _SIMPLE_FLOAT.fullmatch(value):
        return float(value)
    raise NotPlain  # merge keys, dates, 0x1F, 1_000, 1e3, .inf …
