"""Load and strictly validate ``rules.yaml``.

Every problem is reported as ``FILE:LINE: field: what is wrong``, all of them at
once, before anything runs. Secrets (destination URLs and signing keys) must be
``${ENV_VAR}`` references: they are expanded here and never written back out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from monitor.alerts.webhook import signing_key
from monitor.durations import DurationError, parse_duration
from monitor.errors import ConfigError, Problem
from monitor.settings import (
    DESTINATION_TYPES,
    SOURCE_TYPES,
    AlertSettings,
    Config,
    CrawlSettings,
    DestinationSpec,
    RuleSpec,
    SourceSpec,
)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")
T = TypeVar("T")


class _Checker:
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
            self.fail(line, field or "(top level)", f"must be a mapping, not {_kind(node)}")
            return None
        for key in node:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail(_key_line(node, key), _join(field, str(key)), f"unknown key (known keys: {known})")
        return node

    def sequence(self, node: Any, field: str, line: int) -> CommentedSeq | None:
        if not isinstance(node, CommentedSeq):
            self.fail(line, field, f"must be a list, not {_kind(node)}")
            return None
        return node

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
                self.fail(_node_line(node), _join(field, key), "is required")
            return default
        return convert(node[key], _join(field, key), _value_line(node, key))

    # Converters: each returns the value, or None after recording a problem.

    def string(self, value: Any, field: str, line: int) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(line, field, f"must be a non-empty string, not {_kind(value)}")
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


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the configuration at ``path``; raise ConfigError listing every problem."""
    file = str(path)
    env = os.environ if env is None else env
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, 0, "file", "not found (create it or pass --config)")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(file, 0, "file", f"cannot be read: {error}")]) from None
    return parse_config(text, file, env)


def parse_config(text: str, file: str, env: Mapping[str, str]) -> Config:
    """Validate YAML ``text`` (named ``file`` in messages) into a Config."""
    yaml = YAML(typ="rt")  # round-trip loader: safe (no arbitrary objects) and keeps line numbers
    try:
        document = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError([Problem(file, line, "yaml", str(error.problem or error).strip())]) from None
    check = _Checker(file, env)
    root = check.mapping(document, "", 1, {"version", "crawl", "alerts", "sources", "rules"})
    if root is None:
        raise ConfigError(check.problems)
    version = root.get("version", 1)
    if version != 1:
        check.fail(_value_line(root, "version"), "version", f"must be 1, not {version!r}")
    crawl = _crawl(check, root)
    alerts = _alerts(check, root)
    sources = _sources(check, root)
    rules = _rules(check, root)
    if check.problems:
        raise ConfigError(check.problems)
    return Config(path=file, sources=sources, rules=rules, crawl=crawl, alerts=alerts)


def _crawl(check: _Checker, root: CommentedMap) -> CrawlSettings:
    defaults = CrawlSettings()
    if "crawl" not in root:
        return defaults
    node = check.mapping(
        root["crawl"],
        "crawl",
        _value_line(root, "crawl"),
        {
            "user_agent",
            "obey_robots_txt",
            "timeout",
            "max_page_bytes",
            "concurrent_requests_per_domain",
            "download_delay",
            "retries",
            "workers",
        },
    )
    if node is None:
        return defaults
    return CrawlSettings(
        user_agent=check.get(node, "user_agent", "crawl", check.string, default=defaults.user_agent)
        or defaults.user_agent,
        obey_robots_txt=_or(check.get(node, "obey_robots_txt", "crawl", check.boolean), defaults.obey_robots_txt),
        timeout_seconds=_or(check.get(node, "timeout", "crawl", check.duration), defaults.timeout_seconds),
        max_page_bytes=_or(check.get(node, "max_page_bytes", "crawl", check.integer), defaults.max_page_bytes),
        concurrent_requests_per_domain=_or(
            check.get(node, "concurrent_requests_per_domain", "crawl", check.integer),
            defaults.concurrent_requests_per_domain,
        ),
        download_delay_seconds=_or(
            check.get(node, "download_delay", "crawl", _non_negative(check)), defaults.download_delay_seconds
        ),
        retries=_or(check.get(node, "retries", "crawl", check.integer), defaults.retries),
        workers=_or(check.get(node, "workers", "crawl", check.integer), defaults.workers),
    )


