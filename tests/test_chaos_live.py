"""Experiments end to end on a small stack of our own: platform operations (upgrade, rolling drain,
gateway restart, sustained kills) and the cases whose verdict must fail — a node started with draining
disabled, and a fault the platform refuses to inject."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from chaos.activity import Context, run_step
from chaos.backend import PodInfo
from chaos.backends import LocalBackend
from chaos.experiment import BlastRadius, Step, Target, parse_experiment
from chaos.rollback import run_rollbacks
from chaos.run import Platform, run_experiment
from enginewatch.stack import Stack, StackOptions
from foundation.process import wait_until

pytestmark = pytest.mark.timeout(180)

FLEET = """
engines:
  - {name: alpha, type: S, nodes_per_cluster: 1, clusters: 2, min_clusters: 1, max_clusters: 4, version: v1}
  - {name: nodrain, type: S, nodes_per_cluster: 1, clusters: 2, version: v1, drain: false}
grace_period_s: 5
drain_slack_s: 2
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    d = tmp_path_factory.mktemp("chaos-small")
    (d / "fleet.yaml").write_text(FLEET)
    with Stack(StackOptions(fleet=d / "fleet.yaml", state_dir=d / "state", write_run_state=False)) as s:
        yield s


@pytest.fixture
def backend(small: Stack) -> Iterator[LocalBackend]:
    b = LocalBackend.from_stack(small)
    _all_ready(b)
    yield b
    _all_ready(b)


def _all_ready(b: LocalBackend) -> None:
    wait_until(lambda: all(e.ready_nodes == e.desired_nodes and e.state == "RUNNING" for e in b.engines()), 60,
               what="every pod ready")


def _platform(small: Stack, backend: LocalBackend | None = None) -> Platform:
    return Platform(backend or LocalBackend.from_stack(small), small.gateway_url, small.prometheus_url, None,
                    small.fleet.grace_period_s)


def _experiment(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "live", "load": {"qps": 20, "duration_s": 6, "engines": ["alpha"], "kinds": ["aggregate", "join"],
                                 "deadline_s": 10},
        "method": [], "hypothesis": {"lost_queries": {"max": 0}},
        "rollbacks": [{"action": "wait_ready", "timeout_s": 60}],
        "blast_radius": {"max_pods": 2, "min_ready_nodes_per_engine": 1},
    }
    base.update(copy.deepcopy(overrides))
    return base


def test_blue_green_upgrade_is_verified_and_rolled_back(backend: LocalBackend) -> None:
    ctx = Context(backend, BlastRadius(2, 1))
    before = {e.name: e for e in backend.engines()}
    old_pids = {p.pid for p in backend.pods() if p.engine == "alpha"}
    fault = run_step(ctx, Step(0, 0.0, "blue_green_upgrade", Target("alpha", "all"), version="v2"))
    assert fault.injected, fault.error
    alpha = next(e for e in backend.engines() if e.name == "alpha")
    assert alpha.version == "v2" and not set(alpha.active_clusters) & {"c1", "c2"}
    assert all(backend.process_status(pid) is None for pid in old_pids if pid)
    again = run_step(ctx, Step(1, 0.0, "blue_green_upgrade", Target("alpha", "all"), version="v2"))
    assert not again.injected and "already runs v2" in (again.error or "")
    from chaos.experiment import Rollback

    results = run_rollbacks(ctx, (Rollback("rollback_upgrade"),), before, ("alpha",))
    assert results[0].ok and "v2 -> v1" in results[0].detail
    assert next(e for e in backend.engines() if e.name == "alpha").version == "v1"


def test_drain_engine_drains_every_pod_in_turn(backend: LocalBackend) -> None:
    seq = backend.last_event_seq()
    fault = run_step(Context(backend, BlastRadius(2, 1)), Step(0, 0.0, "drain_engine", Target("alpha", "all")))
    assert fault.injected, fault.error
    finished = [e for e in backend.events(seq) if e["kind"] == "drain_finished"]
    assert {e["pod"] for e in finished} == set(fault.pods) and len(fault.pods) == 2
    assert all(e["exit_code"] == 0 for e in finished)
    # Rolling: the second drain starts after the first one's replacement is ready.
    starts = [e["ts"] for e in backend.events(seq) if e["kind"] == "drain_started"]
    readies = [e["ts"] for e in backend.events(seq) if e["kind"] == "pod_ready"]
    assert readies and min(readies) < max(starts)


def test_kill_cluster_sustained_keeps_the_pods_down(backend: LocalBackend) -> None:
    ctx = Context(backend, BlastRadius(2, 0, allow_engine_outage=True))
    fault = run_step(ctx, Step(0, 0.0, "kill_cluster", Target("alpha", "all"), duration_s=2.5))
    assert fault.injected, fault.error
    assert fault.clusters == ("c1", "c2") or len(fault.clusters) == 2
    wait_until(lambda: fault.lifted_ts is not None, 10, what="the sustained kill to end")
    results = run_rollbacks(ctx, (), {}, ("alpha",))
    assert results[0].ok and "re-kill" in results[0].detail
    assert len(fault.detail["rekills"]) >= 1  # the orchestrator restarted them, and they went down again


