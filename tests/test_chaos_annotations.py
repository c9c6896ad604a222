"""chaos_fault_active, in this process: when a fault counts as active, its labels, the loopback /metrics
and its file_sd announcement, the Prometheus job that reads it, and the dashboards' annotation on it.
The live proof (a real fault, scraped by a real Prometheus) is tests/test_chaos_annotations_live.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import yaml

import dashboards
from chaos.backend import PodInfo
from chaos.fault import Fault
from chaos.metrics import FaultGauge
from chaos.scrape import FaultExporter, chaos_job
from dashboards.annotations import chaos_expr
from dashboards.variables import DATASOURCE
from enginewatch.prometheus import CHAOS_SD_DIR, render_config
from exporters.contract import CHAOS_FAULT_ACTIVE

PODS = [PodInfo("sales-c1-n1", "sales", "c1", "n1", "v1", "READY", True, 101, None),
        PodInfo("sales-c2-n1", "sales", "c2", "n1", "v1", "READY", True, 102, None)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gauge(clock: Clock) -> FaultGauge:
    return FaultGauge(hold_s=2.0, clock=clock)


def _values(gauge: FaultGauge) -> dict[str, float]:
    return {labels["pod"] or labels["action"]: value for labels, value in gauge.series()}


def _inject(fault: Fault, clock: Clock, pods: tuple[str, ...] = ("sales-c1-n1",)) -> None:
    fault.pods, fault.ts = pods, clock.now


def test_a_lasting_fault_is_active_from_its_injection_until_it_is_lifted(gauge: FaultGauge, clock: Clock) -> None:
    run = gauge.run("gray", PODS)
    fault = Fault(0, "slow_storage", "sales", "one", 1.0)
    run.started(fault, lasting=True)
    assert gauge.series() == []  # nothing hit the platform yet
    _inject(fault, clock)
    assert _values(gauge) == {"sales-c1-n1": 1.0}  # while the action still verifies it
    fault.injected = True
    run.settled(fault)
    clock.now += 30  # far past the hold: a lasting fault lasts until lifted
    assert _values(gauge) == {"sales-c1-n1": 1.0}
    fault.lifted_ts = clock.now
    clock.now += 0.01
    assert _values(gauge) == {"sales-c1-n1": 0.0}


def test_an_instant_fault_is_held_for_two_scrapes(gauge: FaultGauge, clock: Clock) -> None:
    run = gauge.run("kill", PODS)
    fault = Fault(0, "kill_pod", "sales", "one", 1.0)
    run.started(fault, lasting=False)
    _inject(fault, clock)
    fault.injected = True
    run.settled(fault)
    clock.now += 1.9
    assert _values(gauge) == {"sales-c1-n1": 1.0}
    clock.now += 0.2
    assert _values(gauge) == {"sales-c1-n1": 0.0}


def test_a_fault_found_not_injected_leaves_no_series(gauge: FaultGauge, clock: Clock) -> None:
    run = gauge.run("refused", PODS)
    fault = Fault(0, "partition", "sales", "one", 1.0)
    run.started(fault, lasting=True)
    _inject(fault, clock)
    assert _values(gauge) == {"sales-c1-n1": 1.0}  # the rule was being applied
    fault.error = "applied but not in effect"
    run.settled(fault)
    assert gauge.series() == []


def test_the_rollback_ends_every_fault_of_its_run_and_then_the_series_go(gauge: FaultGauge, clock: Clock) -> None:
    first, other = gauge.run("a", PODS), gauge.run("b", PODS)
    faults = []
    for run, pod in ((first, "sales-c1-n1"), (other, "sales-c2-n1")):
        fault = Fault(0, "pause_pod", "sales", "one", 1.0)
        run.started(fault, lasting=True)
        _inject(fault, clock, (pod,))
        fault.injected = True
        run.settled(fault)
        faults.append(fault)
    first.rolled_back()
    assert _values(gauge) == {"sales-c1-n1": 0.0, "sales-c2-n1": 1.0}  # the other run's fault still acts
    clock.now += 2.5
    assert _values(gauge) == {"sales-c2-n1": 1.0}


def test_labels_say_what_and_where(gauge: FaultGauge, clock: Clock) -> None:
    run = gauge.run("mixed", PODS)
    cluster = Fault(1, "kill_cluster", "sales", "cluster c2", 2.0, clusters=("c2",))
    gateway = Fault(2, "restart_gateway", "sales", "all", 3.0)
    for fault, pods in ((cluster, ("sales-c2-n1",)), (gateway, ())):
        run.started(fault, lasting=False)
        _inject(fault, clock, pods)
    assert sorted((labels for labels, _ in gauge.series()), key=lambda labels: labels["step"]) == [
        {"experiment": "mixed", "step": "1", "action": "kill_cluster", "engine": "sales", "cluster": "c2",
         "node": "n1", "pod": "sales-c2-n1"},
        {"experiment": "mixed", "step": "2", "action": "restart_gateway", "engine": "sales", "cluster": "",
         "node": "", "pod": ""},
    ]
    assert all(tuple(labels) == CHAOS_FAULT_ACTIVE.labels for labels, _ in gauge.series())


def test_served_on_loopback_and_announced_in_file_sd_until_closed(gauge: FaultGauge, clock: Clock,
                                                                 tmp_path: Path) -> None:
    dead = tmp_path / "chaos-999999999-1.json"  # a run that was SIGKILLed: no process has this PID
    dead.write_text("[]")
    exporter = FaultExporter(gauge)
    try:
        path = exporter.register(tmp_path)
        address = exporter.address
        assert address is not None and address.startswith("127.0.0.1:")
        assert path.name == f"chaos-{os.getpid()}-{address.rsplit(':', 1)[1]}.json"
        assert json.loads(path.read_text()) == [{"targets": [address], "labels": {}}]
        assert not dead.exists()
        run = gauge.run("served", PODS)
        fault = Fault(0, "pause_pod", "sales", "one", 1.0)
        run.started(fault, lasting=True)
        _inject(fault, clock)
        body = httpx.get(f"http://{address}/metrics", timeout=5).text
        assert ('chaos_fault_active{action="pause_pod",cluster="c1",engine="sales",experiment="served",'
                'node="n1",pod="sales-c1-n1",step="0"} 1.0') in body
    finally:
        exporter.close()
    assert not path.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{address}/metrics", timeout=2)


def test_the_stack_prometheus_has_a_chaos_job_the_runner_finds(tmp_path: Path) -> None:
    config = yaml.safe_load(render_config(tmp_path))
    assert chaos_job(config) == (tmp_path.resolve() / CHAOS_SD_DIR, 1.0)
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] != "chaos"]
    assert chaos_job(config) is None


@pytest.mark.parametrize("model", dashboards.models(), ids=lambda m: m["uid"])
def test_every_dashboard_annotates_the_chaos_faults(model: dict) -> None:
    [annotation] = model["annotations"]["list"]
    assert annotation["datasource"] == DATASOURCE and annotation["enable"]
    assert annotation["target"]["expr"] == annotation["expr"] == chaos_expr()
    assert "{{action}}" in annotation["titleFormat"] and "{{pod}}" in annotation["titleFormat"]
