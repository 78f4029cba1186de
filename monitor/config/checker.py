"""Walk parsed YAML and collect every problem with its line: the machinery behind ``monitor.config.load``.

Sections of the configuration (``monitor.config.load``, ``monitor.config.alerts``,
``monitor.config.rules``) use a Checker to read values; each converter returns the
value, or None after recording a ``FILE:LINE: field: what is wrong`` problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, time
from typing import Any, TypeVar

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.config.durations import DurationError, parse_duration
from monitor.errors import Problem

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")
T = TypeVar("T")


class Checker:
    """Collects problems while walking the parsed YAML, so all of them are reported at once."""

    def __init__(self, file: str, env: Mapping[str, str]):
        self.file = file
        self.env = env
        self.problems: list[Problem] = []

    def fail(self, line: int, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, field, message))

    def mapping(self, node: Any, field: str, line: int, allowed: set[str]) -> CommentedMap | None:
        """Check ``node`` is a mapping with only ``allowed`` keys."""
        if not isinstance(node, CommentedMap):
            self.fail(line, field or "(top level)", f"must be a mapping, not {kind(node)}")
            return None
        for key in node:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail(key_line(node, key), join(field, str(key)), f"unknown key (known keys: {known})")
        return node

    def sequence(self, node: Any, field: str, line: int) -> CommentedSeq | None:
        if not isinstance(node, CommentedSeq):
            self.fail(line, field, f"must be a list, not {kind(node)}")
            return None
        return node

    def entries(self, items: CommentedSeq | None, field: str, allowed: set[str]) -> Iterator[tuple[str, CommentedMap]]:
        """Each item of ``items`` that is a mapping with only ``allowed`` keys, with its field (``field[index]``)."""
        for index, item in enumerate(items or []):
            where = f"{field}[{index}]"
            entry = self.mapping(item, where, item_line(items, index), allowed)
            if entry is not None:
                yield where, entry

    def get(
        self,
        node: CommentedMap,
        key: str,
        field: str,
        convert: Callable[[Any, str, int], T | None],
        *,
        default: T | None = None,
        required: bool = False,
    ) -> T | None:
        """Read ``node[key]`` through ``convert``, reporting a missing required key."""
        if key not in node or node[key] is None:
            if required:
                self.fail(node_line(node), join(field, key), "is required")
            return default
        return convert(node[key], join(field, key), value_line(node, key))

    # Converters: each returns the value, or None after recording a problem.

    def string(self, value: Any, field: str, line: int) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(line, field, f"must be a non-empty string, not {kind(value)}")
            return None
        return self.expand(value, field, line)

    def number(self, value: Any, field: str, line: int) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(line, field, f"must be a number greater than 0, not {value!r}")
            return None
        return float(value)

    def integer(self, value: Any, field: str, line: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(line, field, f"must be a whole number of at least 0, not {value!r}")
            return None
        return value

    def boolean(self, value: Any, field: str, line: int) -> bool | None:
        if not isinstance(value, bool):
            self.fail(line, field, f"must be true or false, not {value!r}")
            return None
        return value

    def duration(self, value: Any, field: str, line: int) -> int | None:
        try:
            return parse_duration(value)
        except DurationError as error:
            self.fail(line, field, str(error))
            return None

    def name(self, value: Any, field: str, line: int) -> str | None:
        if not isinstance(value, str) or not NAME_PATTERN.match(value):
            self.fail(line, field, f"must be lower-case letters, digits, '-' or '_' (max 64), not {value!r}")
            return None
        return value

    def url(self, value: Any, field: str, line: int) -> str | None:
        text = self.string(value, field, line)
        if text is not None and not re.match(r"^https?://[^\s/]+", text):
            self.fail(line, field, f"must be an http:// or https:// URL, not {text!r}")
            return None
        return text

    def secret(self, value: Any, field: str, line: int) -> str | None:
        """A credential: must be a ``${ENV_VAR}`` reference, never a literal in the file."""
        if not isinstance(value, str) or not ENV_REFERENCE.fullmatch(value.strip()):
            self.fail(line, field, "must come from the environment, written as ${ENV_VAR}, never as a literal")
            return None
        return self.expand(value.strip(), field, line)

    def expand(self, value: str, field: str, line: int) -> str | None:
        """Replace ``${NAME}`` and ``${NAME:-default}`` with values from the environment."""
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name, has_default, default = match.group(1), match.group(2), match.group(3)
            if name in self.env:
                return self.env[name]
            if has_default is not None:
                return default or ""
            missing.append(name)
            return ""

        expanded = ENV_REFERENCE.sub(replace, value)
        for name in missing:
            self.fail(line, field, f"environment variable {name} is not set (write ${{{name}:-}} to make it optional)")
        return None if missing else expanded


def choice(check: Checker, choices: tuple[str, ...]) -> Callable[[Any, str, int], str | None]:
    def convert(value: Any, field: str, line: int) -> str | None:
        if value not in choices:
            check.fail(line, field, f"must be one of {', '.join(choices)}, not {value!r}")
            return None
        return str(value)

    return convert


def regex(check: Checker) -> Callable[[Any, str, int], str | None]:
    def convert(value: Any, field: str, line: int) -> str | None:
        if not isinstance(value, str) or not value:
            check.fail(line, field, f"must be a regular expression, not {kind(value)}")
            return None
        try:
            re.compile(value)
        except re.error as error:
            check.fail(line, field, f"is not a valid regular expression: {error}")
            return None
        return value

    return convert


def non_negative(check: Checker) -> Callable[[Any, str, int], float | None]:
    def convert(value: Any, field: str, line: int) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            check.fail(line, field, f"must be a number of at least 0, not {value!r}")
            return None
        return float(value)

    return convert


def or_default(value: T | None, default: T) -> T:
    return default if value is None else value


def join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def kind(value: Any) -> str:
    """What ``value`` is, in YAML's words rather than Python's class names (which differ between loaders)."""
    if value is None:
        return "nothing"
    if isinstance(value, CommentedMap):
        return "a mapping"
    if isinstance(value, CommentedSeq):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, (date, time)):
        return f"the {type(value).__name__} {value.isoformat()}"
    if isinstance(value, str):
        return repr(str(value))
    return f"{type(value).__name__} {value!r}"


# ruamel keeps 0-based positions in ``.lc``; messages use 1-based lines like editors do.
def node_line(node: Any) -> int:
    return int(node.lc.line) + 1 if hasattr(node, "lc") else 0


def key_line(node: CommentedMap, key: Any) -> int:
    try:
        return int(node.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return node_line(node)


def value_line(node: CommentedMap, key: Any) -> int:
    if node.get(key) is None:
        # An empty value ("key:" and nothing): its key's line, not the next token's, where ruamel.yaml puts it.
        return key_line(node, key)
    try:
        return int(node.lc.value(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return key_line(node, key)


def item_line(node: Any, index: int) -> int:
    try:
        return int(node.lc.item(index)[0]) + 1
    except (KeyError, TypeError, AttributeError, IndexError):
        return node_line(node)