def test_restart_gateway_replaces_the_process_on_the_same_url(small: Stack, backend: LocalBackend) -> None:
    old = small.gateway.pid  # type: ignore[union-attr]
    fault = run_step(Context(backend, BlastRadius(1, 1)), Step(0, 0.0, "restart_gateway", Target("alpha", "all")))
    assert fault.injected, fault.error
    assert fault.detail["old_pid"] == old and fault.detail["new_pid"] != old
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    assert httpx.get(f"{small.gateway_url}/healthz", timeout=5).status_code == 200


def test_drain_verdict_fails_against_a_node_started_with_draining_disabled(small: Stack, tmp_path: Path) -> None:
    exp = parse_experiment(_experiment(
        name="terminate-nodrain",
        load={"qps": 20, "duration_s": 7, "engines": ["nodrain"], "kinds": ["aggregate", "join"], "deadline_s": 10},
        method=[{"at_s": 2, "action": "terminate_pod",
                 "target": {"engine": "nodrain", "mode": "one", "busy": {"min_in_flight": 1, "wait_s": 3}}}],
        hypothesis={"lost_queries": {"max": 0}, "drain": {"failed_in_flight": 0, "exit_code": 0}}))
    journal = run_experiment(exp, _platform(small), tmp_path)
    assert journal.faults[0].injected  # SIGTERM landed: the node died at once instead of draining
    drain = next(v for v in journal.verdicts if v.kind == "drain")
    assert drain.figures["exit_code"] == -15
    assert not drain.passed and "exit_code" in {c.name for c in drain.failed}
    assert journal.status == "failed"
    assert any("exit_code = -15" in r for r in journal.reasons())


class _ForeignPodBackend(LocalBackend):
    """Lists one extra pod whose process the orchestrator did not start: it must refuse to signal it."""

    def __init__(self, base: LocalBackend, pid: int) -> None:
        super().__init__(base.orchestrator, base.stack)
        self.foreign = PodInfo("alpha-c9-n1", "alpha", "c9", "n1", "v1", "READY", True, pid, None)

    def pods(self) -> list[PodInfo]:
        return [*super().pods(), self.foreign]


def test_a_kill_the_platform_refuses_fails_the_experiment(small: Stack, backend: LocalBackend,
                                                          tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        foreign = _ForeignPodBackend(backend, bystander.pid)
        exp = parse_experiment(_experiment(
            name="kill-foreign",
            method=[{"at_s": 1, "action": "kill_pod", "target": {"engine": "alpha", "mode": "one",
                                                                    "pod": "alpha-c9-n1"}}],
            hypothesis={"lost_queries": {"max": 0}, "failover": {"client_failures": 0}}))
        journal = run_experiment(exp, _platform(small, foreign), tmp_path)
        assert bystander.poll() is None  # never signaled: the orchestrator does not own it
        fault = journal.faults[0]
        assert not fault.injected and "alpha-c9-n1" in (fault.error or "")
        assert journal.status == "failed"
        assert any("fault not injected" in r for r in journal.reasons())
        # The run stopped at once and still rolled back.
        assert journal.load_t1 - journal.load_t0 < exp.load.duration_s
        assert [r.action for r in journal.rollbacks] == ["wait_ready"] and journal.rollbacks[0].ok
    finally:
        bystander.kill()
        bystander.wait()


def test_abort_condition_stops_the_experiment_and_rolls_back(small: Stack, tmp_path: Path) -> None:
    exp = parse_experiment(_experiment(
        name="abort-on-outage",
        load={"qps": 20, "duration_s": 15, "engines": ["alpha"], "kinds": ["aggregate"], "deadline_s": 3},
        method=[{"at_s": 1, "action": "kill_cluster", "duration_s": 10, "target": {"engine": "alpha", "mode": "all"}}],
        abort={"check_every_s": 0.2, "conditions": [{"error_ratio": {"above": 0.3, "window_s": 2, "min_queries": 5}}]},
        blast_radius={"max_pods": 2, "min_ready_nodes_per_engine": 1, "allow_engine_outage": True}))
    journal = run_experiment(exp, _platform(small), tmp_path)
    assert journal.status == "aborted"
    assert journal.aborts and journal.aborts[0].startswith("client error ratio over 2s > 0.3")
    assert journal.load_t1 - journal.load_t0 < 8  # stopped well before its 15 s
    assert journal.rollbacks[0].action.startswith("stop sustained kill") and journal.rollbacks[0].ok
    assert all(r.ok for r in journal.rollbacks)
