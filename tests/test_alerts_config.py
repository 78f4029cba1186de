"""The alerts section of rules.yaml: destination types, rate limits, modes and digests, strictly checked."""

from __future__ import annotations

import textwrap

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError

ENV = {"URL": "https://hooks.test/in", "SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


def alerts(destinations: str) -> str:
    return "sources: []\nrules: []\nalerts:\n  destinations:\n" + textwrap.indent(textwrap.dedent(destinations), "    ")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "rules.yaml", ENV)
    return [str(p) for p in caught.value.problems]


def test_every_destination_option_is_read() -> None:
    config = parse_config(
        alerts(
            """\
            - name: newsroom
              type: slack
              url: ${URL}
              mode: both
              immediate_limit: 5
              digest_at: ["17:30", "08:00"]
              timezone: Europe/Berlin
              rate_limit: 0.5
            - name: chat
              type: discord
              url: ${URL}
              mode: digest
              digest_every: 30m
              max_attempts: 3
              timeout: 10s
            - name: office
              type: teams
              url: ${URL}
            - name: ingest
              type: webhook
              url: ${URL}
              secret: ${SECRET}
            """
        ),
        "rules.yaml",
        ENV,
    )
    newsroom, chat, office, ingest = config.alerts.destinations
    assert (newsroom.mode, newsroom.immediate_limit, newsroom.digest_at, newsroom.timezone) == (
        "both", 5, ("08:00", "17:30"), "Europe/Berlin",
    )  # fmt: skip
    assert newsroom.messages_per_second == 0.5
    assert (chat.mode, chat.digest_every_seconds, chat.max_attempts, chat.timeout_seconds) == ("digest", 1800, 3, 10.0)
    assert chat.messages_per_second == 0.5  # Discord's default: 30 a minute
    assert (office.mode, office.messages_per_second, office.max_attempts) == ("immediate", 4.0, None)
    assert ingest.messages_per_second is None and ingest.secret == ENV["SECRET"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("type: pager", "rules.yaml:7: alerts.destinations[0].type: must be one of slack, webhook, discord, teams"),
        ("type: slack\nsecret: ${SECRET}", "rules.yaml:8: alerts.destinations[0].secret: slack destinations take no"),
        ("type: teams\nsecret: ${SECRET}", "rules.yaml:8: alerts.destinations[0].secret: teams destinations take no"),
        ("type: slack\nrate_limit: 0", "rules.yaml:8: alerts.destinations[0].rate_limit: must be a number greater"),
        ("type: slack\nmode: hourly", "rules.yaml:8: alerts.destinations[0].mode: must be one of immediate, digest"),
        ("type: slack\ndigest_every: 1h", "rules.yaml:8: alerts.destinations[0].digest_every: only for mode digest"),
        (
            "type: slack\nmode: digest\ndigest_every: 10s",
            "rules.yaml:9: alerts.destinations[0].digest_every: must be at least 60s",
        ),
        (
            "type: slack\nmode: digest\ndigest_at: '8am'",
            "rules.yaml:9: alerts.destinations[0].digest_at: must be times of day",
        ),
        (
            "type: slack\nmode: digest\ndigest_at: ['08:00', '24:00']",
            "rules.yaml:9: alerts.destinations[0].digest_at: must be times",
        ),
        (
            "type: slack\nmode: digest\ndigest_at: []",
            "rules.yaml:9: alerts.destinations[0].digest_at: must list at least one",
        ),
        (
            "type: slack\nmode: digest\ndigest_at: '08:00'\ndigest_every: 1h",
            "rules.yaml:9: alerts.destinations[0].digest_at: give digest_every or digest_at",
        ),
        (
            "type: slack\nmode: digest\ntimezone: Mars/Olympus",
            "rules.yaml:9: alerts.destinations[0].timezone: must be a time zone",
        ),
        (
            "type: slack\nmode: digest\nimmediate_limit: 2",
            "rules.yaml:9: alerts.destinations[0].immediate_limit: only for mode both",
        ),
        ("type: slack\nmax_attempts: 0", "rules.yaml:8: alerts.destinations[0].max_attempts: must be at least 1"),
        (
            "type: slack\nmax_attempts: many",
            "rules.yaml:8: alerts.destinations[0].max_attempts: must be a whole number",
        ),
        ("type: slack\ndigest: true", "rules.yaml:8: alerts.destinations[0].digest: unknown key"),
    ],
)
def test_each_mistake_is_reported_with_file_line_and_field(entry: str, expected: str) -> None:
    text = alerts("- name: d\n  url: ${URL}\n" + textwrap.indent(entry, "  ") + "\n")
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_digest_destination_without_a_schedule_is_hourly() -> None:
    config = parse_config(alerts("- name: d\n  type: webhook\n  url: ${URL}\n  mode: digest\n"), "rules.yaml", ENV)
    assert config.alerts.destinations[0].digest_every_seconds is None  # monitor.alerts.digest.DEFAULT_EVERY


