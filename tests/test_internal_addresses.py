"""Requests to internal addresses: refused after DNS and on every redirect hop, for crawls and alerts alike.

Everything runs on loopback. The source's own site is on 127.0.0.1, which its configured
URL allows; links and redirects go to other loopback targets (127.0.0.2, [::1], names
like ``localhost`` and ``127.1`` that resolve to 127.0.0.1 without any DNS server), where
listening traps and the site's own request log prove that nothing connected, and to addresses that are never
reached at all (169.254.169.254, 10.0.0.1): the test suite's network guard would record
any attempt as a blocked connection, not as a refusal.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts import DeliveryReport, deliver_due, send_sample
from monitor.config import DestinationSpec
from monitor.demo import SEED_PATH, load_stories
from monitor.demo.sites import LocalSite, Route, Story
from monitor.ingest import save_article
from monitor.models import Article, Hit, RuleMatch, Verdict
from monitor.netpolicy import AddressRefused, NetworkPolicy, internal_kind, parse_network
from monitor.runs import run_crawl
from monitor.store import Store
from tests.receivers import Receiver
from tests.sitekit import config_text, write

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Trap:
    """A TCP listener on a loopback address that counts the connections made to it (and hangs up on them)."""

    def __init__(self, host: str = "127.0.0.2"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def traps() -> Iterator[dict[str, Trap]]:
    made = {"127.0.0.2": Trap("127.0.0.2")}
    if _ipv6_loopback():
        made["::1"] = Trap("::1")
    yield made
    for trap in made.values():
        trap.close()


def seed() -> Story:
    return next(s for s in load_stories()["ledger"] if s.path == SEED_PATH)


def feed(site: LocalSite, links: list[str]) -> None:
    """Serve an RSS feed at /feed.xml whose items link to ``links``."""
    items = "".join(f"<item><title>item {n}</title><link>{link}</link></item>" for n, link in enumerate(links))
    site.routes["/feed.xml"] = Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode(),
        "application/rss+xml",
    )


def redirect(site: LocalSite, path: str, location: str) -> str:
    site.routes[path] = Route(b"", status=302, headers={"Location": location})
    return site.base + path


def crawl(tmp_path: Path, site: LocalSite, extra_crawl: str = "") -> tuple[dict[str, object], dict[str, str]]:
    """Crawl ``site``'s feed once; the source's report and its run errors by URL (kind: message)."""
    sources = f"  - name: home\n    type: rss\n    url: {site.base}/feed.xml\n"
    config = write(tmp_path / "rules.yaml", config_text(sources, extra_crawl=extra_crawl))
    [report] = run_crawl(config, str(tmp_path / "m.db")).sources
    with Store.open(tmp_path / "m.db") as store:
        rows = store.query("SELECT url, kind, message FROM run_errors WHERE url IS NOT NULL")
    return report, {row["url"]: f"{row['kind']}: {row['message']}" for row in rows}


@pytest.mark.slow
def test_links_and_redirects_to_internal_addresses_are_refused_unsent_and_recorded(
    tmp_path: Path, traps: dict[str, Trap]
) -> None:
    story = seed()
    with LocalSite("home") as site:
        site.add_news("Home", [story])
        port = site.port
        refused = [
            traps["127.0.0.2"].url("/other-loopback.html"),
            f"http://localhost:{port}/by-name.html",  # a name, resolved to 127.0.0.1: not the host configured
            f"http://127.1:{port}/short-form.html",  # resolved, without any DNS server, to 127.0.0.1
            f"http://2130706433:{port}/decimal-form.html",
            f"http://0.0.0.0:{port}/unspecified.html",
            f"http://[::ffff:127.0.0.1]:{port}/mapped.html",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/intranet.html",
        ]
        if "::1" in traps:
            refused.append(traps["::1"].url("/ipv6-loopback.html"))
        hops = {
            redirect(site, "/to-metadata", "http://169.254.169.254/latest/meta-data/iam/"): (
                "http://169.254.169.254/latest/meta-data/iam/"
            ),
            redirect(site, "/to-other-loopback", traps["127.0.0.2"].url("/hop.html")): traps["127.0.0.2"].url(
                "/hop.html"
            ),
            redirect(site, "/to-a-name", f"http://localhost:{port}/hop-by-name.html"): (
                f"http://localhost:{port}/hop-by-name.html"
            ),
        }
        feed(site, [site.base + story.path, *refused, *hops])
        report, errors = crawl(tmp_path, site)

    assert report["status"] == "ok" and report["new_articles"] == 1  # the site's own article, on the allowed host
    for url in [*refused, *hops.values()]:
        assert errors.get(url, "").startswith("internal-address: refused "), (url, errors.get(url))
    assert "a link-local address" in errors["http://169.254.169.254/latest/meta-data/"]
    assert "localhost resolves to 127.0.0.1, a loopback address" in errors[f"http://localhost:{port}/by-name.html"]
    assert "127.1 resolves to 127.0.0.1" in errors[f"http://127.1:{port}/short-form.html"]
    assert "10.0.0.1 is a private address" in errors["http://10.0.0.1/intranet.html"]
    hop = errors["http://169.254.169.254/latest/meta-data/iam/"]
    assert f"redirected from {site.base}/to-metadata" in hop
    # Nothing reached any of them: no connection to a trap, no request for a refused path on the site itself.
    assert {host: trap.connections for host, trap in traps.items()} == dict.fromkeys(traps, 0)
    assert not [path for path in site.requests if "by-" in path or "form" in path or "hop" in path]


@pytest.mark.slow
def test_allow_private_networks_opens_the_networks_it_lists(tmp_path: Path) -> None:
    story = seed()
    other_story = Story("/other.html", story.title, story.published, "other", story.html)
    with LocalSite("home") as site, LocalSite("other") as other:
        site.add_news("Home", [story])
        other.add_news("Other", [other_story])
        links = [f"http://localhost:{other.port}/other.html", f"http://127.1:{other.port}/other.html?short-form"]
        feed(site, links)
        report, errors = crawl(tmp_path, site, extra_crawl="  allow_private_networks: [127.0.0.0/8]\n")
    assert errors == {}
    assert report["new_articles"] >= 1
    assert "/other.html" in other.requests and "/other.html?short-form" in other.requests


@pytest.mark.slow
def test_a_name_resolving_to_an_internal_address_is_refused_when_connecting_not_only_when_checked(
    tmp_path: Path,
) -> None:
    """Without the middleware, the resolver every connection goes through still refuses: no DNS rebinding gap."""
    probe = textwrap.dedent(
        """
        import sys
        import scrapy
        from scrapy.crawler import CrawlerProcess
        from scrapy.settings import Settings
        from spiders import settings as project

        class Probe(scrapy.Spider):
            name = "probe"

            async def start(self):
                yield scrapy.Request(sys.argv[2], callback=self.fetched, errback=self.failed, dont_filter=True)

            def fetched(self, response):
                print("FETCHED", response.status)

            def failed(self, failure):
                print("FAILED", failure.type.__name__)

        settings = Settings()
        settings.setmodule(project, priority="project")
        settings.set("MONITOR_CONFIG", sys.argv[1], priority="cmdline")
        settings.set("DOWNLOADER_MIDDLEWARES", {}, priority="cmdline")  # Scrapy's own only: no policy middleware
        settings.set("ROBOTSTXT_OBEY", False, priority="cmdline")
        settings.set("HTTPCACHE_ENABLED", False, priority="cmdline")
        settings.set("LOG_LEVEL", "ERROR", priority="cmdline")
        process = CrawlerProcess(settings)
        process.crawl(Probe)
        process.start()
        """
    )
    with LocalSite("target", {"/probe.html": Route(b"<html><body>hello</body></html>")}) as site:
        url = f"http://127.1:{site.port}/probe.html"
        outcomes = []
        for extra in ("", "  allow_private_networks: [127.0.0.0/8]\n"):
            config = write(
                tmp_path / "rules.yaml",
                config_text("  - name: x\n    type: rss\n    url: http://127.0.0.1/\n", extra_crawl=extra),
            )
            result = subprocess.run(
                [sys.executable, "-c", probe, config, url], capture_output=True, text=True, timeout=60, cwd=ROOT
            )
            outcomes.append((result.stdout.strip(), len(site.requests)))
    assert outcomes == [("FAILED CannotResolveHostError", 0), ("FETCHED 200", 1)]


def test_internal_addresses_are_recognised_in_every_form() -> None:
    kinds = {
        text: internal_kind(ipaddress.ip_address(text))
        for text in (
            "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1", "169.254.169.254",
            "fe80::1", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "100.64.0.1", "240.0.0.1", "255.255.255.255",
            "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:7f00:1::", "fec0::1",
            "93.184.215.14", "2606:4700::1111", "::ffff:93.184.215.14", "64:ff9b::5db8:d70e",
        )
    }  # fmt: skip
    assert kinds == {
        "127.0.0.1": "loopback", "127.8.9.10": "loopback", "::1": "loopback", "10.1.2.3": "private",
        "172.16.0.1": "private", "192.168.1.1": "private", "fd00::1": "private", "169.254.169.254": "link-local",
        "fe80::1": "link-local", "224.0.0.1": "multicast", "ff02::1": "multicast", "0.0.0.0": "unspecified",
        "::": "unspecified", "100.64.0.1": "shared (carrier-grade NAT)", "240.0.0.1": "reserved",
        "255.255.255.255": "reserved", "::ffff:127.0.0.1": "loopback", "::ffff:169.254.169.254": "link-local",
        "64:ff9b::a00:1": "private", "2002:7f00:1::": "loopback", "fec0::1": "site-local",
        "93.184.215.14": None, "2606:4700::1111": None, "::ffff:93.184.215.14": None, "64:ff9b::5db8:d70e": None,
    }  # fmt: skip


def test_the_policy_trusts_only_the_internal_host_the_operator_wrote_and_the_allowed_networks() -> None:
    policy = NetworkPolicy.of(["10.0.0.0/8"], "http://127.0.0.1:8080/feed.xml")
    assert policy.trusts("127.0.0.1") and not policy.trusts("127.0.0.2") and not policy.trusts("localhost")
    policy.check("10.9.9.9", ipaddress.ip_address("10.9.9.9"))
    policy.check("example.org", ipaddress.ip_address("93.184.215.14"))
    with pytest.raises(AddressRefused, match=r"db\.example resolves to 192\.168\.0\.5, a private address"):
        policy.check("db.example", ipaddress.ip_address("192.168.0.5"))
    # A public name is never trusted for being configured: its owner controls where its DNS points.
    assert NetworkPolicy.of([], "https://news.example.org/feed.xml").trusted == frozenset()
    assert NetworkPolicy.of([], "http://localhost:3000/").trusts("LOCALHOST")
    assert NetworkPolicy.of([], "http://[::1]:3000/").trusts("[0:0::1]")
    assert str(parse_network(" fd00::/8 ")) == "fd00::/8" and str(parse_network("10.0.0.5")) == "10.0.0.5/32"


# -- alert destinations -----------------------------------------------------------------------------------


def queue(store: Store, *destinations: DestinationSpec) -> str:
    hit = Hit("nato", "nato", "body", 2, "leaders met at the **NATO** summit")
    verdict = Verdict(score=5.0, threshold=3.0, matches=(RuleMatch("nato", 5.0, (hit,)),))
    url = "https://news.example/world/nato"
    article = Article(url=url, canonical_url=url, title="NATO summit", text="Leaders met at NATO.", source="example")
    save_article(store, article, verdict, list(destinations), now=T0)
    return str(store.query("SELECT id FROM alerts WHERE kind = 'alert'")[0]["id"])


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001"])
def test_a_destination_whose_name_resolves_to_an_internal_address_is_not_contacted_and_paused(
    store: Store, host: str
) -> None:
    with Receiver() as receiver:
        destination = DestinationSpec(name="hook", type="webhook", url=f"http://{host}:{receiver.port}/hook")
        alert_id = queue(store, destination)
        report = deliver_due(store, [destination], now=T0)
        assert receiver.requests == []
    assert report == DeliveryReport(dead=1, paused=1)
    [row] = store.query("SELECT status, last_error FROM alerts WHERE id = ?", [alert_id])
    assert row["status"] == "dead"
    assert row["last_error"].startswith(f"refused: {host} resolves to 127.0.0.1, a loopback address: not contacted")
    assert "crawl.allow_private_networks" in row["last_error"]
    [paused] = store.query("SELECT paused_reason FROM destination_state WHERE name = 'hook'")
    assert "refused" in paused["paused_reason"]


def test_a_destination_reaches_an_internal_address_its_own_url_names_or_the_allowed_networks_hold(
    store: Store,
) -> None:
    with Receiver() as receiver:
        literal = DestinationSpec(name="literal", type="webhook", url=receiver.url("/hook"))
        allowed = DestinationSpec(
            name="allowed",
            type="webhook",
            url=f"http://127.1:{receiver.port}/hook",
            allow_private_networks=("127.0.0.0/8",),
        )
        queue(store, literal, allowed)
        assert deliver_due(store, [literal, allowed], now=T0) == DeliveryReport(sent=2)
        assert len(receiver.requests) == 2


def test_a_sample_alert_to_an_internal_address_is_refused_as_a_permanent_failure() -> None:
    with Receiver() as receiver:
        destination = DestinationSpec(name="hook", type="webhook", url=f"http://127.1:{receiver.port}/hook")
        outcome = send_sample(destination, now=T0)
        assert receiver.requests == []
    assert not outcome.delivered and outcome.permanent and outcome.status is None
    assert outcome.error is not None and "a loopback address" in outcome.error


def test_the_allowed_networks_reach_the_destinations_through_the_configuration(tmp_path: Path) -> None:
    from monitor.config import load_config

    destinations = "    - name: hook\n      type: webhook\n      url: ${HOOK_URL:-http://127.1:9/hook}\n"
    text = config_text(
        "  - name: x\n    type: rss\n    url: http://127.0.0.1/\n",
        destinations=destinations,
        extra_crawl="  allow_private_networks: [10.0.0.0/8, 'fd00::/8']\n",
    )
    config = load_config(write(tmp_path / "rules.yaml", text))
    assert config.crawl.allow_private_networks == ("10.0.0.0/8", "fd00::/8")
    assert [d.allow_private_networks for d in config.alerts.destinations] == [("10.0.0.0/8", "fd00::/8")]
