"""The ``alerts:`` section of rules.yaml: the threshold and where alerts go."""

from __future__ import annotations

import re

from ruamel.yaml.comments import CommentedMap

from monitor.alerts.webhook import signing_key
from monitor.settings import DESTINATION_TYPES, AlertSettings, DestinationSpec
from monitor.yamlcheck import (
    Checker,
    choice,
    item_line,
    node_line,
    or_default,
    value_line,
)


def parse_alerts(check: Checker, root: CommentedMap) -> AlertSettings:
    defaults = AlertSettings()
    if "alerts" not in root:
        return defaults
    node = check.mapping(
        root["alerts"], "alerts", value_line(root, "alerts"), {"threshold", "destinations", "max_attempts"}
    )
    if node is None:
        return defaults
    destinations: list[DestinationSpec] = []
    items = check.get(node, "destinations", "alerts", check.sequence) if "destinations" in node else None
    seen: set[str] = set()
    for index, item in enumerate(items or []):
        field = f"alerts.destinations[{index}]"
        entry = check.mapping(item, field, item_line(items, index), {"name", "type", "url", "secret", "timeout"})
        if entry is None:
            continue
        name = check.get(entry, "name", field, check.name, required=True)
        kind = check.get(entry, "type", field, choice(check, DESTINATION_TYPES), required=True)
        url = check.get(entry, "url", field, check.secret, required=True)
        secret = check.get(entry, "secret", field, check.secret)
        timeout = check.get(entry, "timeout", field, check.duration, default=15)
        if url and not re.match(r"^https?://[^\s/]+", url):
            check.fail(value_line(entry, "url"), f"{field}.url", "must expand to an http:// or https:// URL")
        if secret is not None and kind == "slack":
            check.fail(value_line(entry, "secret"), f"{field}.secret", "slack destinations take no secret")
        elif secret:
            try:
                signing_key(secret)
            except ValueError:
                check.fail(
                    value_line(entry, "secret"),
                    f"{field}.secret",
                    "must expand to a Standard Webhooks secret, whsec_ followed by base64",
                )
        if name in seen:
            check.fail(value_line(entry, "name"), f"{field}.name", f"duplicate destination name {name!r}")
        if name and kind and url is not None:
            seen.add(name)
            destinations.append(
                DestinationSpec(
                    name=name,
                    type=kind,
                    url=url,
                    secret=secret or None,
                    timeout_seconds=float(timeout or 15),
                    line=node_line(entry),
                )
            )
    return AlertSettings(
        threshold=or_default(check.get(node, "threshold", "alerts", check.number), defaults.threshold),
        destinations=tuple(destinations),
        max_attempts=or_default(check.get(node, "max_attempts", "alerts", check.integer), defaults.max_attempts),
    )