MAIL_ENV = {
    "SMTP": "smtp://monitor%40example.org:pw@smtp.example.org:587",
    "PLAIN_LOGIN": "smtp+plain://u:pw@relay.example.org",
    "LOCAL_LOGIN": "smtp+plain://u:pw@127.0.0.1:2525",
    "HOOK": "https://hooks.test/in",
    "APPRISE": "ntfys://ntfy.example.org/alerts",
    "APPRISE_HTTP": "https://ntfy.example.org/alerts",
}


def test_email_and_apprise_destinations_are_read() -> None:
    text = alerts(
        """\
        - name: mail
          type: email
          url: ${SMTP}
          from: "Monitor <monitor@example.org>"
          to: [desk@example.org, "Analyst <analyst@example.org>", desk@example.org]
          reply_to: tips@example.org
          mode: digest
          digest_at: "08:00"
        - name: relay
          type: email
          url: ${LOCAL_LOGIN}
          from: monitor@example.org
          to: desk@example.org
        - name: push
          type: apprise
          url: ${APPRISE}
        """
    )
    mail, relay, push = parse_config(text, "rules.yaml", MAIL_ENV).alerts.destinations
    assert (mail.mail_from, mail.mail_to, mail.reply_to, mail.mode) == (
        "Monitor <monitor@example.org>", ("desk@example.org", "Analyst <analyst@example.org>"),
        ("tips@example.org",), "digest",
    )  # fmt: skip
    assert (relay.mail_to, relay.messages_per_second) == (("desk@example.org",), None)
    assert (push.type, push.messages_per_second, push.mail_to) == ("apprise", 1.0, ())


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("type: email\nurl: ${SMTP}\nto: d@example.org", "rules.yaml:5: alerts.destinations[0].from: is required"),
        ("type: email\nurl: ${SMTP}\nfrom: d@example.org", "rules.yaml:5: alerts.destinations[0].to: is required"),
        (
            "type: email\nurl: ${SMTP}\nfrom: [a@example.org, b@example.org]\nto: d@example.org",
            "rules.yaml:8: alerts.destinations[0].from: must be one address like",
        ),
        (
            "type: email\nurl: ${SMTP}\nfrom: m@example.org\nto: [d@example.org, not an address]",
            "rules.yaml:9: alerts.destinations[0].to: must be addresses like desk@example.org",
        ),
        (
            "type: email\nurl: ${SMTP}\nfrom: m@example.org\nto: 'a@example.org, b@example.org'",
            "rules.yaml:9: alerts.destinations[0].to: must be addresses",
        ),
        (
            "type: email\nurl: ${SMTP}\nfrom: m@example.org\nto: d@example.org\nreply_to: []",
            "rules.yaml:10: alerts.destinations[0].reply_to: must list at least one address",
        ),
        (
            "type: email\nurl: ${HOOK}\nfrom: m@example.org\nto: d@example.org",
            "rules.yaml:7: alerts.destinations[0].url: must expand to smtp://[USER:PASSWORD@]HOST[:PORT] (STARTTLS)",
        ),
        (
            "type: email\nurl: ${PLAIN_LOGIN}\nfrom: m@example.org\nto: d@example.org",
            "rules.yaml:7: alerts.destinations[0].url: smtp+plain:// would send the password in clear text",
        ),
        (
            "type: email\nurl: ${SMTP}\nfrom: m@example.org\nto: d@example.org\nsecret: ${SMTP}",
            "rules.yaml:10: alerts.destinations[0].secret: email destinations take no secret",
        ),
        ("type: slack\nurl: ${HOOK}\nto: d@example.org", "rules.yaml:8: alerts.destinations[0].to: only for email"),
        ("type: apprise\nurl: ${APPRISE}\nfrom: m@example.org", "rules.yaml:8: alerts.destinations[0].from: only for"),
        (
            "type: apprise\nurl: ${APPRISE_HTTP}",
            "rules.yaml:7: alerts.destinations[0].url: is not an Apprise URL it can use (https://…",
        ),
    ],
)
def test_each_email_or_apprise_mistake_is_reported_with_file_line_and_field(entry: str, expected: str) -> None:
    text = alerts("- name: d\n" + textwrap.indent(entry, "  ") + "\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "rules.yaml", MAIL_ENV)
    found = [str(p) for p in caught.value.problems]
    assert any(p.startswith(expected) for p in found), found
    assert "pw@" not in " ".join(found)
