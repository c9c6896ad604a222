"""The engine-state exporter, from snapshots: every series the contract promises, promtool-clean."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.orchestrator.snapshot import ClusterSnapshot, EngineSnapshot, PodSnapshot
from exporters.contract import (
    ENGINE_ACTIVE_CLUSTERS,
    ENGINE_DESIRED_NODES,
    ENGINE_OPERATION_DURATION,
    ENGINE_POD_DRAINS,
    ENGINE_POD_READY,
    ENGINE_POD_RESTARTS,
    ENGINE_READY_NODES,
    ENGINE_STATE,
    ENGINE_STATES,
    OPERATIONS,
    RESTART_REASONS,
)
from exporters.engine_state import EngineStateExporter
from foundation.promtool import find as find_tool

PROMTOOL = str(find_tool("promtool"))


def _pod(name: str, cluster: str, ready: bool) -> PodSnapshot:
    return PodSnapshot(name, "sales", cluster, name.rsplit("-", 1)[-1], "v1", "S", "READY" if ready else "STARTING",
                       ready, 100, 4000, "http://127.0.0.1:4000", 1, {}, 0.0, None)


SNAPSHOT = [EngineSnapshot(
    "sales", "S", "RESIZING", "v1", 2, 2, 1, 4, ("c1",),
    (ClusterSnapshot("c1", "v1", "RUNNING", 2, (_pod("sales-c1-n1", "c1", True), _pod("sales-c1-n2", "c1", True))),
     ClusterSnapshot("c2", "v1", "STARTING", 2, (_pod("sales-c2-n1", "c2", True), _pod("sales-c2-n2", "c2", False)))),
    "resize", None)]


def _samples(exporter: EngineStateExporter) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = exporter.exposition().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples[(name, frozenset(labels.items()))]


def test_state_gauges_follow_the_snapshot() -> None:
    samples = _samples(EngineStateExporter(lambda: SNAPSHOT))
    for state in ENGINE_STATES:
        assert _value(samples, ENGINE_STATE.name, engine="sales", state=state) == (state == "RESIZING")
    assert _value(samples, ENGINE_READY_NODES.name, engine="sales", cluster="c1") == 2
    assert _value(samples, ENGINE_READY_NODES.name, engine="sales", cluster="c2") == 1
    assert _value(samples, ENGINE_DESIRED_NODES.name, engine="sales", cluster="c2") == 2
    assert _value(samples, ENGINE_ACTIVE_CLUSTERS.name, engine="sales") == 1
    assert _value(samples, ENGINE_POD_READY.name, engine="sales", cluster="c2", pod="sales-c2-n2") == 0


def test_counters_exist_at_zero_before_the_first_event_and_count_after() -> None:
    exporter = EngineStateExporter(lambda: SNAPSHOT)
    exporter.add_engine("sales")
    exporter.add_cluster("sales", "c1")
    exporter.add_pod("sales", "c1", "sales-c1-n1")
    samples = _samples(exporter)
    for reason in RESTART_REASONS:
        assert _value(samples, ENGINE_POD_RESTARTS.name, engine="sales", cluster="c1", pod="sales-c1-n1",
                      reason=reason) == 0
    assert _value(samples, ENGINE_POD_DRAINS.name, engine="sales", cluster="c1", outcome="success") == 0
    for operation in OPERATIONS:
        assert _value(samples, ENGINE_OPERATION_DURATION.count, engine="sales", operation=operation,
                      outcome="failure") == 0

    exporter.count_restart("sales", "c1", "sales-c1-n1", "killed")
    exporter.count_drain("sales", "c1", "success")
    exporter.observe_operation("sales", "upgrade", "success", 3.0)
    samples = _samples(exporter)
    assert _value(samples, ENGINE_POD_RESTARTS.name, engine="sales", cluster="c1", pod="sales-c1-n1",
                  reason="killed") == 1
    assert _value(samples, ENGINE_POD_DRAINS.name, engine="sales", cluster="c1", outcome="success") == 1
    assert _value(samples, ENGINE_OPERATION_DURATION.bucket, engine="sales", operation="upgrade",
                  outcome="success", le="5.0") == 1
    assert _value(samples, ENGINE_OPERATION_DURATION.bucket, engine="sales", operation="upgrade",
                  outcome="success", le="2.0") == 0


def test_label_values_outside_the_contract_are_refused() -> None:
    exporter = EngineStateExporter(lambda: SNAPSHOT)
    with pytest.raises(ValueError, match="restart reason"):
        exporter.count_restart("sales", "c1", "p", "bored")
    with pytest.raises(ValueError, match="operation"):
        exporter.observe_operation("sales", "teleport", "success", 1.0)


def test_exposition_passes_promtool() -> None:
    exporter = EngineStateExporter(lambda: SNAPSHOT)
    exporter.add_engine("sales")
    exporter.add_pod("sales", "c1", "sales-c1-n1")
    exporter.count_restart("sales", "c1", "sales-c1-n1", "crashed")
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=exporter.exposition(), capture_output=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
