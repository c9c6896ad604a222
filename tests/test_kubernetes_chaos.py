"""The Kubernetes chaos backend: exec kills, graceful deletes and PDB-honouring evictions, each verified.

Not a live cluster: tests/kubernetes_fake.py stands in for the API server (and for what the kubelet
and the StatefulSet controller do after a call, or fail to do when a test says so). The chaos actions
themselves are the same code that runs on the local platform (chaos.activity).
"""

from __future__ import annotations

import httpx
import pytest

from chaos.activity import Context, run_step
from chaos.backend import BackendError, ChaosBackend, Unsupported
from chaos.backends import KubernetesBackend
from chaos.experiment import BlastRadius, Step, Target
from engines.kubernetes import read_pod
from engines.orchestrator import DEFAULT_FLEET, load_fleet
from enginewatch.kubernetes.manifests import Options, engines, termination_grace_s
from tests.kubernetes_fake import NAMESPACE, Behaviour, FakeCluster


def _node_status(request: httpx.Request) -> httpx.Response:
    # The nodes' own /status, as a node answers it: idle and running (or draining once signaled).
    return httpx.Response(200, json={"state": "DRAINING", "running": 0, "queued": 0})


def make(behaviour: Behaviour | None = None, **kw: object) -> tuple[FakeCluster, KubernetesBackend, list[float]]:
    cluster = FakeCluster(behaviour)
    for sts in (o for o in engines(load_fleet(DEFAULT_FLEET), Options()) if o["kind"] == "StatefulSet"):
        cluster.add_statefulset(sts)
    slept: list[float] = []
    backend = KubernetesBackend(cluster.core, cluster.apps, NAMESPACE, refresh_s=0,
                                http=httpx.Client(transport=httpx.MockTransport(_node_status)),
                                sleep=slept.append, **kw)  # type: ignore[arg-type]
    return cluster, backend, slept


def ctx(backend: KubernetesBackend) -> Context:
    return Context(backend, BlastRadius(max_pods=2, min_ready_nodes_per_engine=1))  # type: ignore[arg-type]


def test_it_is_a_chaos_backend_reading_pods_and_engines() -> None:
    _, backend, _ = make()
    assert isinstance(backend, ChaosBackend)
    pods = {p.pod: p for p in backend.pods()}
    assert len(pods) == 8 and all(p.ready and p.pid for p in pods.values())
    assert {e.name: e.active_clusters for e in backend.engines()} == {"analytics": ("c1", "c2"),
                                                                     "sales": ("c1", "c2")}


def test_kill_pod_goes_through_exec_and_is_verified_by_the_restart_count() -> None:
    cluster, backend, _ = make()
    fault = run_step(ctx(backend), Step(0, 0.0, "kill_pod", Target("sales", "one")))
    assert fault.injected, fault.error
    (pod,) = fault.pods
    assert fault.evidence == [f"{pod}: pid {fault.pids[pod]} gone, exit status 137"]
    call = cluster.calls.exec[0]
    assert call["pod"] == pod and call["container"] == "node" and call["command"][:2] == ["python", "-c"]
    assert call["command"][-1] == "KILL" and call["tty"] is False
    assert cluster.pods[pod].status.container_statuses[0].restart_count == 1
    signaled = next(e for e in backend.events(0) if e["kind"] == "pod_signaled")
    assert signaled["via"] == "exec" and signaled["container_pid"] == 7


def test_a_kill_after_which_nothing_restarts_is_not_injected() -> None:
    _, backend, _ = make(Behaviour(exec_effect="none"))
    fault = run_step(ctx(backend), Step(0, 0.0, "kill_pod", Target("sales", "one")))
    assert not fault.injected
    assert fault.error == "SIGKILL sent but the process did not end"
    assert fault.evidence[0].endswith("still running")


def test_a_node_that_is_pid_1_is_named_as_the_reason() -> None:
    _, backend, _ = make(Behaviour(exec_effect="none", exec_pid=1))
    backend.signal("sales-c1-1", "KILL")
    note = next(e for e in backend.events(0) if e["kind"] == "pod_signaled")["note"]
    assert "PID 1 of its PID namespace" in note


