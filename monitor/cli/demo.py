"""``monitor demo``: the whole pipeline offline, against local sites and a local receiver."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.common import UsageProblem
from monitor.errors import DemoStoreError, MonitorError, StoreError


@click.command()
@click.option("--keep-serving", is_flag=True, help="Keep the demo sites up afterwards, until Ctrl-C.")
@click.option("--db", "demo_db", default="db/demo.db", show_default=True, help="Where the demo's store goes.")
def demo(keep_serving: bool, demo_db: str) -> None:
    """Run the whole pipeline offline: local news sites, a crawl, alerts to a local receiver, a search.

    \b
    Example:
        monitor demo
    """
    from monitor.demo import run_demo

    try:
        code = run_demo(Path(demo_db), sys.stdout, keep_serving=keep_serving)
    except (DemoStoreError, StoreError) as error:
        raise UsageProblem(str(error)) from None
    except MonitorError as error:
        raise click.ClickException(str(error)) from None
    sys.exit(code)


COMMANDS = [demo]
