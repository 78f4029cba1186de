"""The READMEs document every command, configuration key and table, and the Quick start is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.cli import cli
from monitor.config import parse_config
from monitor.errors import ConfigError
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_a_readme_section_with_an_example(command: str) -> None:
    section = re.search(rf"^### `monitor {command}\b.*?(?=^### |^## )", README, re.S | re.M)
    assert section, f"README has no section for monitor {command}"
    assert "```" in section.group(0), f"the section for monitor {command} has no example"


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_help_has_an_example(command: str) -> None:
    assert "Example:" in (cli.commands[command].help or "")


PROBES = {
    "": "bogus: 1\nsources: []\nrules: []\n",
    "crawl.": "crawl:\n  bogus: 1\nsources: []\nrules: []\n",
    "alerts.": "alerts:\n  bogus: 1\nsources: []\nrules: []\n",
    "alerts.destinations[].": "alerts:\n  destinations:\n    - bogus: 1\nsources: []\nrules: []\n",
    "sources[].": "sources:\n  - bogus: 1\nrules: []\n",
    "rules[].": "sources: []\nrules:\n  - bogus: 1\n",
}


@pytest.mark.parametrize("prefix", sorted(PROBES))
def test_every_configuration_key_is_documented(prefix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROBES[prefix], "probe.yaml", {})
    message = next(p.message for p in caught.value.problems if "unknown key" in p.message)
    keys = re.search(r"known keys: ([^)]*)", message).group(1).split(", ")  # type: ignore[union-attr]
    for key in keys:
        if prefix == "" and key in ("crawl", "alerts", "sources", "rules"):
            continue  # sections: documented through their keys
        documented = f"`{prefix}{key}`" in README or f"`{prefix}{key}[]." in README  # a list: its items' keys
        assert documented, f"README does not document {prefix}{key}"


def test_quick_start_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    setup = [b.strip() for b in blocks if b.strip().startswith("python3 -m venv")]
    assert len(setup) == 2
    assert setup[0].endswith("monitor demo")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = setup[1].split("&& ", 1)[1]  # CI makes its own venv, then runs the rest verbatim
    assert test_command in ci


def test_db_readme_documents_every_table_and_column_of_the_latest_schema(tmp_path: Path) -> None:
    schema = (ROOT / "db" / "README.md").read_text(encoding="utf-8")
    with Store.open(tmp_path / "m.db") as store:
        tables = [
            row[0]
            for row in store.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE 'articles_fts_%'"  # FTS5's own shadow tables
            )
        ]
        assert "vetoes" in tables and "matches" in tables
        for table in tables:
            section = re.search(rf"^### `{table}`.*?(?=^### |^## |\Z)", schema, re.S | re.M)
            assert section, f"db/README.md has no section for {table}"
            if table == "articles_fts":
                continue  # an index over articles.title and articles.text, documented as such
            columns = [row[1] for row in store.conn.execute(f"PRAGMA table_info({table})")]
            undocumented = [column for column in columns if f"`{column}`" not in section.group(0)]
            assert not undocumented, f"db/README.md does not document {table}.{undocumented}"