def test_exec_that_finds_no_node_process_is_a_refusal() -> None:
    _, backend, _ = make(Behaviour(exec_output="enginewatch-signal none: no engines.node process in this container\n"))
    with pytest.raises(BackendError, match="did not signal the node: enginewatch-signal none"):
        backend.signal("sales-c1-1", "TERM")
    with pytest.raises(BackendError, match="signal 'HUP' is not one of"):
        backend.signal("sales-c1-1", "HUP")
    with pytest.raises(BackendError, match="unknown pod 'nope'"):
        backend.signal("nope", "KILL")


def test_terminate_pod_is_verified_by_the_node_draining() -> None:
    _, backend, _ = make()
    fault = run_step(ctx(backend), Step(0, 0.0, "terminate_pod", Target("analytics", "one")))
    assert fault.injected, fault.error
    assert fault.evidence[0].endswith("draining after SIGTERM")


def test_pause_pod_reads_the_stopped_state_from_proc_and_resumes() -> None:
    cluster, backend, _ = make()
    context = ctx(backend)
    fault = run_step(context, Step(0, 0.0, "pause_pod", Target("sales", "one"), duration_s=30))
    assert fault.injected, fault.error
    (pod,) = fault.pods
    assert pod in cluster.stopped
    context.stop.set()  # as at the end of an experiment: the rollback's undo resumes the same process
    results = [undo() for _, undo in reversed(context.undo)]
    assert pod not in cluster.stopped and results[0].startswith(f"{pod}: pid {fault.pids[pod]} resumed")


def test_eviction_retries_429_with_backoff_then_is_verified_by_a_new_uid() -> None:
    cluster, backend, slept = make(Behaviour(pdb_refusals=2), evict_backoff_s=1.0)
    before = cluster.pods["sales-c2-1"].metadata.uid
    d = backend.evict_pod("sales-c2-1")
    assert d.injected and d.attempts == 3 and slept[:2] == [1.0, 2.0]
    assert d.old_uid == before and d.new_uid == cluster.pods["sales-c2-1"].metadata.uid != before
    body = cluster.calls.evictions[-1]
    assert body.delete_options.preconditions.uid == before  # exactly the pod chosen
    kinds = [e["kind"] for e in backend.events(0) if e.get("pod") == "sales-c2-1"]
    assert kinds[kinds.index("drain_started"):] == ["drain_started", "pod_exited", "pod_started", "pod_ready",
                                                    "drain_finished"]


def test_retry_after_from_the_api_sets_the_wait() -> None:
    _, backend, slept = make(Behaviour(pdb_refusals=1, retry_after="3"))
    assert backend.evict_pod("sales-c1-2").injected
    assert slept[0] == 3.0


def test_an_eviction_the_pdb_never_allows_is_reported_blocked_by_pdb() -> None:
    cluster, backend, slept = make(Behaviour(pdb_refusals=-1), evict_attempts=4, evict_backoff_s=1.0,
                                   evict_backoff_max_s=3.0)
    uid = cluster.pods["sales-c1-1"].metadata.uid
    d = backend.evict_pod("sales-c1-1")
    assert not d.injected and d.blocked_by_pdb and d.attempts == 4
    assert "would violate the pod's disruption budget" in d.error  # type: ignore[operator]
    assert slept == [1.0, 2.0, 3.0]  # capped
    assert cluster.pods["sales-c1-1"].metadata.uid == uid
    with pytest.raises(BackendError, match="blocked by PDB"):
        backend.drain_node("sales-c1-1")
    fault = run_step(ctx(backend), Step(0, 0.0, "drain_engine", Target("sales", "one")))
    assert not fault.injected and "blocked by PDB" in (fault.error or "")


