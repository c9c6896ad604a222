"""A real Prometheus and Alertmanager, started from rendered configuration, scraping a real exporter.

One Alertmanager and one Prometheus serve the whole module (each start costs a second or two); every
process is stopped by PID in its fixture.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, start_http_server

from enginewatch import binary_server
from enginewatch.alertmanager import AlertmanagerServer
from enginewatch.alertmanager import render_config as render_am_config
from enginewatch.binary_server import ServerError
from enginewatch.prometheus import PrometheusServer, render_config
from exporters.contract import JOB_CHAOS, JOB_GATEWAY, JOB_NODE, JOB_ORCHESTRATOR
from foundation import promtool
from foundation.process import LOOPBACK, free_port, write_atomic
from foundation.prometheus import PrometheusClient, PrometheusUnavailable

NODE_LABELS = {"engine": "sales", "cluster": "c1", "node": "n1", "pod": "sales-c1-n1", "version": "v1"}

RULES = textwrap.dedent("""
    groups:
    - name: wiring
      rules:
      - record: enginewatch_test:value:max
        expr: max(enginewatch_test_value)
      - alert: WiringTestValueHigh
        expr: enginewatch_test_value > 1
        labels: {severity: info}
        annotations: {summary: "test value is {{ $value }}"}
""")
BROKEN_RULES = "groups:\n- name: broken\n  rules:\n  - alert: X\n    expr: rate(foo[5m] >\n"
RULE_TESTS = textwrap.dedent("""
    rule_files: [rules.yml]
    evaluation_interval: 1s
    tests:
    - interval: 1s
      input_series:
      - series: enginewatch_test_value{{instance="a"}}
        values: 2x10
      alert_rule_test:
      - eval_time: 5s
        alertname: WiringTestValueHigh
        exp_alerts: {expected}
