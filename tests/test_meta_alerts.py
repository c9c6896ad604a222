"""The meta alerts fire on a real pipeline: a real Prometheus scrapes itself and a real Alertmanager,
evaluates the committed local rules, and notifies a webhook receiver started by the test.

The pipeline is broken the ways the alerts are about: a rule file whose expression fails at evaluation
time (a many-to-many match that promtool's static check accepts), the webhook receiver stopped, a
configuration Prometheus rejects, and Alertmanager stopped. Every process is stopped by PID.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alerts import alertmanager as am
from alerts import meta
from alerts.platform import RULE_FILES
from enginewatch.alertmanager import AlertmanagerServer
from enginewatch.prometheus import PrometheusServer
from exporters import contract as c
from foundation.prometheus import PrometheusClient
from tests.test_alerts_delivery import Webhook

pytestmark = pytest.mark.timeout(150)
DEADLINE_S = 40.0

# Valid PromQL, so `promtool check rules` passes; but `up` has a series per target (Prometheus and
# Alertmanager), and matching them all on no label is many-to-many: every evaluation fails.
BROKEN_RULES = textwrap.dedent("""
    groups:
    - name: broken
      rules:
      - record: broken:up_times_up
        expr: up * on () up
""")


@dataclass
class Pipeline:
    hook: Webhook
    alertmanager: AlertmanagerServer
    prometheus: PrometheusServer
    broken_rules: Path

    def firing(self, alert: str) -> list[dict[str, str]]:
        with PrometheusClient(self.prometheus.url, timeout=5) as prom:
            return [a.labels for a in prom.alerts() if a.name == alert and a.state == "firing"]

    def wait_firing(self, alert: str, **labels: str) -> dict[str, str]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            for found in self.firing(alert):
                if all(found.get(k) == v for k, v in labels.items()):
                    return found
            time.sleep(0.5)
        raise AssertionError(f"{alert} {labels} did not fire within {DEADLINE_S:g}s")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    work = tmp_path_factory.mktemp("meta")
    broken = work / "broken.rules.yml"
    with Webhook() as hook:
        config = am.write(work / "alertmanager.yml", f"{hook.url}/page", f"{hook.url}/ticket", profile="local",
                          watchdog_url=f"{hook.url}/watchdog")
        alertmanager = AlertmanagerServer(config, work / "alertmanager").start()
        try:
            prometheus = PrometheusServer(work / "prometheus", work / "state",
                                          targets={c.JOB_ALERTMANAGER: alertmanager.url},
                                          rule_files=[RULE_FILES["local"]], alertmanager=alertmanager.url,
                                          extra_args=["--rules.alert.resend-delay=1s"], self_scrape=True)
            with prometheus:
                yield Pipeline(hook, alertmanager, prometheus, broken)
        finally:
            alertmanager.stop()


def test_a_healthy_pipeline_raises_only_the_watchdog(pipeline: Pipeline) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and not pipeline.hook.alerts("/watchdog"):
        time.sleep(0.2)
    assert [a["labels"]["alertname"] for a in pipeline.hook.alerts("/watchdog")][:1] == [meta.WATCHDOG]
    time.sleep(meta.TIMINGS["local"].window)  # long enough for any meta alert's condition to show
    for alert in meta.alert_names()[1:]:
        assert not pipeline.firing(alert), f"{alert} fires on a healthy pipeline"
    # Pages arrive (ExporterTargetAbsent: this Prometheus has no platform targets), but never the Watchdog.
    assert meta.WATCHDOG not in {a["labels"]["alertname"] for a in pipeline.hook.alerts("/page")}


def test_a_rule_that_fails_at_evaluation_fires_the_rule_evaluation_alert(pipeline: Pipeline) -> None:
    pipeline.broken_rules.write_text(BROKEN_RULES)
    pipeline.prometheus.rule_files = [RULE_FILES["local"], pipeline.broken_rules]
    pipeline.prometheus.reload()
    labels = pipeline.wait_firing(meta.PROMETHEUS_RULE_EVALUATION_FAILURES, job=c.JOB_PROMETHEUS)
    assert labels["rule_group"] == f"{pipeline.broken_rules.resolve()};broken"
    assert labels["severity"] == "critical"
    # The page reaches the receiver: the pipeline still delivers, it only evaluates a rule badly.
    pipeline.hook.wait_for("/page", meta.PROMETHEUS_RULE_EVALUATION_FAILURES, time.monotonic() + DEADLINE_S)
    pipeline.prometheus.rule_files = [RULE_FILES["local"]]
    pipeline.prometheus.reload()


def test_a_stopped_receiver_fires_the_notification_failure_alert(pipeline: Pipeline) -> None:
    pipeline.hook.__exit__()  # the webhook receiver goes away; the Watchdog's next repeat cannot be delivered
    labels = pipeline.wait_firing(meta.ALERTMANAGER_NOTIFICATIONS_FAILING, job=c.JOB_ALERTMANAGER)
    assert labels["integration"] == "webhook"
    assert labels["severity"] == "warning"


def test_a_rejected_configuration_fires_the_reload_alert(pipeline: Pipeline) -> None:
    good = pipeline.prometheus.config_path.read_text()
    pipeline.prometheus.config_path.write_text(good + "\nnot_a_prometheus_field: true\n")
    r = httpx.post(f"{pipeline.prometheus.url}/-/reload", timeout=10)
    assert r.status_code != 200, "Prometheus must reject an unknown field"
    labels = pipeline.wait_firing(meta.PROMETHEUS_CONFIG_RELOAD_FAILED, job=c.JOB_PROMETHEUS)
    assert labels["severity"] == "critical"
    pipeline.prometheus.reload()  # writes the good configuration again
    with PrometheusClient(pipeline.prometheus.url, timeout=5) as prom:
        prom.wait_for(meta.own(meta.CONFIG_LAST_RELOAD_SUCCESSFUL, c.JOB_PROMETHEUS),
                      lambda s: bool(s) and s[0].value == 1, timeout=15)


def test_a_stopped_alertmanager_fires_alertmanager_down(pipeline: Pipeline) -> None:
    pipeline.alertmanager.stop()
    labels = pipeline.wait_firing(meta.ALERTMANAGER_DOWN, job=c.JOB_ALERTMANAGER)
    assert labels["instance"] == pipeline.alertmanager.url.split("://", 1)[1]
