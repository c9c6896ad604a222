"""Every runbook's diagnosis against the live platform, and the conditions they must name once induced:
a node killed (SIGKILL), a node hung (SIGSTOP), query slots saturated (a burst of heavy scans).

A module-scoped Prometheus with the platform rules (local profile) scrapes the session's stack through
the same file_sd directory, so induced faults also show up as pending or firing alerts. Every fault is
undone and the test waits until every pod is ready again.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from alerts import platform as pl
from enginewatch.cli import app
from enginewatch.prometheus import PrometheusServer
from exporters import contract as c
from foundation.gateway import GatewayAdminClient
from foundation.loki import LokiClient
from foundation.orchestrator import OrchestratorClient
from foundation.prometheus import PrometheusClient
from runbooks.diagnosis import Diagnosis, Scope, diagnose
from runbooks.playbooks import get, known_alerts

pytestmark = pytest.mark.timeout(120)
HEAVY_SCAN = "SELECT sum(l_extendedprice * r) FROM lineitem, range(1, 200) t(r)"
BURST = 10  # > the 8 query slots of analytics (type S: 2 slots x 2 nodes x 2 clusters)



@dataclass(frozen=True)
class Sources:
    """What on-call's diagnoses read: the orchestrator, the stack's log store (pods' error lines) and the
    gateway's admin API (running queries)."""

    orch: OrchestratorClient
    loki: LokiClient
    gateway: GatewayAdminClient

@pytest.fixture(scope="module")
def prom(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusClient]:
    server = PrometheusServer(
        tmp_path_factory.mktemp("runbooks-prometheus"), stack.orchestrator.file_sd_path.parent.parent,
        targets={c.JOB_GATEWAY: stack.gateway_url, c.JOB_ORCHESTRATOR: stack.orchestrator.url},
        rule_files=[pl.RULE_FILES["local"]])
    with server:
        client = PrometheusClient(server.url)
        client.wait_for(f'count(up{{job="{c.JOB_NODE}"}} == 1) >= 8 and on() count(up == 1) >= 10',
                        lambda s: bool(s), timeout=30)
        yield client
        client.close()


@pytest.fixture(scope="module")
def src(stack: Any) -> Iterator[Sources]:
    with (OrchestratorClient(stack.orchestrator.url) as orch, LokiClient(stack.loki_url) as loki,
          GatewayAdminClient(stack.gateway_url, stack.admin_token) as gateway):
        yield Sources(orch, loki, gateway)


def run(alert: str, prom: PrometheusClient, src: Sources, engine: str | None = None) -> Diagnosis:
    book = get(alert)
    assert book is not None
    return diagnose(book, Scope(engine=engine), prom, src.orch, loki=src.loki, gateway=src.gateway)


def wait_for_diagnosis(alert: str, engine: str, prom: PrometheusClient, src: Sources,
                       named: Callable[[Diagnosis], bool], timeout: float) -> Diagnosis:
    deadline = time.monotonic() + timeout
    while True:
        d = run(alert, prom, src, engine)
        if named(d) or time.monotonic() > deadline:
            return d
        time.sleep(0.5)


def all_ready(stack: Any, timeout: float = 60.0) -> None:
    def ready() -> bool:
        engines = stack.orchestrator.snapshot()
        return all(e.state == "RUNNING" and e.ready_nodes == e.desired_nodes for e in engines)

    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "the platform did not recover: not every pod is ready"
        time.sleep(0.2)


def a_ready_pod(stack: Any, engine: str) -> Any:
    """A ready pod of the engine's last cluster: names may differ after other tests drained or upgraded."""
    pods = [p for p in stack.orchestrator.engine(engine).pods if p.ready]
    assert pods, f"no ready pod of {engine}"
    return sorted(pods, key=lambda p: (p.cluster, p.pod))[-1]


def alert_states(prom: PrometheusClient, alert: str, **labels: str) -> set[str]:
    return {a.state for a in prom.alerts()
            if a.name == alert and all(a.labels.get(k) == v for k, v in labels.items())}


@pytest.mark.parametrize("alert", known_alerts())
def test_every_diagnosis_runs_against_the_live_platform(alert: str, stack: Any, prom: PrometheusClient,
                                                        src: Sources) -> None:
    all_ready(stack)
    d = run(alert, prom, src, "sales")
    assert d.complete, [(r.title, r.status, r.error) for r in d.checks]
    assert {f.check for f in d.findings} == {r.title for r in d.checks}, "every step says something"
    assert all(m.command.startswith("enginewatch ") for m in d.mitigations)


def test_the_command_finds_the_running_stack_and_prints_json(stack: Any) -> None:
    all_ready(stack)
    result = CliRunner().invoke(app, ["runbook", pl.ENGINE_NODE_DOWN, "--engine", "sales", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["complete"] and report["scope"]["engine"] == "sales"
    assert any("engine sales is RUNNING" in f["text"] for f in report["findings"])


def test_a_killed_node_is_named(stack: Any, prom: PrometheusClient, src: Sources) -> None:
    all_ready(stack)
    pod = a_ready_pod(stack, "analytics").pod
    stack.orchestrator.signal_pod(pod, "KILL")
    try:
        # Earlier tests of the session may have restarted it too: "once" or "N times".
        named = re.compile(rf"pod {pod} restarted (once|\d+ times) in 10 min, last reason: killed")
        d = wait_for_diagnosis(pl.ENGINE_NODE_DOWN, "analytics", prom, src, lambda d: bool(named.search(d.text())), 15)
        assert named.search(d.text()), d.text()
        assert any(m.command == f"enginewatch engine restart-pod {pod}" for m in d.mitigations), d.mitigations
        crash = run(pl.ENGINE_POD_CRASH_LOOPING, prom, src, "analytics")
        assert any(f.pod == pod and "killed" in f.text for f in crash.problems), crash.text()
    finally:
        all_ready(stack)


def test_a_hung_node_is_named(stack: Any, prom: PrometheusClient, src: Sources) -> None:
    all_ready(stack)
    victim = a_ready_pod(stack, "sales")
    pod, cluster = victim.pod, victim.cluster
    desired = stack.orchestrator.engine("sales").cluster(cluster).desired_nodes
    stack.orchestrator.signal_pod(pod, "STOP")
    try:
        # The orchestrator's liveness probe kills a hung pod after ~5 s: diagnose before that.
        d = wait_for_diagnosis(pl.ENGINE_NODE_DOWN, "sales", prom, src,
                               lambda d: f"pod {pod}" in d.text() and "hung" in d.text()
                               and f"cluster {cluster} of sales: {desired - 1} of {desired}" in d.text(), 5)
        text = d.text()
        assert f"pod {pod} has failed its readiness probe (timeout)" in text and "hung" in text, text
        assert f"cluster {cluster} of sales: {desired - 1} of {desired} nodes ready" in text, text
        deadline = time.monotonic() + 5
        while not alert_states(prom, pl.ENGINE_NODE_DOWN, pod=pod) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert alert_states(prom, pl.ENGINE_NODE_DOWN, pod=pod) & {"pending", "firing"}
    finally:
        _cont(stack, pod)
        all_ready(stack)


def _cont(stack: Any, pod: str) -> None:
    # Already restarted by its liveness probe? Then there is nothing left to resume.
    with contextlib.suppress(Exception):
        stack.orchestrator.signal_pod(pod, "CONT")


def test_saturated_query_slots_are_named(stack: Any, prom: PrometheusClient, src: Sources) -> None:
    all_ready(stack)
    analytics = stack.orchestrator.engine("analytics")
    assert len(analytics.pods) * 2 < BURST, "the burst must exceed the engine's query slots (2 per S node)"
    one_more = min(analytics.desired_clusters + 1, analytics.max_clusters)

    def scan(_: int) -> int:
        body = {"engine": "analytics", "sql": HEAVY_SCAN, "kind": "scan"}
        return httpx.post(f"{stack.gateway_url}/query", json=body, timeout=60).status_code

    states: set[str] = set()
    with ThreadPoolExecutor(BURST) as pool:
        futures = [pool.submit(scan, i) for i in range(BURST)]
        d = wait_for_diagnosis(pl.ENGINE_QUERY_SLOTS_SATURATED, "analytics", prom, src,
                               lambda d: any("saturated" in f.text for f in d.problems), 15)
        # Rules evaluate every second, apart from our queries: watch the alert while the burst lasts.
        while not all(f.done() for f in futures) and not states:
            states |= alert_states(prom, pl.ENGINE_QUERY_SLOTS_SATURATED, engine="analytics")
            time.sleep(0.25)
        statuses = [f.result(timeout=60) for f in futures]
    assert any("query slots busy" in f.text and "saturated" in f.text for f in d.problems), d.text()
    assert any(m.command == f"enginewatch engine scale analytics --clusters {one_more}" for m in d.mitigations)
    assert states & {"pending", "firing"}, "the alert's condition held in Prometheus too"
    assert statuses.count(200) >= BURST // 2, statuses


def test_nothing_is_left_broken(stack: Any) -> None:
    all_ready(stack)
