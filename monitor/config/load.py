"""Load and strictly validate ``rules.yaml``.

Every problem is reported as ``FILE:LINE: field: what is wrong``, all of them at
once, before anything runs. Secrets (destination URLs and signing keys) must be
``${ENV_VAR}`` references: they are expanded here and never written back out.
The ``alerts:`` and ``rules:`` sections live in ``monitor.config.alerts`` and
``monitor.config.rules``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from monitor.config.alerts import parse_alerts
from monitor.config.checker import (
    Checker,
    choice,
    item_line,
    key_line,
    kind,
    node_line,
    non_negative,
    or_default,
    regex,
    value_line,
)
from monitor.config.model import SOURCE_TYPES, AlertsSpec, Config, CrawlSpec, SourceSpec
from monitor.config.rules import parse_rules
from monitor.config.yamlload import NestedTooDeep
from monitor.config.yamlload import load as load_yaml
from monitor.errors import ConfigError, Problem
from monitor.gcpause import gc_paused
from monitor.netpolicy import parse_network

# An honest User-Agent names where its operator can be reached.
_CONTACT_URL = re.compile(r"https?://[^\s/)]+")


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
    with gc_paused():  # 10,000 rules are some 300,000 objects, none of them garbage
        return _parse_config(text, file, env)


def _parse_config(text: str, file: str, env: Mapping[str, str]) -> Config:
    try:
        document = load_yaml(text)  # ruamel.yaml's round-trip data: safe, and it keeps line numbers
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError([Problem(file, line, "yaml", str(error.problem or error).strip())]) from None
    except NestedTooDeep as error:
        raise ConfigError([Problem(file, error.line, "yaml", "nested more than 1,000 levels deep")]) from None
    except RecursionError:  # the same without libyaml: ruamel.yaml recurses per level
        raise ConfigError([Problem(file, 0, "yaml", "nested too deeply to read")]) from None
    check = Checker(file, env)
    root = check.mapping(document, "", 1, {"version", "crawl", "alerts", "sources", "rules"})
    if root is None:
        raise ConfigError(check.problems)
    version = root.get("version", 1)
    if version != 1:
        check.fail(value_line(root, "version"), "version", f"must be 1, not {version!r}")
    crawl = _crawl(check, root)
    alerts = _reaching(parse_alerts(check, root), crawl.allow_private_networks)
    sources = _sources(check, root)
    rules = parse_rules(check, root)
    if check.problems:
        raise ConfigError(check.problems)
    return Config(path=file, sources=sources, rules=rules, crawl=crawl, alerts=alerts)


def _reaching(alerts: AlertsSpec, networks: tuple[str, ...]) -> AlertsSpec:
    """``alerts`` whose destinations may reach the internal ``networks`` the crawl may (their own URLs always)."""
    if not networks:
        return alerts
    destinations = tuple(replace(d, allow_private_networks=networks) for d in alerts.destinations)
    return replace(alerts, destinations=destinations)


def _crawl(check: Checker, root: CommentedMap) -> CrawlSpec:
    defaults = CrawlSpec()
    if "crawl" not in root:
        return defaults
    node = check.mapping(
        root["crawl"],
        "crawl",
        value_line(root, "crawl"),
        {
            "user_agent",
            "obey_robots_txt",
            "timeout",
            "max_page_bytes",
            "concurrent_requests_per_domain",
            "download_delay",
            "retries",
            "workers",
            "max_retry_after",
            "allow_private_networks",
            "max_index_depth",
            "max_indexes",
            "run_deadline",
            "engine_max_runs",
            "engine_max_memory_mb",
        },
    )
    if node is None:
        return defaults
    return CrawlSpec(
        user_agent=check.get(node, "user_agent", "crawl", _user_agent(check), default=defaults.user_agent)
        or defaults.user_agent,
        obey_robots_txt=or_default(
            check.get(node, "obey_robots_txt", "crawl", check.boolean), defaults.obey_robots_txt
        ),
        timeout_seconds=or_default(check.get(node, "timeout", "crawl", check.duration), defaults.timeout_seconds),
        max_page_bytes=or_default(check.get(node, "max_page_bytes", "crawl", check.integer), defaults.max_page_bytes),
        concurrent_requests_per_domain=or_default(
            check.get(node, "concurrent_requests_per_domain", "crawl", check.integer),
            defaults.concurrent_requests_per_domain,
        ),
        download_delay_seconds=or_default(
            check.get(node, "download_delay", "crawl", non_negative(check)), defaults.download_delay_seconds
        ),
        retries=or_default(check.get(node, "retries", "crawl", check.integer), defaults.retries),
        workers=or_default(check.get(node, "workers", "crawl", check.integer), defaults.workers),
        max_retry_after_seconds=or_default(
            check.get(node, "max_retry_after", "crawl", _non_negative_duration(check)), defaults.max_retry_after_seconds
        ),
        allow_private_networks=check.get(node, "allow_private_networks", "crawl", _networks(check), default=()) or (),
        max_index_depth=or_default(
            check.get(node, "max_index_depth", "crawl", check.integer), defaults.max_index_depth
        ),
        max_indexes=or_default(check.get(node, "max_indexes", "crawl", _at_least(check, 1)), defaults.max_indexes),
        run_deadline_seconds=_seconds(check.get(node, "run_deadline", "crawl", check.duration)),
        engine_max_runs=or_default(
            check.get(node, "engine_max_runs", "crawl", _at_least(check, 1)), defaults.engine_max_runs
        ),
        engine_max_memory_bytes=or_default(
            _mebibytes(check.get(node, "engine_max_memory_mb", "crawl", _at_least(check, 0))),
            defaults.engine_max_memory_bytes,
        ),
    )


def _mebibytes(value: int | None) -> int | None:
    return None if value is None else value * 2**20


def _user_agent(check: Checker) -> Callable[[Any, str, int], str | None]:
    """An honest User-Agent: one line that names a contact URL, so a site's owner can reach whoever crawls."""

    def convert(value: Any, field: str, line: int) -> str | None:
        text = check.string(value, field, line)
        if text is None:
            return None
        if any(ord(char) < 32 or ord(char) == 127 for char in text):
            check.fail(line, field, "must be one line without control characters")
            return None
        if not _CONTACT_URL.search(text):
            check.fail(
                line,
                field,
                "must include a contact URL (http:// or https://) where site owners can reach you, "
                f"e.g. 'monitor/0.1 (+https://example.org/contact)', not {text!r}",
            )
            return None
        return text

    return convert


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _at_least(check: Checker, minimum: int) -> Callable[[Any, str, int], int | None]:
    """A whole number no smaller than ``minimum``."""

    def convert(value: Any, field: str, line: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            check.fail(line, field, f"must be a whole number of at least {minimum}, not {value!r}")
            return None
        return value

    return convert


def _seconds(value: int | None) -> float | None:
    return None if value is None else float(value)


def _networks(check: Checker) -> Callable[[Any, str, int], tuple[str, ...] | None]:
    """``crawl.allow_private_networks``: CIDRs (``10.0.0.0/8``, ``fd00::/8``), each checked on its own line."""

    def convert(value: Any, field: str, line: int) -> tuple[str, ...] | None:
        items = check.sequence(value, field, line)
        if items is None:
            return None
        networks: list[str] = []
        for index, item in enumerate(items):
            where, at = f"{field}[{index}]", item_line(items, index)
            if not isinstance(item, str):
                check.fail(at, where, f"must be a network like 10.0.0.0/8 or fd00::/8, not {kind(item)}")
                continue
            try:
                network = str(parse_network(item))
            except ValueError as error:
                check.fail(at, where, str(error))
                continue
            if network in networks:
                check.fail(at, where, f"{network} is listed twice")
                continue
            networks.append(network)
        return tuple(networks)

    return convert


def _non_negative_duration(check: Checker) -> Callable[[Any, str, int], float | None]:
    """A duration that may also be 0 (off)."""

    def convert(value: Any, field: str, line: int) -> float | None:
        if value == 0 and not isinstance(value, bool):
            return 0.0
        seconds = check.duration(value, field, line)
        return None if seconds is None else float(seconds)

    return convert


def _sources(check: Checker, root: CommentedMap) -> tuple[SourceSpec, ...]:
    items = check.get(root, "sources", "", check.sequence, required=True)
    sources: list[SourceSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items or []):
        field = f"sources[{index}]"
        entry = check.mapping(
            item,
            field,
            item_line(items, index),
            {"name", "type", "url", "interval", "cron", "link_pattern", "max_pages", "enabled", "max_age", "prefilter"},
        )
        if entry is None:
            continue
        name = check.get(entry, "name", field, check.name, required=True)
        kind = check.get(entry, "type", field, choice(check, SOURCE_TYPES), required=True)
        url = check.get(entry, "url", field, check.url, required=True)
        interval = check.get(entry, "interval", field, check.duration, default=900)
        pattern = check.get(entry, "link_pattern", field, regex(check))
        max_pages = check.get(entry, "max_pages", field, check.integer, default=100)
        enabled = check.get(entry, "enabled", field, check.boolean, default=True)
        max_age = check.get(entry, "max_age", field, check.duration)
        cron = check.get(entry, "cron", field, _cron(check))
        prefilter = check.get(entry, "prefilter", field, check.boolean, default=False)
        if cron and "interval" in entry:
            check.fail(key_line(entry, "cron"), f"{field}.cron", "give an interval or a cron expression, not both")
        if cron:
            interval = _cron_interval(cron)
        if kind == "listing" and "max_age" in entry:
            check.fail(key_line(entry, "max_age"), f"{field}.max_age", "listing pages give no dates; it needs an index")
        if kind == "site" and url and urlsplit(url).path not in ("", "/"):
            check.fail(
                value_line(entry, "url"),
                f"{field}.url",
                f"a site source takes the site's root, like {_root(url)}, and reads the sitemaps its "
                f"robots.txt names; for one sitemap use type: sitemap, not {url!r}",
            )
            url = None
        if kind == "listing" and pattern is None and "link_pattern" not in entry:
            check.fail(node_line(entry), f"{field}.link_pattern", "is required for a listing source")
        if kind not in (None, "listing") and "link_pattern" in entry:
            check.fail(key_line(entry, "link_pattern"), f"{field}.link_pattern", "only listing sources take one")
        if name in seen:
            check.fail(value_line(entry, "name"), f"{field}.name", f"duplicate source name {name!r}")
        if name and kind and url:
            seen.add(name)
            sources.append(
                SourceSpec(
                    name=name,
                    type=kind,
                    url=url,
                    interval_seconds=interval or 900,
                    cron=cron,
                    prefilter=bool(prefilter),
                    link_pattern=pattern,
                    max_pages=max_pages or 100,
                    enabled=bool(enabled),
                    line=node_line(entry),
                    max_age_seconds=max_age,
                )
            )
    return tuple(sources)


def _cron(check: Checker) -> Callable[[Any, str, int], str | None]:
    def convert(value: Any, field: str, line: int) -> str | None:
        try:
            CronTrigger.from_crontab(str(value), timezone="UTC")
        except (ValueError, TypeError) as error:
            check.fail(line, field, f"is not a crontab expression like '*/15 * * * *' (UTC): {error}")
            return None
        return str(value)

    return convert


def _cron_interval(cron: str) -> int:
    """The usual gap between two runs of a cron schedule, for health checks that think in intervals."""
    trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    first = trigger.get_next_fire_time(None, datetime(2026, 1, 5, tzinfo=UTC))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return max(60, int((second - first).total_seconds())) if first and second else 86400
