"""One attempt's message for any destination type: an HTTP request, an email, or an Apprise notification."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from monitor.alerts.discord import discord_url, render_discord
from monitor.alerts.mail import build_message, mail_text
from monitor.alerts.slack import render_slack
from monitor.alerts.smtp import SmtpServer
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


@dataclass(frozen=True)
class Mail:
    """An email ready to hand to its server (whose login is a credential: never show it)."""

    server: SmtpServer = field(repr=False)
    message: EmailMessage
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """An Apprise notification ready to send. ``url`` is a credential: never show it."""

    url: str = field(repr=False)
    title: str
    body: str


def render(destination: DestinationSpec, message_id: str, payload: dict[str, Any]) -> Outgoing | Mail | Note:
    """The message for ``payload`` at ``destination`` (a new webhook timestamp, or email date, each time).

    ValueError if the destination's type is unknown, or its signing secret or server URL unusable.
    """
    if destination.type == "email":
        message = build_message(
            payload, message_id, sender=destination.mail_from, to=destination.mail_to, reply_to=destination.reply_to
        )
        return Mail(SmtpServer.from_url(destination.url), message, destination.mail_to)
    if destination.type == "apprise":
        text = mail_text(payload)
        return Note(destination.url, text.subject, text.plain)
    if destination.type == "webhook":
        body = render_webhook(payload)
        return Outgoing(destination.url, body, webhook_headers(message_id, body, destination.secret))
    chat = _CHAT.get(destination.type)
    if chat is None:
        raise ValueError(f"unknown destination type {destination.type!r}")
    body = json.dumps(chat(payload), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    url = discord_url(destination.url) if destination.type == "discord" else destination.url
    return Outgoing(url, body, {"content-type": "application/json", "user-agent": USER_AGENT})
