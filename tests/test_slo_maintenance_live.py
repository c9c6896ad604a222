"""A runtime maintenance window on the live stack: the SLO service creates the silence in the real
Alertmanager, Prometheus scrapes the window and the SLO base rules drop the engine's events; DELETE
expires the silence and the events count again."""

from __future__ import annotations

import time

import httpx
import pytest

from foundation.alertmanager import AlertmanagerClient, SilenceMatcher
from foundation.prometheus import PrometheusClient
from loadgen.load import LoadGenerator, LoadSpec

pytestmark = pytest.mark.timeout(120)
SLO = "gateway-availability"


def _wait(what: str, check, timeout: float = 15.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_a_window_silences_in_alertmanager_and_excludes_the_engine_until_deleted(stack) -> None:
    assert stack.slo_service_url and stack.alertmanager, "the stack runs the SLO service and Alertmanager"
    api = f"{stack.slo_service_url}/api/v1/maintenance"
    base = f'slo:sli_total:rate{{slo="{SLO}"}}'
    with httpx.Client(timeout=15) as http, AlertmanagerClient(stack.alertmanager.url) as am, \
            PrometheusClient(stack.prometheus_url) as prom:
        def engines() -> set[str]:
            return {s.labels.get("engine", "") for s in prom.query(base)}

        if not engines() >= {"analytics", "sales"}:
            # A gateway counter appears with its engine's first request (earlier tests may have sent none).
            LoadGenerator(stack.gateway_url, LoadSpec(qps=20, duration_s=1.5, engines=tuple(stack.engines), seed=11,
                                                      max_queries=60)).run()
        _wait("base series of every engine", lambda: engines() >= {"analytics", "sales"})
        r = http.post(api, json={"slo": SLO, "engine": "analytics", "duration": "10m", "reason": "live test"})
        assert r.status_code == 201, r.text
        window = r.json()
        try:
            assert window["state"] == "active" and window["slos"] == [SLO] and window["silence_id"]
            silence = am.silence(window["silence_id"])
            assert silence is not None and silence.state == "active"
            assert set(silence.matchers) == {SilenceMatcher("slo", SLO), SilenceMatcher("engine", "analytics")}
            assert silence.created_by == "enginewatch-slo-service" and "live test" in silence.comment
            listed = http.get(api).json()
            assert [w["id"] for w in listed["windows"] if w["state"] == "active"] == [window["id"]]
            assert listed["alertmanager"] == stack.alertmanager.url
            # Scraped from the service's /metrics; then the base rules record no analytics events at all.
            _wait("the window in Prometheus", lambda: prom.query(
                f'slo_maintenance_window_active{{slo="{SLO}",engine="analytics"}} == 1'))
            _wait("analytics excluded, sales still counted", lambda: engines() == {"sales"})
            # Other SLOs of analytics are not in the window.
            assert prom.query('slo:sli_total:rate{slo="query-core-availability",engine="analytics"}')
        finally:
            ended = http.delete(f"{api}/{window['id']}")
        assert ended.status_code == 200, ended.text
        assert ended.json()["state"] == "ended"
        expired = am.silence(window["silence_id"])
        assert expired is not None and expired.state == "expired"
        _wait("analytics counted again", lambda: engines() >= {"analytics", "sales"})
        again = http.delete(f"{api}/{window['id']}")
        assert again.status_code == 409 and "already ended" in again.json()["error"]


def test_declared_windows_get_one_silence_each_across_restarts(stack) -> None:
    """The specs' windows are silenced too, once: a restarted service adopts the silence it made."""
    from dataclasses import replace

    from slo.maintenance import MaintenanceWindow
    from slo.service.maintenance import MaintenanceStore
    from slo.specs import platform_slos

    start = int(time.time()) + 86400 * 365 * 50  # far ahead: pending, never active during the session
    window = MaintenanceWindow(start, start + 3600, "declared in a spec")
    slos = [replace(s, maintenance=(window,)) if s.id == SLO else s for s in platform_slos()]
    first, second = MaintenanceStore(slos, stack.alertmanager.url), MaintenanceStore(slos, stack.alertmanager.url)
    with AlertmanagerClient(stack.alertmanager.url) as am:
        try:
            assert first.sync_declared() == 1
            (declared,) = [w for w in first.windows() if w.source == "spec"]
            silence = am.silence(declared.silence_id or "")
            assert silence is not None and silence.state == "pending" and declared.id in silence.comment
            assert set(silence.matchers) == {SilenceMatcher("slo", SLO)}
            assert second.sync_declared() == 1
            assert [w.silence_id for w in second.windows() if w.source == "spec"] == [declared.silence_id]
            assert len([s for s in am.silences() if declared.id in s.comment]) == 1
        finally:
            for s in am.silences():
                if "declared in a spec" in s.comment and s.state != "expired":
                    am.expire_silence(s.id)
            first.close()
            second.close()


def test_a_game_day_runs_its_faults_in_windows_unless_the_experiment_burns_budget(stack) -> None:
    from chaos.experiment import load_experiment
    from chaos.maintenance import fault_windows, window_scopes
    from enginewatch.gameday import EXPERIMENTS

    kill, outage = load_experiment(EXPERIMENTS / "kill-node.yaml"), load_experiment(EXPERIMENTS / "engine-outage.yaml")
    assert window_scopes(kill) == ["sales", "analytics", "reporting"] and outage.burn_budget
    notes: list[str] = []
    with AlertmanagerClient(stack.alertmanager.url) as am, PrometheusClient(stack.prometheus_url) as prom:
        with fault_windows(kill, stack.slo_service_url, stack.prometheus_url, notes) as windows:
            # reporting is not in this stack's fleet: its window is declared all the same, as a window
            # for an engine about to be created would be.
            assert [w["engine"] for w in windows] == ["sales", "analytics", "reporting"]
            # Scraped before the body runs: the first fault is already excluded.
            assert {s.labels["engine"] for s in prom.query("slo_maintenance_window_active == 1")} >= {"sales",
                                                                                                      "analytics"}
            silences = [am.silence(w["silence_id"]) for w in windows]
            assert all(s is not None and s.state == "active" for s in silences)
        assert all(s is not None and s.state == "expired" for s in (am.silence(w["silence_id"]) for w in windows))
        with fault_windows(outage, stack.slo_service_url, stack.prometheus_url, notes) as none:
            assert none == []
    assert any("ran inside maintenance window" in n for n in notes)
    assert any("engine-outage: burn_budget" in n for n in notes)


def test_cli_adds_lists_and_ends_a_window(stack) -> None:
    import json
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "maintenance", *args,
                               "--slo-service", stack.slo_service_url], capture_output=True, text=True, timeout=60)

    added = cli("add", "--slo", "gateway-scan-latency", "--duration", "5m", "--reason", "cli test", "--json")
    assert added.returncode == 0, added.stderr
    window = json.loads(added.stdout)
    try:
        listed = cli("list")
        assert listed.returncode == 0 and window["id"] in listed.stdout and "cli test" in listed.stdout
        # On-call expired the silence in Alertmanager's UI first: ending the window still works.
        with AlertmanagerClient(stack.alertmanager.url) as am:
            am.expire_silence(window["silence_id"])
    finally:
        ended = cli("end", window["id"], "--json")
    assert ended.returncode == 0 and json.loads(ended.stdout)["state"] == "ended"
    refused = cli("end", window["id"])
    assert refused.returncode == 2 and "already ended" in refused.stderr and "Traceback" not in refused.stderr