def _alerts(check: _Checker, root: CommentedMap) -> AlertSettings:
    defaults = AlertSettings()
    if "alerts" not in root:
        return defaults
    node = check.mapping(
        root["alerts"], "alerts", _value_line(root, "alerts"), {"threshold", "destinations", "max_attempts"}
    )
    if node is None:
        return defaults
    destinations: list[DestinationSpec] = []
    items = check.get(node, "destinations", "alerts", check.sequence) if "destinations" in node else None
    seen: set[str] = set()
    for index, item in enumerate(items or []):
        field = f"alerts.destinations[{index}]"
        entry = check.mapping(item, field, _item_line(items, index), {"name", "type", "url", "secret", "timeout"})
        if entry is None:
            continue
        name = check.get(entry, "name", field, check.name, required=True)
        kind = check.get(entry, "type", field, _choice(check, DESTINATION_TYPES), required=True)
        url = check.get(entry, "url", field, check.secret, required=True)
        secret = check.get(entry, "secret", field, check.secret)
        timeout = check.get(entry, "timeout", field, check.duration, default=15)
        if url and not re.match(r"^https?://[^\s/]+", url):
            check.fail(_value_line(entry, "url"), f"{field}.url", "must expand to an http:// or https:// URL")
        if secret is not None and kind == "slack":
            check.fail(_value_line(entry, "secret"), f"{field}.secret", "slack destinations take no secret")
        elif secret:
            try:
                signing_key(secret)
            except ValueError:
                check.fail(
                    _value_line(entry, "secret"),
                    f"{field}.secret",
                    "must expand to a Standard Webhooks secret, whsec_ followed by base64",
                )
        if name in seen:
            check.fail(_value_line(entry, "name"), f"{field}.name", f"duplicate destination name {name!r}")
        if name and kind and url is not None:
            seen.add(name)
            destinations.append(
                DestinationSpec(
                    name=name,
                    type=kind,
                    url=url,
                    secret=secret or None,
                    timeout_seconds=float(timeout or 15),
                    line=_node_line(entry),
                )
            )
    return AlertSettings(
        threshold=_or(check.get(node, "threshold", "alerts", check.number), defaults.threshold),
        destinations=tuple(destinations),
        max_attempts=_or(check.get(node, "max_attempts", "alerts", check.integer), defaults.max_attempts),
    )


def _sources(check: _Checker, root: CommentedMap) -> tuple[SourceSpec, ...]:
    items = check.get(root, "sources", "", check.sequence, required=True)
    sources: list[SourceSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items or []):
        field = f"sources[{index}]"
        entry = check.mapping(
            item,
            field,
            _item_line(items, index),
            {"name", "type", "url", "interval", "link_pattern", "max_pages", "enabled"},
        )
        if entry is None:
            continue
        name = check.get(entry, "name", field, check.name, required=True)
        kind = check.get(entry, "type", field, _choice(check, SOURCE_TYPES), required=True)
        url = check.get(entry, "url", field, check.url, required=True)
        interval = check.get(entry, "interval", field, check.duration, default=900)
        pattern = check.get(entry, "link_pattern", field, _regex(check))
        max_pages = check.get(entry, "max_pages", field, check.integer, default=100)
        enabled = check.get(entry, "enabled", field, check.boolean, default=True)
        if kind == "listing" and pattern is None and "link_pattern" not in entry:
            check.fail(_node_line(entry), f"{field}.link_pattern", "is required for a listing source")
        if kind not in (None, "listing") and "link_pattern" in entry:
            check.fail(_key_line(entry, "link_pattern"), f"{field}.link_pattern", "only listing sources take one")
        if name in seen:
            check.fail(_value_line(entry, "name"), f"{field}.name", f"duplicate source name {name!r}")
        if name and kind and url:
            seen.add(name)
            sources.append(
                SourceSpec(
                    name=name,
                    type=kind,
                    url=url,
                    interval_seconds=interval or 900,
                    link_pattern=pattern,
                    max_pages=max_pages or 100,
                    enabled=bool(enabled),
                    line=_node_line(entry),
                )
            )
    return tuple(sources)


