"""One attempt's request for any destination type: where it goes, its body and its headers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from monitor.alerts.discord import discord_url, render_discord
from monitor.alerts.slack import render_slack
from monitor.alerts.teams import render_teams
from monitor.alerts.webhook import USER_AGENT, render_webhook, webhook_headers
from monitor.config import DestinationSpec

_CHAT = {"slack": render_slack, "discord": render_discord, "teams": render_teams}


@dataclass(frozen=True)
class Outgoing:
    """A request ready to post. ``url`` is a credential: never show it."""

    url: str
    body: bytes
    headers: dict[str, str]


def render(destination: DestinationSpec, message_id: str, payload: dict[str, Any]) -> Outgoing:
    """The request for ``payload`` at ``destination`` (a new webhook timestamp each time).

    ValueError if the destination's type is unknown or its signing secret unusable.
    """
    if destination.type == "webhook":
        body = render_webhook(payload)
        return Outgoing(destination.url, body, webhook_headers(message_id, body, destination.secret))
    chat = _CHAT.get(destination.type)
    if chat is None:
        raise ValueError(f"unknown destination type {destination.type!r}")
    body = json.dumps(chat(payload), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    url = discord_url(destination.url) if destination.type == "discord" else destination.url
    return Outgoing(url, body, {"content-type": "application/json", "user-agent": USER_AGENT})
