"""Alerts: the events the outbox carries, how each destination renders them, and how they are delivered.

``events`` (the versioned payloads), ``facts`` (what a message shows), ``slack``,
``discord``, ``teams``, ``webhook`` and ``mail`` (one renderer each; ``render`` picks
one; Apprise destinations get the email's plain text), ``transport`` (one POST under
one deadline), ``smtp`` (one email handed to its server, likewise), ``apprise`` (one
notification through Apprise), ``policy`` (what a failure means),
``digest`` (windows and digests), ``pause`` (paused destinations and their notices),
``delivery`` (``deliver_due``, the sender), ``redact`` (keeping URLs and secrets out
of logs). The outbox rows themselves live in the store (``monitor.store.outbox``);
this package reads and writes them only through it.
"""

from monitor.alerts.delivery import DeliveryReport, deliver_due, send_sample
from monitor.alerts.events import build_event, build_source_notice
from monitor.alerts.pause import message_id
from monitor.alerts.redact import redact_url
from monitor.alerts.webhook import SignatureError, verify

__all__ = [
    "DeliveryReport",
    "SignatureError",
    "build_event",
    "build_source_notice",
    "deliver_due",
    "message_id",
    "redact_url",
    "send_sample",
    "verify",
]