def test_drain_engine_evicts_and_sees_each_pod_replaced() -> None:
    _, backend, _ = make()
    fault = run_step(ctx(backend), Step(0, 0.0, "drain_engine", Target("analytics", "all")))
    assert fault.injected, fault.error
    assert len(fault.pods) == 4 and all(op["outcome"] == "success" and op["method"] == "evict"
                                        for op in fault.detail["operations"])


def test_delete_with_grace_uses_the_uid_precondition_and_is_verified() -> None:
    cluster, backend, _ = make()
    uid = cluster.pods["sales-c1-1"].metadata.uid
    d = backend.delete_pod("sales-c1-1", grace_s=5)
    call = cluster.calls.deletes[-1]
    assert call["grace_period_seconds"] == 5 and call["body"].grace_period_seconds == 5
    assert call["body"].preconditions.uid == uid
    assert d.injected and d.new_uid != uid
    d = backend.delete_pod("sales-c1-2")  # the pod's own grace: preStop + drain + slack
    assert cluster.calls.deletes[-1]["grace_period_seconds"] is None
    assert d.evidence[0] == f"sales-c1-2: deleted with grace {termination_grace_s(load_fleet(DEFAULT_FLEET))}s"


def test_a_delete_the_pod_survives_is_not_injected() -> None:
    cluster, backend, _ = make(Behaviour(delete_effect="stuck"), replace_slack_s=0)
    d = backend.delete_pod("analytics-c2-1", grace_s=0)
    assert not d.injected
    assert d.error == "delete accepted but the pod was not replaced within 0s (still there, terminating)"
    assert read_pod(cluster.pods["analytics-c2-1"]).terminating


def test_a_pod_replaced_before_the_eviction_is_not_disrupted_twice() -> None:
    cluster, backend, _ = make()
    backend.pods()
    original = backend.state.refresh

    def refresh_then_replace() -> None:
        original()
        cluster.replace_pod("sales-c2-2")  # the controller was faster than us

    backend.state.refresh = refresh_then_replace  # type: ignore[method-assign]
    d = backend.evict_pod("sales-c2-2")
    assert not d.injected and "no longer uid" in (d.error or "")


def test_failover_switches_the_active_label_of_the_statefulsets() -> None:
    cluster, backend, _ = make()
    result = backend.failover("sales", ["c2"])
    assert result["outcome"] == "success" and result["previous"] == ["c1", "c2"]
    assert {name: body["metadata"]["labels"]["enginewatch.io/active"] for name, body in cluster.calls.patches} == {
        "sales-c1": "false", "sales-c2": "true"}
    assert next(e for e in backend.engines() if e.name == "sales").active_clusters == ("c2",)
    with pytest.raises(BackendError, match="cannot route to"):
        backend.failover("sales", ["c9"])
    with pytest.raises(BackendError, match="unknown engine"):
        backend.failover("nope", ["c1"])


@pytest.mark.parametrize("call", [
    lambda b: b.upgrade("sales", "v2"), lambda b: b.restart_gateway(), lambda b: b.throttle_cpu("sales-c1-1", 0.1),
    lambda b: b.limit_memory("sales-c1-1", 1 << 20), lambda b: b.partition("sales-c1-1"),
    lambda b: b.partition("sales-c1-1", probability=0.1), lambda b: b.slow_storage("sales-c1-1", 0.1),
    lambda b: b.noisy_neighbor("sales-c1-1", "cpu", 1, 0, 1.0, 5.0),
])
def test_what_the_api_cannot_do_is_unsupported_with_the_reason(call) -> None:  # noqa: ANN001
    _, backend, _ = make()
    with pytest.raises(Unsupported) as e:
        call(backend)
    assert len(str(e.value)) > 30


def test_a_gray_fault_step_is_reported_not_injected_with_the_reason() -> None:
    _, backend, _ = make()
    fault = run_step(ctx(backend), Step(0, 0.0, "throttle_cpu", Target("sales", "one"), duration_s=5, cpus=0.1))
    assert not fault.injected and "throttle_cpu on Kubernetes" in (fault.error or "")
