"""A gray failure is detected on the live platform: one node's process throttled to 5% of a CPU under load.

The test puts the pod's PID in a CPU cgroup of its own (``enginewatch-test-<pid>``, next to the
process's group; removed at the end, the process moved back first), with a 5% quota — what a too-low
Kubernetes CPU limit does. The node keeps answering, slowly, and the gateway routes around it, so no
query needs to fail: the platform must still say which pod is slow and why. Within 60 s of the quota
the session stack's Prometheus must fire EngineNodeLatencyOutlier for that pod, the node's own
``engine_cpu_throttled_seconds_total`` must rise, and the runbook's diagnosis must name the cause.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts import platform as pl
from chaos.kernel import KernelError, cgroups
from exporters import contract as c
from foundation.orchestrator import OrchestratorClient
from loadgen.load import LoadGenerator, LoadSpec
from runbooks.diagnosis import Scope, diagnose
from runbooks.playbooks import get

pytestmark = pytest.mark.timeout(300)
QUOTA_CPUS = 0.05
FIRE_WITHIN_S = 60.0
RESOLVE_WITHIN_S = 150.0
ALERT = pl.ENGINE_NODE_LATENCY_OUTLIER


def all_ready(stack: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(e.state == "RUNNING" and e.ready_nodes == e.desired_nodes for e in stack.orchestrator.snapshot()):
        assert time.monotonic() < deadline, "the platform did not recover: not every pod is ready"
        time.sleep(0.2)


def throttled_seconds(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).raise_for_status().text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == c.CPU_THROTTLED.name:
                return float(s.value)
    raise AssertionError(f"{url}/metrics has no {c.CPU_THROTTLED.name}")


def quota_group(pid: int) -> cgroups.Cgroup:
    """A CPU group of the test's own beside the process's group, not under the project's directory:
    `enginewatch chaos cleanup` run by anything else meanwhile must not remove it under the test."""
    h = cgroups.hierarchy("cpu")
    home = h.mount / cgroups.process_cgroup(pid, h).lstrip("/")
    name = f"enginewatch-test-{pid}"
    if h.version == 1:
        return cgroups.CgroupV1(h, home / name, home=home)
    return cgroups.CgroupV2(h, h.mount / name, home=home)


@contextlib.contextmanager
def throttled(pid: int) -> Iterator[cgroups.Cgroup]:
    try:
        group = quota_group(pid)
        group.create()
    except KernelError as e:  # KernelUnavailable: not root, or no CPU controller on this machine
        pytest.skip(f"cannot make a CPU cgroup here: {e}")
    try:
        group.limit_cpu(QUOTA_CPUS)
        group.add(pid)
        yield group
    finally:
        group.remove()  # moves the process back to its own group first


@contextlib.contextmanager
def load(stack: Any, engine: str) -> Iterator[LoadGenerator]:
    spec = LoadSpec(qps=20, duration_s=150, engines=(engine,), kinds=("lookup", "aggregate", "join"),
                    max_queries=3000, deadline_s=10)
    generator = LoadGenerator(stack.gateway_url, spec)
    thread = threading.Thread(target=generator.run, name="gray-load", daemon=True)
    thread.start()
    try:
        yield generator
    finally:
        generator.stop()
        thread.join(timeout=spec.drain_timeout_s + 5)


def firing_for(prom: Any, pod: str) -> Any | None:
    return next((a for a in prom.alerts() if a.name == ALERT and a.state == "firing" and a.labels.get("pod") == pod),
                None)


def test_a_node_throttled_to_5_percent_is_named_by_the_latency_outlier_alert_and_its_runbook(stack: Any) -> None:
    all_ready(stack)
    victim = sorted((p for p in stack.orchestrator.engine("sales").pods if p.ready), key=lambda p: p.pod)[0]
    pid, url = stack.orchestrator.pod(victim.pod).pid, victim.url
    assert pid and url
    with stack.prom() as prom, OrchestratorClient(stack.orchestrator.url) as orch:
        assert firing_for(prom, victim.pod) is None, "the alert fires before the fault"
        with load(stack, "sales"):
            time.sleep(3)  # steady state: traffic on every node before the fault
            before = throttled_seconds(url)
            with throttled(pid) as group:
                started = time.monotonic()
                alert = None
                while alert is None and time.monotonic() - started < FIRE_WITHIN_S:
                    time.sleep(0.5)
                    alert = firing_for(prom, victim.pod)
                elapsed = time.monotonic() - started
                assert alert is not None, f"{ALERT} did not fire for {victim.pod} within {FIRE_WITHIN_S:g}s"
                print(f"{ALERT} fired for {victim.pod} {elapsed:.1f}s after its {QUOTA_CPUS:.0%} CPU quota")
                assert alert.labels["engine"] == "sales" and alert.labels["cluster"] == victim.cluster
                assert alert.labels["node"] == victim.node
                assert pid in group.procs(), "the pod's process left the throttled group: restarted?"
                assert throttled_seconds(url) > before + 1.0, "the node's throttled seconds did not rise"
                book = get(ALERT)
                assert book is not None
                d = diagnose(book, Scope(engine="sales"), prom, orch)
                named = [f for f in d.problems if f.pod == victim.pod and "is CPU throttled" in f.text]
                assert named, d.text()
                assert any(m.command.endswith(victim.pod) for m in d.mitigations), d.mitigations
        # Quota lifted (the process is back in its own group) and load stopped: the alert must resolve,
        # and the session's later tests find a quiet platform.
        deadline = time.monotonic() + RESOLVE_WITHIN_S
        while firing_for(prom, victim.pod) is not None:
            assert time.monotonic() < deadline, f"{ALERT} still fires {RESOLVE_WITHIN_S:g}s after the quota was lifted"
            time.sleep(1)
    all_ready(stack)