def _rules(check: _Checker, root: CommentedMap) -> tuple[RuleSpec, ...]:
    items = check.get(root, "rules", "", check.sequence, required=True)
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items or []):
        field = f"rules[{index}]"
        entry = check.mapping(item, field, _item_line(items, index), {"name", "terms", "weight"})
        if entry is None:
            continue
        name = check.get(entry, "name", field, check.name, required=True)
        terms = check.get(entry, "terms", field, _terms(check), required=True)
        weight = check.get(entry, "weight", field, check.number, default=1.0)
        if name in seen:
            check.fail(_value_line(entry, "name"), f"{field}.name", f"duplicate rule name {name!r}")
        if name and terms:
            seen.add(name)
            rules.append(RuleSpec(name=name, terms=tuple(terms), weight=weight or 1.0, line=_node_line(entry)))
    return tuple(rules)


def _terms(check: _Checker) -> Callable[[Any, str, int], list[str] | None]:
    def convert(value: Any, field: str, line: int) -> list[str] | None:
        items = check.sequence(value, field, line)
        if items is None:
            return None
        if not items:
            check.fail(line, field, "must list at least one word or phrase")
            return None
        terms: list[str] = []
        for index, term in enumerate(items):
            item_line = _item_line(items, index)
            if not isinstance(term, str) or not re.search(r"\w", term):
                check.fail(item_line, f"{field}[{index}]", f"must be a word or phrase, not {term!r}")
            else:
                terms.append(term.strip())
        return terms if len(terms) == len(items) else None

    return convert


def _choice(check: _Checker, choices: tuple[str, ...]) -> Callable[[Any, str, int], str | None]:
    def convert(value: Any, field: str, line: int) -> str | None:
        if value not in choices:
            check.fail(line, field, f"must be one of {', '.join(choices)}, not {value!r}")
            return None
        return str(value)

    return convert


def _regex(check: _Checker) -> Callable[[Any, str, int], str | None]:
    def convert(value: Any, field: str, line: int) -> str | None:
        if not isinstance(value, str) or not value:
            check.fail(line, field, f"must be a regular expression, not {_kind(value)}")
            return None
        try:
            re.compile(value)
        except re.error as error:
            check.fail(line, field, f"is not a valid regular expression: {error}")
            return None
        return value

    return convert


def _non_negative(check: _Checker) -> Callable[[Any, str, int], float | None]:
    def convert(value: Any, field: str, line: int) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            check.fail(line, field, f"must be a number of at least 0, not {value!r}")
            return None
        return float(value)

    return convert


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, CommentedMap):
        return "a mapping"
    if isinstance(value, CommentedSeq):
        return "a list"
    return f"{type(value).__name__} {value!r}"


# ruamel keeps 0-based positions in ``.lc``; messages use 1-based lines like editors do.
def _node_line(node: Any) -> int:
    return int(node.lc.line) + 1 if hasattr(node, "lc") else 0


def _key_line(node: CommentedMap, key: Any) -> int:
    try:
        return int(node.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return _node_line(node)


def _value_line(node: CommentedMap, key: Any) -> int:
    try:
        return int(node.lc.value(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return _key_line(node, key)


def _item_line(node: Any, index: int) -> int:
    try:
        return int(node.lc.item(index)[0]) + 1
    except (KeyError, TypeError, AttributeError, IndexError):
        return _node_line(node)
