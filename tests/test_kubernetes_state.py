"""The Kubernetes engine-state source, against the official client's objects and a stand-in API server.

Not a live cluster: tests/kubernetes_fake.py answers list and watch calls in the API's own wire format,
with pods and StatefulSets built from the rendered manifests.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engines.gateway.topology import load_topology
from engines.kubernetes import KubernetesState, read_pod
from engines.kubernetes.__main__ import parse_args
from engines.kubernetes.serve import wire
from engines.orchestrator import DEFAULT_FLEET, load_fleet
from engines.orchestrator.publish import topology
from enginewatch.kubernetes.manifests import Options, engines
from foundation import kubernetes as k8s
from foundation.process import bind_socket
from foundation.promtool import check_metrics
from tests.kubernetes_fake import NAMESPACE, FakeCluster, gone_line, watch_line


def rendered_statefulsets() -> list[dict]:
    return [o for o in engines(load_fleet(DEFAULT_FLEET), Options()) if o["kind"] == "StatefulSet"]


@pytest.fixture
def cluster() -> FakeCluster:
    c = FakeCluster()
    for sts in rendered_statefulsets():
        c.add_statefulset(sts)
    return c


def test_a_listing_gives_the_snapshot_the_local_orchestrator_gives(cluster: FakeCluster) -> None:
    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    state.refresh()
    engines_ = {e.name: e for e in state.snapshot()}
    fleet = load_fleet(DEFAULT_FLEET)
    assert set(engines_) == {s.name for s in fleet.engines}
    for spec in fleet.engines:
        e = engines_[spec.name]
        assert e.state == "RUNNING"
        assert e.type == spec.type and e.version == spec.version
        assert (e.min_clusters, e.max_clusters) == (spec.min_clusters, spec.max_clusters)
        assert e.active_clusters == tuple(f"c{i}" for i in range(1, spec.clusters + 1))
        assert e.ready_nodes == e.desired_nodes == spec.clusters * spec.nodes_per_cluster
        for c in e.clusters:
            # Nodes are named as the local orchestrator names them: n1, n2 ... from the ordinal.
            assert [p.node for p in c.pods] == [f"n{i}" for i in range(1, spec.nodes_per_cluster + 1)]
            assert [p.pod for p in c.pods] == [k8s.pod_name(spec.name, c.name, i)
                                               for i in range(1, spec.nodes_per_cluster + 1)]
            for p in c.pods:
                assert p.state == "READY" and p.live and p.url == f"http://{cluster.pods[p.pod].status.pod_ip}:8080"
                assert p.pid is not None  # the incarnation


def test_the_exporter_serves_the_contract_from_kubernetes(cluster: FakeCluster) -> None:
    served = wire(cluster.core, cluster.apps, NAMESPACE, metrics=True, state_dir=None)
    served.state.refresh()
    text = served.exporter.exposition().decode()  # type: ignore[union-attr]
    assert check_metrics(text) == []
    assert 'engine_state{engine="sales",state="RUNNING"} 1.0' in text
    assert 'engine_ready_nodes{cluster="c1",engine="sales"} 2.0' in text
    assert 'engine_pod_ready{cluster="c2",engine="analytics",pod="analytics-c2-1"} 1.0' in text
    # Counters exist at 0 from the first sight of a pod: a first restart is an increase().
    assert 'engine_pod_restarts_total{cluster="c1",engine="sales",pod="sales-c1-2",reason="killed"} 0.0' in text


def test_the_topology_file_is_what_the_gateway_loads(cluster: FakeCluster, tmp_path: Path) -> None:
    served = wire(cluster.core, cluster.apps, NAMESPACE, metrics=False, state_dir=tmp_path)
    served.state.refresh()
    first = load_topology(tmp_path / "topology.json")
    assert set(first.engines) == {"sales", "analytics"}
    sales = first.engines["sales"]
    assert sales.active_clusters == ("c1", "c2")
    assert [n.url for n in sales.clusters["c1"].nodes] == [f"http://{cluster.pods[f'sales-c1-{i}'].status.pod_ip}:8080"
                                                          for i in (1, 2)]
    # A change of routing (the active label) is a new revision; no change is no rewrite.
    cluster.statefulsets["sales-c1"].metadata.labels[k8s.LABEL_ACTIVE] = "false"
    served.state.refresh()
    second = load_topology(tmp_path / "topology.json")
    assert second.revision == first.revision + 1 and second.engines["sales"].active_clusters == ("c2",)
    served.state.refresh()
    assert load_topology(tmp_path / "topology.json").revision == second.revision


def test_watch_events_update_the_cache_and_log_lifecycle_events(cluster: FakeCluster) -> None:
    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    state.refresh()
    seq = state.event_log.last_seq
    # The kubelet restarts a killed container: one MODIFIED event carries the new restart count.
    cluster.restart_container("sales-c1-1", exit_code=137)
    pod = cluster.pods["sales-c1-1"]
    cluster.watch_events["pods"] = [watch_line("MODIFIED", pod),
                                    json.dumps({"type": "BOOKMARK", "object": {
                                        "kind": "Pod", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": "12345"}}})]
    assert state.watch_once("pods", timeout_s=1) == 1
    kinds = [(e.kind, e.pod) for e in state.events(seq)]
    assert ("pod_exited", "sales-c1-1") in kinds and ("pod_restarted", "sales-c1-1") in kinds
    exited = next(e for e in state.events(seq) if e.kind == "pod_exited")
    assert exited.fields["returncode"] == 137 and exited.fields["reason"] == "killed"
    snap = next(p for p in state.pods() if p.pod == "sales-c1-1")
    assert snap.restarts_by_reason == {"killed": 1}
    # The bookmark moved the resourceVersion the next watch starts from.
    assert state._versions["pods"] == "12345"


def test_a_deleted_pod_is_an_exit_and_its_replacement_a_start(cluster: FakeCluster) -> None:
    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    state.refresh()
    seq = state.event_log.last_seq
    old = cluster.pods["analytics-c1-2"]
    new = cluster.replace_pod("analytics-c1-2")
    cluster.watch_events["pods"] = [watch_line("DELETED", old), watch_line("ADDED", new)]
    assert state.watch_once("pods", timeout_s=1) == 2
    kinds = [e.kind for e in state.events(seq) if e.pod == "analytics-c1-2"]
    assert kinds[:2] == ["pod_exited", "pod_started"]
    assert read_pod(state.raw_pod("analytics-c1-2")).uid == new.metadata.uid


def test_an_expired_watch_raises_410_for_the_caller_to_relist(cluster: FakeCluster) -> None:
    from kubernetes.client.exceptions import ApiException

    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    state.refresh()
    cluster.watch_events["statefulsets"] = [gone_line()]
    with pytest.raises(ApiException) as e:
        state.watch_once("statefulsets", timeout_s=1)
    assert e.value.status == 410


def test_run_lists_then_watches_until_stopped(cluster: FakeCluster) -> None:
    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    stop = threading.Event()
    thread = threading.Thread(target=state.run, args=(stop,), kwargs={"timeout_s": 1}, daemon=True)
    thread.start()
    try:
        deadline = threading.Event()
        for _ in range(100):
            if state.listed and cluster.calls.watches >= 2:
                break
            deadline.wait(0.02)
        assert state.listed and cluster.calls.watches >= 2
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_engine_states_follow_the_statefulsets(cluster: FakeCluster) -> None:
    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    sts = cluster.statefulsets["sales-c1"]
    sts.spec.replicas = 3  # scaled out, the third pod not there yet
    state.refresh()
    assert next(e for e in state.snapshot() if e.name == "sales").state == "RESIZING"
    sts.spec.replicas = 2
    cluster.mark_terminating("sales-c2-1")
    state.refresh()
    assert next(e for e in state.snapshot() if e.name == "sales").state == "DRAINING"
    pod = next(p for p in state.pods() if p.pod == "sales-c2-1")
    assert pod.state == "TERMINATING"


def test_a_never_ready_engine_is_starting_and_topology_lists_live_pods_only() -> None:
    c = FakeCluster()
    for sts in rendered_statefulsets():
        c.add_statefulset(sts, ready=False)
    state = KubernetesState(c.core, c.apps, NAMESPACE)
    state.refresh()
    assert {e.state for e in state.snapshot()} == {"STARTING"}
    assert {p.state for p in state.pods()} == {"STARTING"}
    doc = topology(state.snapshot())
    assert all(n["ready"] is False for e in doc["engines"].values() for cl in e["clusters"].values()
               for n in cl["nodes"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--namespace", "Bad_NS", "--metrics-port", "9100"], "--namespace: 'Bad_NS' is not a valid Kubernetes name"),
    (["--namespace", "enginewatch"], "nothing to do"),
    (["--namespace", "enginewatch", "--metrics-port", "70000"], "--metrics-port: 70000 is not a TCP port"),
    (["--namespace", "enginewatch", "--state-dir", "/tmp", "--kubeconfig", "/nonexistent"],
     "--kubeconfig: /nonexistent: no such file"),
])
def test_bad_arguments_exit_2_naming_the_flag(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    with pytest.raises(SystemExit) as e:
        parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_the_bind_host_is_loopback_unless_a_pod_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(k8s.BIND_HOST_ENV, raising=False)
    with bind_socket(0) as sock:
        assert sock.getsockname()[0] == "127.0.0.1"
    monkeypatch.setenv(k8s.BIND_HOST_ENV, "127.0.0.1")
    with bind_socket(0) as sock:
        assert sock.getsockname()[0] == "127.0.0.1"
    monkeypatch.setenv(k8s.BIND_HOST_ENV, "not-an-address")
    with pytest.raises(ValueError, match="ENGINEWATCH_BIND_HOST='not-an-address' is not an IPv4 address"):
        bind_socket(0)


def test_without_a_cluster_the_program_exits_2_saying_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from engines.kubernetes.__main__ import main

    for var in ("KUBERNETES_SERVICE_HOST", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    assert main(["--namespace", "enginewatch", "--state-dir", str(tmp_path / "state")]) == 2
    assert "error: no Kubernetes API to talk to" in capsys.readouterr().err
