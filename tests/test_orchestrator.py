"""The local orchestrator with real pods (engine node processes), real signals and its HTTP API.

One small fleet (1 engine x 2 clusters x 1 node, type S) serves the whole module; tests run in file
order and each leaves the engine RUNNING with every pod ready. Short grace, backoff and probe settings
keep the file well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.orchestrator import (
    Conflict,
    EngineState,
    EventLog,
    IllegalTransition,
    OperationFailed,
    Orchestrator,
    UnknownPod,
    parse_fleet,
)
from engines.orchestrator.lifecycle import check_transition
from engines.storage import default_storage_path, ensure_storage
from exporters.contract import (
    ENGINE_ACTIVE_CLUSTERS,
    ENGINE_OPERATION_DURATION,
    ENGINE_POD_DRAINS,
    ENGINE_POD_RESTARTS,
    ENGINE_READY_NODES,
    ENGINE_STATE,
    ENGINE_STATES,
)
from foundation.process import wait_until
from foundation.promtool import find as find_tool

pytestmark = pytest.mark.timeout(120)

ENGINE = "sales"
PROMTOOL = str(find_tool("promtool"))
FLEET = {
    "engines": [{"name": ENGINE, "type": "S", "nodes_per_cluster": 1, "clusters": 2, "min_clusters": 1,
                 "max_clusters": 3, "version": "v1"}],
    "grace_period_s": 2, "query_timeout_s": 5, "drain_slack_s": 2,
    "restart_backoff": {"initial_s": 0.2, "max_s": 30, "reset_after_s": 30},
    "probes": {"period_s": 0.1, "timeout_s": 0.5, "failure_threshold": 3, "startup_timeout_s": 30},
}


# --- pieces without processes ----------------------------------------------------------------------------


def test_engine_lifecycle_enforces_transitions() -> None:
    check_transition(ENGINE, EngineState.RUNNING, EngineState.RESIZING)
    check_transition(ENGINE, EngineState.RESIZING, EngineState.DRAINING)
    check_transition(ENGINE, EngineState.DRAINING, EngineState.RUNNING)
    check_transition(ENGINE, EngineState.STOPPED, EngineState.STARTING)
    with pytest.raises(IllegalTransition, match="cannot go from STOPPED to RUNNING"):
        check_transition(ENGINE, EngineState.STOPPED, EngineState.RUNNING)
    with pytest.raises(IllegalTransition):
        check_transition(ENGINE, EngineState.STOPPING, EngineState.RUNNING)
    assert tuple(EngineState) == ENGINE_STATES


def test_event_log_since_is_exact() -> None:
    log = EventLog(capacity=3)
    for i in range(5):
        log.append("pod_started", pod=f"p{i}")
    assert [e.seq for e in log.since(0)] == [3, 4, 5]  # capacity keeps the newest
    assert [e.seq for e in log.since(3)] == [4, 5]
    assert log.since(5) == []
    assert log.since(4)[0].to_dict()["pod"] == "p4"
    with pytest.raises(ValueError, match="unknown event kind"):
        log.append("pod_teleported")


# --- the live fleet --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    storage = ensure_storage(default_storage_path())
    o = Orchestrator(parse_fleet(FLEET, "<test>"), tmp_path_factory.mktemp("orchestrator"), storage_dir=storage,
                     admin_token="test-token")
    o.serve()
    try:
        o.start(timeout_s=60)
        yield o
    finally:
        o.stop()


@pytest.fixture(scope="module")
def api(orch: Orchestrator) -> Iterator[httpx.Client]:
    assert orch.url
    with httpx.Client(base_url=orch.url, timeout=60, headers={"Authorization": "Bearer test-token"}) as client:
        yield client


def _metrics(orch: Orchestrator) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{orch.url}/metrics", timeout=5).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _metric(orch: Orchestrator, name: str, **labels: str) -> float:
    return _metrics(orch).get((name, frozenset(labels.items())), 0.0)


def _pods(orch: Orchestrator) -> dict[str, dict]:  # type: ignore[type-arg]
    return {p.pod: p.to_dict() for p in orch.pods()}


def _all_ready(orch: Orchestrator) -> bool:
    engine = orch.engine(ENGINE)
    return engine.state == "RUNNING" and all(p.ready for p in engine.pods) and len(engine.pods) == \
        engine.desired_nodes


def _wait_all_ready(orch: Orchestrator, timeout: float = 30) -> None:
    wait_until(lambda: _all_ready(orch), timeout, what="every pod ready")


def _file_sd(orch: Orchestrator) -> dict[str, dict[str, str]]:
    groups = json.loads(orch.file_sd_path.read_text())
    return {g["labels"]["pod"]: {**g["labels"], "target": g["targets"][0]} for g in groups}


def _topology(orch: Orchestrator) -> dict:  # type: ignore[type-arg]
    return json.loads(orch.topology_path.read_text())


def _new_process(orch: Orchestrator, pod: str, old_pid: int | None, ready: bool = False) -> Callable[[], bool]:
    def check() -> bool:
        now = orch.pod(pod)
        return now.pid not in (None, old_pid) and (now.ready or not ready)

    return check


def test_start_makes_every_pod_ready_and_publishes_discovery(orch: Orchestrator) -> None:
    engine = orch.engine(ENGINE)
    assert engine.state == "RUNNING" and engine.active_clusters == ("c1", "c2")
    assert sorted(p.pod for p in engine.pods) == ["sales-c1-n1", "sales-c2-n1"]
    assert all(p.ready and p.pid and p.url for p in engine.pods)

    sd = _file_sd(orch)
    assert set(sd) == {"sales-c1-n1", "sales-c2-n1"}
    for pod in engine.pods:
        assert sd[pod.pod] == {"engine": ENGINE, "cluster": pod.cluster, "node": pod.node, "pod": pod.pod,
                               "version": "v1", "target": f"127.0.0.1:{pod.port}"}
        assert httpx.get(f"{pod.url}/readyz", timeout=5).status_code == 200

    topo = _topology(orch)
    assert topo["revision"] >= 1
    sales = topo["engines"][ENGINE]
    assert sales["active_clusters"] == ["c1", "c2"] and sales["state"] == "RUNNING"
    assert sales["clusters"]["c1"]["nodes"] == [{"node": "n1", "pod": "sales-c1-n1", "ready": True,
                                                 "state": "RUNNING", "url": orch.pod("sales-c1-n1").url}]

    kinds = [e.kind for e in orch.events()]
    assert kinds.count("pod_started") == 2 and kinds.count("pod_ready") == 2
    assert _metric(orch, ENGINE_OPERATION_DURATION.count, engine=ENGINE, operation="start", outcome="success") == 1


def test_metrics_state_and_promtool(orch: Orchestrator) -> None:
    for state in ENGINE_STATES:
        assert _metric(orch, ENGINE_STATE.name, engine=ENGINE, state=state) == (state == "RUNNING")
    assert _metric(orch, ENGINE_READY_NODES.name, engine=ENGINE, cluster="c1") == 1
    assert _metric(orch, ENGINE_ACTIVE_CLUSTERS.name, engine=ENGINE) == 2
    body = httpx.get(f"{orch.url}/metrics", timeout=5).content
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done


def test_sigkill_restarts_the_pod_and_counts_reason_killed(orch: Orchestrator) -> None:
    pod = "sales-c1-n1"
    before = orch.pod(pod)
    since = orch.events()[-1].seq
    pid = orch.signal_pod(pod, "KILL")
    assert pid == before.pid
    wait_until(_new_process(orch, pod, pid, ready=True), 30, what="restarted pod ready")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    exited = orch.events(since, "pod_exited")
    assert [(e.pod, e.fields["returncode"], e.fields["reason"]) for e in exited] == [(pod, -9, "killed")]
    assert orch.events(since, "pod_restarted")[0].fields["reason"] == "killed"
    assert orch.pod(pod).restarts_by_reason == {"killed": 1}
    assert _metric(orch, ENGINE_POD_RESTARTS.name, engine=ENGINE, cluster="c1", pod=pod, reason="killed") == 1
    # Discovery follows the new process (a new port).
    wait_until(lambda: _file_sd(orch)[pod]["target"] == f"127.0.0.1:{orch.pod(pod).port}", 5, what="file_sd")


def test_sigterm_from_outside_drains_and_restarts_with_reason_exited(orch: Orchestrator) -> None:
    pod = "sales-c2-n1"
    since = orch.events()[-1].seq
    pid = orch.signal_pod(pod, "TERM")
    wait_until(_new_process(orch, pod, pid, ready=True), 30, what="restarted pod ready")
    exited = orch.events(since, "pod_exited")[0]
    assert (exited.fields["returncode"], exited.fields["reason"]) == (0, "exited")
    assert _metric(orch, ENGINE_POD_RESTARTS.name, engine=ENGINE, cluster="c2", pod=pod, reason="exited") == 1


def test_crash_loop_backoff_doubles(orch: Orchestrator) -> None:
    pod = "sales-c1-n1"  # its backoff is at 0.4 s after the earlier kill (no 30 s of readiness since)
    since = orch.events()[-1].seq
    kills = 3
    pid = orch.pod(pod).pid
    for _ in range(kills):
        assert pid is not None
        orch.signal_pod(pod, "KILL")
        wait_until(_new_process(orch, pod, pid), 30, what="next process")
        pid = orch.pod(pod).pid
    delays = [e.fields["delay_s"] for e in orch.events(since, "pod_backoff")]
    assert delays == [0.4, 0.8, 1.6]
    # The delay is honoured: each restart comes no sooner than its backoff after the exit.
    events = orch.events(since)
    exits = [e.ts for e in events if e.kind == "pod_exited"]
    starts = [e.ts for e in events if e.kind == "pod_started"]
    for exit_ts, start_ts, delay in zip(exits, starts, delays, strict=True):
        assert start_ts - exit_ts >= delay - 0.01
    assert orch.pod(pod).restarts_by_reason["killed"] == 1 + kills
    _wait_all_ready(orch)


def test_hung_pod_fails_liveness_and_is_restarted_as_unhealthy(orch: Orchestrator) -> None:
    pod = "sales-c2-n1"
    since = orch.events()[-1].seq
    pid = orch.signal_pod(pod, "STOP")
    wait_until(_new_process(orch, pod, pid, ready=True), 30, what="hung pod replaced")
    kinds = [(e.kind, e.fields.get("reason")) for e in orch.events(since) if e.pod == pod]
    assert ("pod_unready", None) in kinds and ("pod_unhealthy", None) in kinds
    assert ("pod_restarted", "unhealthy") in kinds
    assert _metric(orch, ENGINE_POD_RESTARTS.name, engine=ENGINE, cluster="c2", pod=pod, reason="unhealthy") == 1


def test_drain_node_exits_zero_and_replacement_becomes_ready(orch: Orchestrator) -> None:
    pod = "sales-c1-n1"
    old_pid = orch.pod(pod).pid
    result = orch.drain_node(pod)
    assert result.ok and result.operation == "drain_node"
    assert result.detail["exit_code"] == 0 and result.detail["drain_outcome"] == "success"
    replacement = result.detail["replacement"]
    assert replacement == "sales-c1-n1-2"
    with pytest.raises(UnknownPod):
        orch.pod(pod)
    assert orch.pod(replacement).ready and orch.pod(replacement).node == "n1"
    assert old_pid is not None and not psutil.pid_exists(old_pid)
    finished = [e for e in orch.events(kind="drain_finished") if e.pod == pod][-1]
    assert finished.fields["exit_code"] == 0 and finished.fields["seconds"] < FLEET["grace_period_s"]
    assert set(_file_sd(orch)) == {replacement, "sales-c2-n1"}
    assert _metric(orch, ENGINE_POD_DRAINS.name, engine=ENGINE, cluster="c1", outcome="success") == 1


def test_restart_pod_keeps_the_name_and_counts_requested(orch: Orchestrator, api: httpx.Client) -> None:
    pod = "sales-c2-n1"
    old_pid = orch.pod(pod).pid
    response = api.post(f"/v1/pods/{pod}/restart")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "success"
    now = orch.pod(pod)
    assert now.ready and now.pid != old_pid and now.restarts_by_reason.get("requested") == 1
    assert _metric(orch, ENGINE_POD_RESTARTS.name, engine=ENGINE, cluster="c2", pod=pod, reason="requested") == 1


def test_failover_switches_active_clusters(orch: Orchestrator, api: httpx.Client) -> None:
    revision = _topology(orch)["revision"]
    response = api.post(f"/v1/engines/{ENGINE}/failover", json={"clusters": ["c2"]})
    assert response.status_code == 200, response.text
    topo = _topology(orch)
    assert topo["engines"][ENGINE]["active_clusters"] == ["c2"] and topo["revision"] > revision
    assert _metric(orch, ENGINE_ACTIVE_CLUSTERS.name, engine=ENGINE) == 1
    orch.failover(ENGINE, ["c1", "c2"])
    assert orch.engine(ENGINE).active_clusters == ("c1", "c2")


def test_resize_up_and_down(orch: Orchestrator, api: httpx.Client) -> None:
    response = api.post(f"/v1/engines/{ENGINE}/scale", json={"clusters": 3})
    assert response.status_code == 200, response.text
    engine = orch.engine(ENGINE)
    assert engine.active_clusters == ("c1", "c2", "c3") and engine.cluster("c3").ready_nodes == 1
    assert "sales-c3-n1" in _file_sd(orch)

    # A mixed change grows first (new nodes ready), then drains what goes (the newest cluster).
    result = orch.resize(ENGINE, clusters=2, nodes_per_cluster=2)
    assert sorted(result.detail["added_pods"]) == ["sales-c1-n2", "sales-c2-n2"]
    assert result.detail["removed_clusters"] == ["c3"]
    assert [(d["pod"], d["exit_code"]) for d in result.detail["drains"]] == [("sales-c3-n1", 0)]
    assert orch.engine(ENGINE).ready_nodes == 4 and orch.engine(ENGINE).active_clusters == ("c1", "c2")

    result = orch.resize(ENGINE, nodes_per_cluster=1)
    assert sorted(result.detail["removed_pods"]) == ["sales-c1-n2", "sales-c2-n2"]
    assert all(d["drain_outcome"] == "success" for d in result.detail["drains"]) and len(result.detail["drains"]) == 2
    engine = orch.engine(ENGINE)
    assert engine.active_clusters == ("c1", "c2") and [c.name for c in engine.clusters] == ["c1", "c2"]
    assert engine.desired_nodes == engine.ready_nodes == 2 and engine.state == "RUNNING"
    assert len(_file_sd(orch)) == 2
    states = [e.fields["state"] for e in orch.events(kind="engine_state")][-3:]
    assert states == ["RESIZING", "DRAINING", "RUNNING"]


def test_blue_green_upgrade(orch: Orchestrator, api: httpx.Client) -> None:
    blue_pids = [p.pid for p in orch.engine(ENGINE).pods]
    since = orch.events()[-1].seq
    response = api.post(f"/v1/engines/{ENGINE}/upgrade", json={"version": "v2"})
    assert response.status_code == 200, response.text
    detail = response.json()["detail"]
    assert detail["blue"] == ["c1", "c2"] and detail["green"] == ["c4", "c5"]
    assert all(d["exit_code"] == 0 and d["drain_outcome"] == "success" for d in detail["drains"])
    engine = orch.engine(ENGINE)
    assert engine.version == "v2" and engine.previous_version == "v1" and engine.state == "RUNNING"
    assert engine.active_clusters == ("c4", "c5") and [c.name for c in engine.clusters] == ["c4", "c5"]
    assert all(p.ready and p.version == "v2" for p in engine.pods)
    assert all(pid is not None and not psutil.pid_exists(pid) for pid in blue_pids)
    sd = _file_sd(orch)
    assert {labels["version"] for labels in sd.values()} == {"v2"} and len(sd) == 2
    assert _topology(orch)["engines"][ENGINE]["active_clusters"] == ["c4", "c5"]
    # The switch happened only after every green pod was ready, and before blue was drained.
    events = orch.events(since)
    switch = next(e for e in events if e.kind == "active_clusters_switched")
    green_ready = [e for e in events if e.kind == "pod_ready" and e.cluster in ("c4", "c5")]
    drains = [e for e in events if e.kind == "drain_started" and e.cluster in ("c1", "c2")]
    assert max(e.seq for e in green_ready) < switch.seq < min(e.seq for e in drains)
    assert _metric(orch, ENGINE_OPERATION_DURATION.count, engine=ENGINE, operation="upgrade", outcome="success") == 1


def test_upgrade_that_does_not_become_ready_rolls_back(orch: Orchestrator, api: httpx.Client) -> None:
    # No node starts within 50 ms: green never becomes ready.
    response = api.post(f"/v1/engines/{ENGINE}/upgrade", json={"version": "v3", "ready_timeout_s": 0.05})
    assert response.status_code == 500
    body = response.json()
    assert "green clusters of sales at v3" in body["error"]
    assert body["result"]["outcome"] == "failure" and body["result"]["detail"]["rolled_back"] is True
    engine = orch.engine(ENGINE)
    assert engine.version == "v2" and engine.active_clusters == ("c4", "c5") and engine.state == "RUNNING"
    assert [c.name for c in engine.clusters] == ["c4", "c5"]
    assert {labels["version"] for labels in _file_sd(orch).values()} == {"v2"}
    assert _metric(orch, ENGINE_OPERATION_DURATION.count, engine=ENGINE, operation="upgrade", outcome="failure") == 1
    _wait_all_ready(orch)


def test_api_errors_name_what_is_known(orch: Orchestrator, api: httpx.Client) -> None:
    assert httpx.post(f"{orch.url}/v1/engines/{ENGINE}/scale", json={"clusters": 2}).status_code == 401
    assert httpx.post(f"{orch.url}/v1/engines/{ENGINE}/scale", json={"clusters": 2},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401

    response = api.post("/v1/engines/nope/upgrade", json={"version": "v9"})
    assert response.status_code == 404 and response.json()["error"] == "unknown engine 'nope'; known: sales"
    response = api.post("/v1/pods/nope/signal", json={"signal": "KILL"})
    assert response.status_code == 404 and "known: sales-c4-n1, sales-c5-n1" in response.json()["error"]
    response = api.post(f"/v1/engines/{ENGINE}/failover", json={"clusters": ["c9"]})
    assert response.status_code == 404 and "unknown cluster 'c9'; known: c4, c5" in response.json()["error"]

    response = api.post(f"/v1/engines/{ENGINE}/scale", json={"clusters": 9})
    assert response.status_code == 400 and "clusters=9 is outside [1, 3]" in response.json()["error"]
    response = api.post(f"/v1/engines/{ENGINE}/scale", json={"clusters": 0})
    assert response.status_code == 422 and "body.clusters" in response.json()["error"]
    response = api.post(f"/v1/engines/{ENGINE}/scale", json={"replicas": 2})
    assert response.status_code == 422 and "replicas" in response.json()["error"]
    response = api.post(f"/v1/engines/{ENGINE}/scale", json={})
    assert response.status_code == 400 and "needs clusters or nodes_per_cluster" in response.json()["error"]
    response = api.post(f"/v1/engines/{ENGINE}/upgrade", json={"version": "v 2"})
    assert response.status_code == 400
    response = api.post("/v1/pods/sales-c4-n1/signal", json={"signal": "HUP"})
    assert response.status_code == 422

    engines = api.get("/v1/engines").json()
    assert engines[0]["name"] == ENGINE and engines[0]["ready_nodes"] == 2 and engines[0]["desired_nodes"] == 2
    pods = api.get("/v1/pods").json()
    assert {p["pod"] for p in pods} == {"sales-c4-n1", "sales-c5-n1"} and all(p["ready"] for p in pods)
    page = api.get("/v1/events", params={"since": 0}).json()
    assert page["events"][0]["seq"] == 1 and page["last_seq"] == page["events"][-1]["seq"]
    assert api.get("/v1/events", params={"since": page["last_seq"]}).json()["events"] == []


def test_signal_pod_refuses_pods_it_does_not_own(orch: Orchestrator) -> None:
    with pytest.raises(UnknownPod, match="known: sales-c4-n1, sales-c5-n1"):
        orch.signal_pod("sales-c1-n1", "KILL")  # drained long ago: no longer ours
    with pytest.raises(UnknownPod):
        orch.signal_pod(str(os.getpid()), "KILL")


def test_stop_leaves_no_process_behind(orch: Orchestrator) -> None:
    pids = {e.fields["pid"] for e in orch.events(kind="pod_started")}
    assert len(pids) >= 10
    orch.stop()
    alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    # Other live stacks of the test session have node children too: only ours (by state dir) count.
    ours = str(orch.state_dir)
    assert [c for c in psutil.Process().children(recursive=True)
            if "engines.node" in " ".join(c.cmdline()) and ours in " ".join(c.cmdline())] == []
    engine = orch.engine(ENGINE)
    assert engine.state == "STOPPED" and engine.pods == () and engine.active_clusters == ()
    assert json.loads(orch.file_sd_path.read_text()) == []
    assert _topology(orch)["engines"][ENGINE]["state"] == "STOPPED"
    assert [e.fields["state"] for e in orch.events(kind="engine_state")][-3:] == ["DRAINING", "STOPPING", "STOPPED"]
    with pytest.raises(Conflict, match="stopping"):
        orch.resize(ENGINE, clusters=2)


def test_pods_that_cannot_start_fail_the_start_fast(tmp_path: Path) -> None:
    # A real crash at every start: the interpreter cannot find its standard library.
    fleet = parse_fleet({**FLEET, "engines": [{**FLEET["engines"][0], "clusters": 1}]}, "<test>")  # type: ignore[index]
    o = Orchestrator(fleet, tmp_path, storage_dir=default_storage_path(), node_env={"PYTHONHOME": "/nonexistent"})
    try:
        with pytest.raises(OperationFailed, match="sales-c1-n1 failed to start 3 times") as info:
            o.start(timeout_s=60)
        assert "exit code 1" in str(info.value)
        assert info.value.result is not None and info.value.result.operation == "start"
        assert o.pod("sales-c1-n1").restarts_by_reason["crashed"] >= 3
        reasons = {e.fields["reason"] for e in o.events(kind="pod_exited")}
        assert reasons == {"crashed"}
    finally:
        o.stop()
    assert o.engine(ENGINE).state == "STOPPED"
