"""An alert fired by a real Prometheus reaches a webhook receiver through the real Alertmanager,
routed by severity and inhibited as alerts/alertmanager.yml says.

Prometheus evaluates the platform rules (local profile) with no scrape target at all, so the real
ExporterTargetAbsent fires for the gateway and orchestrator jobs after its `for:`; next to it, three
always-firing test alerts check routing and inhibition. Every process is stopped by PID.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerts import alertmanager as am
from alerts.meta import WATCHDOG
from alerts.platform import EXPORTER_TARGET_ABSENT, RULE_FILES
from enginewatch.alertmanager import AlertmanagerServer
from enginewatch.prometheus import PrometheusServer
from exporters import contract as c
from foundation.alertmanager import AlertmanagerClient
from foundation.process import LOOPBACK

pytestmark = pytest.mark.timeout(90)
DEADLINE_S = 45.0

# The sales ticket fires 6 s after the page: Alertmanager inhibits by the sources it already holds,
# and with the local profile's 1 s group_wait a ticket arriving in an earlier batch than its page
# (Prometheus sends per rule, so a loaded machine can split them) would be sent before inhibition.
TEST_RULES = textwrap.dedent("""
    groups:
    - name: delivery-test
      rules:
      - alert: DeliveryTestPage
        expr: vector(1)
        labels: {severity: critical, engine: sales}
        annotations: {summary: "Always fires: a page for sales."}
      - alert: DeliveryTestTicket
        expr: vector(1)
        for: 6s
        labels: {severity: warning, engine: sales}
        annotations: {summary: "Always fires: a ticket for sales, inhibited by the page for sales."}
      - alert: DeliveryTestTicket
        expr: vector(1)
        labels: {severity: warning, engine: analytics}
        annotations: {summary: "Always fires: a ticket for analytics, nothing inhibits it."}
""")


class Webhook:
    """A receiver on a free loopback port that keeps every notification, by path (/page, /ticket)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook._lock:
                    hook.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a for p, n in self.received if p == path for a in n["alerts"] if a["status"] == "firing"]

    def wait_for(self, path: str, alertname: str, deadline: float, **labels: str) -> dict[str, Any]:
        while time.monotonic() < deadline:
            for a in self.alerts(path):
                if a["labels"].get("alertname") == alertname and all(a["labels"].get(k) == v
                                                                     for k, v in labels.items()):
                    return a
            time.sleep(0.2)
        raise AssertionError(f"{alertname} {labels} never reached {path}; received: {self.received}")


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Webhook, dict[str, Any]]]:
    work = tmp_path_factory.mktemp("delivery")
    rules = work / "delivery-test.rules.yml"
    rules.write_text(TEST_RULES)
    with Webhook() as hook:
        config = am.write(work / "alertmanager.yml", f"{hook.url}/page", f"{hook.url}/ticket", profile="local",
                          watchdog_url=f"{hook.url}/watchdog")
        alertmanager = AlertmanagerServer(config, work / "alertmanager").start()
        try:
            # Prometheus sends an alert when it starts firing and then only every resend delay (1m by
            # default); one that fires before the Alertmanager is discovered would wait that long.
            prometheus = PrometheusServer(work / "prometheus", work / "state", targets={},
                                          rule_files=[rules, RULE_FILES["local"]], alertmanager=alertmanager.url,
                                          extra_args=["--rules.alert.resend-delay=1s"])
            with prometheus:
                deadline = time.monotonic() + DEADLINE_S
                found = {
                    "page": hook.wait_for("/page", "DeliveryTestPage", deadline, engine="sales"),
                    "ticket": hook.wait_for("/ticket", "DeliveryTestTicket", deadline, engine="analytics"),
                    "platform": hook.wait_for("/page", EXPORTER_TARGET_ABSENT, deadline, job=c.JOB_GATEWAY),
                    "watchdog": hook.wait_for("/watchdog", WATCHDOG, deadline),
                }
                found["inhibited"] = _held_suppressed(alertmanager.url, deadline)
                time.sleep(2.0)  # a group_interval and a half for an inhibited ticket to show up if it could
                yield hook, found
        finally:
            alertmanager.stop()


def _held_suppressed(url: str, deadline: float) -> dict[str, str]:
    """Wait until Alertmanager holds the sales ticket, and return the labels of it once suppressed."""
    with AlertmanagerClient(url) as client:
        while time.monotonic() < deadline:
            for a in client.alerts(active=False):
                if (a.name, a.labels.get("engine"), a.state) == ("DeliveryTestTicket", "sales", "suppressed"):
                    return a.labels
            time.sleep(0.2)
    raise AssertionError("Alertmanager never held the sales ticket as suppressed")


def test_a_critical_alert_pages(delivered: tuple[Webhook, dict[str, Any]]) -> None:
    _, found = delivered
    assert found["page"]["labels"]["severity"] == "critical"


def test_a_real_platform_alert_reaches_the_page_receiver_with_its_runbook(
        delivered: tuple[Webhook, dict[str, Any]]) -> None:
    _, found = delivered
    alert = found["platform"]
    assert alert["labels"] == {"alertname": EXPORTER_TARGET_ABSENT, "job": c.JOB_GATEWAY, "severity": "critical"}
    assert alert["annotations"]["runbook_url"].endswith(f"/runbooks/{EXPORTER_TARGET_ABSENT}.md")
    assert "job gateway" in alert["annotations"]["description"]


def test_a_warning_opens_a_ticket_unless_a_page_covers_its_engine(
        delivered: tuple[Webhook, dict[str, Any]]) -> None:
    hook, found = delivered
    assert found["ticket"]["labels"]["severity"] == "warning"
    assert found["inhibited"]["severity"] == "warning"
    tickets = {a["labels"].get("engine") for a in hook.alerts("/ticket")}
    assert "sales" not in tickets, "the page for sales must inhibit the ticket for sales"
    # Pages without an engine label (ExporterTargetAbsent) inhibit nothing: analytics got its ticket.
    assert "analytics" in tickets


def test_the_watchdog_reaches_its_own_receiver_and_never_pages(delivered: tuple[Webhook, dict[str, Any]]) -> None:
    hook, found = delivered
    assert found["watchdog"]["labels"] == {"alertname": WATCHDOG, "severity": "none"}
    assert all(a["labels"]["alertname"] != WATCHDOG for a in hook.alerts("/page") + hook.alerts("/ticket"))


def test_info_alerts_notify_nobody(delivered: tuple[Webhook, dict[str, Any]]) -> None:
    hook, _ = delivered
    every = hook.alerts("/page") + hook.alerts("/ticket")
    assert all(a["labels"]["severity"] != "info" for a in every)
