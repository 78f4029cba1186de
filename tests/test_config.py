"""rules.yaml is validated strictly, and every problem is reported as FILE:LINE: field: what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

VALID = """\
version: 1
alerts:
  threshold: 2.5
  destinations:
    - name: team-slack
      type: slack
      url: ${SLACK_URL}
    - name: hook
      type: webhook
      url: ${HOOK_URL}
      secret: ${HOOK_SECRET:-}
sources:
  - name: feed
    type: rss
    url: https://example.org/feed.xml
    interval: 15m
  - name: listing
    type: listing
    url: https://example.org/news/
    link_pattern: '/news/\\d+'
rules:
  - name: nato
    terms: [NATO, "armed conflict"]
    weight: 2
"""
ENV = {"SLACK_URL": "https://hooks.slack.test/services/T/B/X", "HOOK_URL": "https://hooks.test/in"}


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "rules.yaml", ENV if env is None else env)
    return [str(p) for p in caught.value.problems]


def test_a_valid_file_loads_with_expanded_secrets_and_parsed_durations() -> None:
    config = parse_config(VALID, "rules.yaml", ENV)
    assert [s.name for s in config.sources] == ["feed", "listing"]
    assert config.sources[0].interval_seconds == 900
    assert config.sources[1].link_pattern == "/news/\\d+"
    assert config.rules[0].terms == ("NATO", "armed conflict")
    assert config.rules[0].weight == 2.0
    assert config.alerts.threshold == 2.5
    slack, hook = config.alerts.destinations
    assert slack.url == ENV["SLACK_URL"] and slack.enabled
    assert hook.secret is None  # ${HOOK_SECRET:-} with nothing set: no signing


def test_the_shipped_rules_yaml_is_valid_and_watches_the_four_topics() -> None:
    config = load_config(ROOT / "rules.yaml", env={})
    assert [r.name for r in config.rules] == ["nato", "ukraine", "sanctions", "armed-conflict"]
    assert len(config.sources) >= 4 and all(s.type == "rss" for s in config.sources)
    assert all(not d.enabled for d in config.alerts.destinations)  # no env set: destinations are off


def test_the_demo_uses_the_same_rules_as_the_shipped_file() -> None:
    env = {
        "MONITOR_DEMO_SLACK_URL": "http://127.0.0.1:1/s",
        "MONITOR_DEMO_WEBHOOK_URL": "http://127.0.0.1:1/w",
        "MONITOR_DEMO_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }
    text = (ROOT / "monitor/demo/demo.yaml").read_text().replace("{ledger}", "http://a").replace("{herald}", "http://b")
    demo = parse_config(text, "demo.yaml", env)
    shipped = load_config(ROOT / "rules.yaml", env={})
    assert [(r.name, r.terms, r.weight) for r in demo.rules] == [(r.name, r.terms, r.weight) for r in shipped.rules]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: []\nrules: []\ncolour: red\n", "rules.yaml:3: colour: unknown key"),
        (
            "sources:\n  - name: a\n    type: rss\n    url: https://x.org/f\n    intervall: 5m\nrules: []\n",
            "rules.yaml:5: sources[0].intervall: unknown key",
        ),
        (
            "sources:\n  - name: a\n    type: gopher\n    url: https://x.org/f\nrules: []\n",
            "rules.yaml:3: sources[0].type: must be one of rss, atom, sitemap, listing",
        ),
        (
            "sources:\n  - name: a\n    type: rss\n    url: ftp://x.org/f\nrules: []\n",
            "rules.yaml:4: sources[0].url: must be an http:// or https:// URL",
        ),
        (
            "sources:\n  - name: a\n    type: rss\n    url: https://x.org/f\n    interval: soon\nrules: []\n",
            "rules.yaml:5: sources[0].interval: must be a duration",
        ),
        (
            "sources:\n  - type: rss\n    url: https://x.org/f\nrules: []\n",
            "rules.yaml:2: sources[0].name: is required",
        ),
        (
            "sources:\n  - name: a\n    type: listing\n    url: https://x.org/\n    link_pattern: '(unclosed'\nrules: []\n",
            "rules.yaml:5: sources[0].link_pattern: is not a valid regular expression",
        ),
        (
            "sources:\n  - name: a\n    type: listing\n    url: https://x.org/\nrules: []\n",
            "rules.yaml:2: sources[0].link_pattern: is required for a listing source",
        ),
        ("sources: []\nrules:\n  - name: r\n    terms: []\n", "rules.yaml:4: rules[0].terms: must list at least one"),
        (
            "sources: []\nrules:\n  - name: r\n    terms: [ok, '--']\n",
            "rules.yaml:4: rules[0].terms[1]: must be a word",
        ),
        (
            "sources: []\nrules:\n  - name: r\n    terms: [a]\n    weight: heavy\n",
            "rules.yaml:5: rules[0].weight: must be a number greater than 0",
        ),
        (
            "sources: []\nrules:\n  - name: r\n    terms: [a]\n  - name: r\n    terms: [b]\n",
            "rules.yaml:5: rules[1].name: duplicate rule name 'r'",
        ),
        (
            "sources: []\nrules:\n  - name: Bad Name\n    terms: [a]\n",
            "rules.yaml:3: rules[0].name: must be lower-case",
        ),
        ("sources: []\nrules: []\nalerts:\n  threshold: 0\n", "rules.yaml:4: alerts.threshold: must be a number"),
        (
            "sources: []\nrules: []\nalerts:\n  destinations:\n    - name: s\n      type: slack\n"
            "      url: https://hooks.slack.com/services/T/B/X\n",
            "rules.yaml:7: alerts.destinations[0].url: must come from the environment",
        ),
        (
            "sources: []\nrules: []\nalerts:\n  destinations:\n    - name: s\n      type: slack\n      url: ${NOPE}\n",
            "rules.yaml:7: alerts.destinations[0].url: environment variable NOPE is not set",
        ),
        (
            "sources: []\nrules: []\nalerts:\n  destinations:\n    - name: s\n      type: pager\n      url: ${SLACK_URL}\n",
            "rules.yaml:6: alerts.destinations[0].type: must be one of slack, webhook",
        ),
        (
            "sources: []\nrules: []\nalerts:\n  destinations:\n    - name: h\n      type: webhook\n      url: ${SLACK_URL}\n"
            "      secret: ${SLACK_URL}\n",
            "rules.yaml:8: alerts.destinations[0].secret: must expand to a Standard Webhooks secret",
        ),
        (
            "sources: []\nrules: []\ncrawl:\n  obey_robots_txt: maybe\n",
            "rules.yaml:4: crawl.obey_robots_txt: must be true or false",
        ),
        (
            "sources: []\nrules: []\ncrawl:\n  max_page_bytes: true\n",
            "rules.yaml:4: crawl.max_page_bytes: must be a whole",
        ),
        ("sources: [\nrules: []\n", "rules.yaml:"),
        ("sources: []\nsources: []\nrules: []\n", "rules.yaml:2: yaml:"),
        ("- just\n- a list\n", "rules.yaml:1: (top level): must be a mapping"),
        ("sources: " + "[" * 1200 + "]" * 1200 + "\nrules: []\n", "rules.yaml:1: yaml: nested more than 1,000"),
        ("rules: []\n", "rules.yaml:1: sources: is required"),
        ("version: 2\nsources: []\nrules: []\n", "rules.yaml:1: version: must be 1"),
    ],
)
def test_each_mistake_is_reported_with_file_line_and_field(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems("sources:\n  - name: a\n    type: gopher\n    url: nope\nrules:\n  - name: r\n    terms: 3\n")
    assert len(found) == 3, found


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_secrets_never_appear_in_messages() -> None:
    env = {"SLACK_URL": "not-a-url-but-secret-token"}
    found = problems(
        "sources: []\nrules: []\nalerts:\n  destinations:\n    - name: s\n      type: slack\n      url: ${SLACK_URL}\n",
        env,
    )
    assert found and not any("secret-token" in p for p in found)


def test_allow_private_networks_takes_cidrs_and_reports_each_bad_one_on_its_own_line() -> None:
    found = problems(
        "sources: []\nrules: []\ncrawl:\n  allow_private_networks:\n"
        "    - 10.0.0.0/8\n    - 10.0.0.1/8\n    - intranet\n    - 7\n    - 10.0.0.0/8\n    - '::1/200'\n"
    )
    assert found == [
        "rules.yaml:6: crawl.allow_private_networks[1]: '10.0.0.1/8' has bits set after its /8 prefix:"
        " write 10.0.0.0/8 for the network, or 10.0.0.1/32 for one address",
        "rules.yaml:7: crawl.allow_private_networks[2]: must be a network like 10.0.0.0/8 or fd00::/8, not 'intranet'",
        "rules.yaml:8: crawl.allow_private_networks[3]: must be a network like 10.0.0.0/8 or fd00::/8,"
        " not the number 7",
        "rules.yaml:9: crawl.allow_private_networks[4]: 10.0.0.0/8 is listed twice",
        "rules.yaml:10: crawl.allow_private_networks[5]: must be a network like 10.0.0.0/8 or fd00::/8, not '::1/200'",
    ]
    assert problems("sources: []\nrules: []\ncrawl:\n  allow_private_networks: 10.0.0.0/8\n") == [
        "rules.yaml:4: crawl.allow_private_networks: must be a list, not '10.0.0.0/8'"
    ]


def test_allow_private_networks_is_kept_in_canonical_form_for_the_crawl_and_every_destination() -> None:
    text = VALID.replace(
        "version: 1\n", "version: 1\ncrawl:\n  allow_private_networks: [10.1.0.0/16, 'FD00::/8', 192.168.1.7]\n"
    )
    config = parse_config(text, "rules.yaml", ENV)
    assert config.crawl.allow_private_networks == ("10.1.0.0/16", "fd00::/8", "192.168.1.7/32")
    assert {d.allow_private_networks for d in config.alerts.destinations} == {config.crawl.allow_private_networks}
    assert parse_config(VALID, "rules.yaml", ENV).crawl.allow_private_networks == ()


def test_discovery_bounds_and_the_run_deadline_load_with_sensible_defaults() -> None:
    crawl = parse_config(VALID, "rules.yaml", ENV).crawl
    assert (crawl.max_index_depth, crawl.max_indexes, crawl.run_deadline_seconds) == (3, 500, None)
    text = VALID.replace(
        "version: 1\n", "version: 1\ncrawl:\n  max_index_depth: 0\n  max_indexes: 40\n  run_deadline: 2h\n"
    )
    crawl = parse_config(text, "rules.yaml", ENV).crawl
    assert (crawl.max_index_depth, crawl.max_indexes, crawl.run_deadline_seconds) == (0, 40, 7200.0)


def test_discovery_bounds_and_the_run_deadline_are_validated_strictly() -> None:
    found = problems(
        "sources: []\nrules: []\ncrawl:\n  max_index_depth: -1\n  max_indexes: 0\n  run_deadline: soon\n"
        "  max_indexes_per_run: 5\n"
    )
    unknown = found.pop(0)
    assert unknown.startswith("rules.yaml:7: crawl.max_indexes_per_run: unknown key (known keys: ")
    assert "max_index_depth, max_indexes," in unknown and "run_deadline," in unknown
    assert found == [
        "rules.yaml:4: crawl.max_index_depth: must be a whole number of at least 0, not -1",
        "rules.yaml:5: crawl.max_indexes: must be a whole number of at least 1, not 0",
        "rules.yaml:6: crawl.run_deadline: must be a duration like 30s, 15m, 2h or 1d, not 'soon'",
    ]
    assert problems("sources: []\nrules: []\ncrawl:\n  run_deadline: 0\n") == [
        "rules.yaml:4: crawl.run_deadline: must be longer than 0 seconds, not 0"
    ]
    assert problems("sources: []\nrules: []\ncrawl:\n  max_indexes: 2.5\n") == [
        "rules.yaml:4: crawl.max_indexes: must be a whole number of at least 1, not 2.5"
    ]