""")


# --- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wiring")


@pytest.fixture(scope="module")
def rule_file(workdir: Path) -> Path:
    path = workdir / "rules.yml"
    path.write_text(RULES)
    return path


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    """A prometheus_client HTTP server on loopback (in-process), as ``host:port``."""
    registry = CollectorRegistry()
    Gauge("enginewatch_test_value", "A value to scrape.", registry=registry).set(2)
    httpd, thread = start_http_server(0, addr=LOOPBACK, registry=registry)
    yield f"{LOOPBACK}:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def alertmanager(workdir: Path) -> Iterator[AlertmanagerServer]:
    config = workdir / "alertmanager.yml"
    config.write_text(render_am_config())
    server = AlertmanagerServer(config, workdir / "alertmanager").start()
    yield server
    server.stop()
    assert not server.alive


@pytest.fixture(scope="module")
def prometheus(workdir: Path, rule_file: Path, exporter: str,
               alertmanager: AlertmanagerServer) -> Iterator[PrometheusServer]:
    state = workdir / "state"
    _write_file_sd(state, exporter, NODE_LABELS)
    server = PrometheusServer(workdir / "prometheus", state, rule_files=[rule_file],
                              alertmanager=alertmanager.url).start()
    yield server
    server.stop()
    assert not server.alive


@pytest.fixture(scope="module")
def api(prometheus: PrometheusServer) -> Iterator[PrometheusClient]:
    with PrometheusClient(prometheus.url) as client:
        yield client


def _write_file_sd(state_dir: Path, target: str, labels: dict[str, str]) -> None:
    write_atomic(state_dir / "file_sd" / "nodes.json", json.dumps([{"targets": [target], "labels": labels}]))


# --- rendering ---------------------------------------------------------------------------------------

def test_rendered_config_passes_promtool(workdir: Path, rule_file: Path) -> None:
    text = render_config(workdir / "render-state", targets={JOB_GATEWAY: "127.0.0.1:9000",
                                                            JOB_ORCHESTRATOR: "http://127.0.0.1:9001/metrics"},
                         rule_files=[rule_file], alertmanager="http://127.0.0.1:9093")
    config = yaml.safe_load(text)
    assert config["global"]["scrape_interval"] == config["global"]["evaluation_interval"] == "1s"
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    assert list(jobs) == [JOB_NODE, JOB_CHAOS, JOB_GATEWAY, JOB_ORCHESTRATOR]  # the absent slo-service is left out
    assert jobs[JOB_NODE]["file_sd_configs"][0]["files"][0].endswith("/render-state/file_sd/*.json")
    assert jobs[JOB_CHAOS]["file_sd_configs"][0]["files"][0].endswith("/render-state/chaos_sd/*.json")
    assert jobs[JOB_ORCHESTRATOR]["static_configs"] == [{"targets": ["127.0.0.1:9001"]}]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["127.0.0.1:9093"]}]

    path = workdir / "rendered.yml"
    path.write_text(text)
    ok, output = promtool.check_config(path)
    assert ok, output
    with pytest.raises(ValueError, match="unknown scrape jobs"):
        render_config(workdir, targets={"grafana": "127.0.0.1:3000"})


# --- Prometheus --------------------------------------------------------------------------------------

def test_file_sd_target_is_up_with_topology_labels(api: PrometheusClient, exporter: str) -> None:
    samples = api.wait_for(f'up{{job="{JOB_NODE}"}}', lambda s: len(s) == 1 and s[0].value == 1, timeout=20)
    assert {k: samples[0].labels[k] for k in NODE_LABELS} == NODE_LABELS
    assert samples[0].labels["instance"] == exporter

    (target,) = [t for t in api.targets() if t.job == JOB_NODE]
    assert target.health == "up" and target.labels["pod"] == "sales-c1-n1" and target.last_error == ""


def test_changed_file_sd_is_picked_up(prometheus: PrometheusServer, api: PrometheusClient,
                                      exporter: str) -> None:
    api.wait_for(f'up{{job="{JOB_NODE}"}}', lambda s: len(s) == 1, timeout=20)
    moved = {**NODE_LABELS, "cluster": "c2", "pod": "sales-c2-n1", "version": "v2"}
    _write_file_sd(prometheus.state_dir, exporter, moved)
    samples = api.wait_for(f'up{{job="{JOB_NODE}", pod="sales-c2-n1"}} == 1', lambda s: len(s) == 1,
                           timeout=20)
    assert samples[0].labels["version"] == "v2"
    assert [t.labels["pod"] for t in api.targets() if t.job == JOB_NODE] == ["sales-c2-n1"]


def test_reload_applies_a_new_static_target_and_refuses_a_broken_config(
        prometheus: PrometheusServer, api: PrometheusClient, exporter: str, workdir: Path) -> None:
    prometheus.targets[JOB_GATEWAY] = f"http://{exporter}"
    prometheus.reload()
    api.wait_for(f'up{{job="{JOB_GATEWAY}"}} == 1', lambda s: len(s) == 1, timeout=20)

    broken = workdir / "broken-rules.yml"
    broken.write_text(BROKEN_RULES)
    prometheus.rule_files.append(broken)
    try:
        with pytest.raises(ServerError, match="rejected the configuration"):
            prometheus.reload()
    finally:
        prometheus.rule_files.remove(broken)
    # Still serving, on the previous configuration.
    assert api.value(f'up{{job="{JOB_GATEWAY}"}}') == 1
    prometheus.reload()


def test_rules_alerts_and_alertmanager(api: PrometheusClient, alertmanager: AlertmanagerServer) -> None:
    api.wait_for("enginewatch_test:value:max", lambda s: len(s) == 1 and s[0].value == 2, timeout=20)
    rules = {r.name: r for r in api.rules()}
    assert rules["enginewatch_test:value:max"].type == "recording"
    assert rules["WiringTestValueHigh"].health == "ok"

    deadline = time.monotonic() + 20
    while not any(a.name == "WiringTestValueHigh" and a.state == "firing" for a in api.alerts()):
        assert time.monotonic() < deadline, "alert never fired"
        time.sleep(0.25)
    # Prometheus delivered it to our Alertmanager, over loopback.
    while not _am_alerts(alertmanager):
        assert time.monotonic() < deadline, "alert never reached Alertmanager"
        time.sleep(0.25)
    # One alert per scraped series: the exporter may also be the gateway job by now (reload test).
    for alert in _am_alerts(alertmanager):
        assert alert["annotations"]["summary"] == "test value is 2"
        assert alert["generatorURL"].startswith(api.url)


def _am_alerts(alertmanager: AlertmanagerServer) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["labels"].get("alertname") == "WiringTestValueHigh"]


def test_query_range_and_api_errors(api: PrometheusClient) -> None:
    api.wait_for("enginewatch_test_value", lambda s: len(s) >= 1, timeout=20)
    end = time.time()
    series = api.query_range("max(enginewatch_test_value)", end - 5, end, 1)
    assert len(series) == 1 and {v for _, v in series[0].points} == {2.0}
    frame = api.query_range_frame("max(enginewatch_test_value)", end - 5, end, 1)
    assert list(frame.columns) == ["timestamp", "value"] and (frame["value"] == 2).all()
    assert api.query("scalar(max(enginewatch_test_value))")[0].value == 2

    with pytest.raises(PrometheusUnavailable, match="bad_data") as bad:
        api.query("rate(up[")
    assert bad.value.kind == "api" and bad.value.status == 400
    with pytest.raises(ValueError, match="use query_range"):
        api.query("up[1m]")
    with PrometheusClient(f"http://{LOOPBACK}:{free_port()}", timeout=2) as nowhere:
        with pytest.raises(PrometheusUnavailable, match="cannot connect") as down:
            nowhere.query("up")
        assert down.value.kind == "connection"
        assert not nowhere.ready()
    with PrometheusClient(f"{api.url}/no-such-prefix") as wrong:
        with pytest.raises(PrometheusUnavailable, match="HTTP 404") as missing:
            wrong.targets()
        assert missing.value.kind == "http"


def test_start_failure_says_why(workdir: Path) -> None:
    broken = workdir / "startup-broken.yml"
    broken.write_text(BROKEN_RULES)
    server = PrometheusServer(workdir / "prom-broken", workdir / "state-broken", rule_files=[broken])
    try:
        with pytest.raises(ServerError, match="did not become ready") as err:
            server.start(timeout=20)
        assert "parse error" in str(err.value)
        assert not server.alive
    finally:
        server.stop()


def test_a_taken_port_is_retried(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = start_http_server(0, addr=LOOPBACK, registry=CollectorRegistry())[0]
    ports = iter([taken.server_port])
    monkeypatch.setattr(binary_server, "free_port", lambda: next(ports, None) or free_port())
    server = PrometheusServer(workdir / "prom-retry", workdir / "state-retry")
    try:
        server.start(timeout=20)
        assert server.port != taken.server_port and server.alive
    finally:
        server.stop()
        taken.shutdown()
        taken.server_close()
    assert "address already in use" in server.log_path.read_text()


# --- Alertmanager ------------------------------------------------------------------------------------

def test_alertmanager_answers_status(alertmanager: AlertmanagerServer) -> None:
    status = alertmanager.status()
    assert status["cluster"]["status"] == "disabled"  # no gossip listener
    assert "receiver: default" in status["config"]["original"]


# --- promtool / amtool -------------------------------------------------------------------------------

def test_check_metrics() -> None:
    registry = CollectorRegistry()
    Counter("enginewatch_test_queries", "Queries.", registry=registry).inc()
    assert promtool.check_metrics(generate_latest(registry).decode()) == []
    problems = promtool.check_metrics("# TYPE queries counter\nqueries 3\n")
    assert any('"_total" suffix' in p for p in problems) and any("no help text" in p for p in problems)
    assert promtool.check_metrics("not{{ a metric\n")  # a parse error is a problem too


def test_check_and_test_rules(workdir: Path, rule_file: Path) -> None:
    assert promtool.check_rules(rule_file).ok
    broken = workdir / "check-broken.yml"
    broken.write_text(BROKEN_RULES)
    ok, output = promtool.check_rules(rule_file, broken)
    assert not ok and "unclosed left parenthesis" in output

    passing, failing = workdir / "rules_test.yml", workdir / "rules_test_failing.yml"
    expected = '[{exp_labels: {severity: info, instance: a}, exp_annotations: {summary: "test value is 2"}}]'
    passing.write_text(RULE_TESTS.format(expected=expected))
    failing.write_text(RULE_TESTS.format(expected="[]"))
    ok, output = promtool.test_rules(passing)
    assert ok, output
    ok, output = promtool.test_rules(failing)
    assert not ok and "WiringTestValueHigh" in output


def test_amtool_check_config(workdir: Path) -> None:
    good = workdir / "am-good.yml"
    good.write_text(render_am_config(webhook_url="http://127.0.0.1:9/hook"))
    ok, output = promtool.check_alertmanager_config(good)
    assert ok, output
    bad = workdir / "am-bad.yml"
    bad.write_text("route:\n  receiver: nobody\nreceivers: []\n")
    ok, output = promtool.check_alertmanager_config(bad)
    assert not ok and 'undefined receiver "nobody"' in output


def test_missing_tool_is_a_plain_failure(workdir: Path) -> None:
    ok, output = promtool.run([str(workdir / "no-promtool"), "check", "rules", str(workdir / "x.yml")])
    assert not ok and "install the Debian package" in output
