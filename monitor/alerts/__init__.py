"""Alerts: the events the outbox carries, how each destination renders them, and how they are delivered.

``events`` (the versioned payloads), ``facts`` (what a message shows), ``slack``,
``discord``, ``teams`` and ``webhook`` (one renderer each; ``render`` picks one),
``transport`` (one POST under one deadline), ``policy`` (what a failure means),
``digest`` (windows and digests), ``pause`` (paused destinations and their notices),
``delivery`` (``deliver_due``, the sender), ``redact`` (keeping URLs and secrets out
of logs). The outbox rows themselves live in ``monitor.store.outbox``.
"""
