"""The gateway with real engine nodes: routing, failover on SIGKILL and SIGSTOP, retries, admin API.

One fleet serves the module: engine ``sales`` with clusters c1 and c2 of two type-S nodes each, and
a gateway over the topology file this test writes (as the orchestrator would). Tests run in file
order; each leaves every pod running, ready and undrained, with both clusters active. Every process
is ours and stopped by PID; every load is bounded in queries and in time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.storage import ensure_storage
from exporters.contract import (
    GATEWAY_ERRORS,
    GATEWAY_FAILOVERS,
    GATEWAY_RETRIES,
    GATEWAY_UPSTREAM_REQUESTS,
    GATEWAY_UPSTREAM_UP,
)
from foundation.process import ManagedProcess, python_module, wait_until, write_atomic
from foundation.promtool import find as find_tool
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.timeout(120)

ENGINE = "sales"
TOKEN = "test-admin-token-" + uuid.uuid4().hex
PROMTOOL = str(find_tool("promtool"))
# A scan of the 1M-row fact table: long enough (tens of ms) that nodes have queries in flight.
SCAN = "SELECT l_returnflag, count(*), sum(l_quantity) FROM lineitem GROUP BY 1 ORDER BY 1"
CLUSTERS = {"c1": ("n1", "n2"), "c2": ("n1", "n2")}


@dataclass
class Pod:
    cluster: str
    node: str
    name: str
    proc: ManagedProcess
    port_file: Path
    url: str = ""


@dataclass
class Fleet:
    root: Path
    storage: Path
    otel_env: dict[str, str]
    pods: dict[str, Pod] = field(default_factory=dict)
    revision: int = 0
    gateway: ManagedProcess | None = None
    url: str = ""
    client: httpx.Client = field(default_factory=lambda: httpx.Client(trust_env=False, timeout=30))

    @property
    def topology_path(self) -> Path:
        return self.root / "topology.json"

    def start_pod(self, cluster: str, node: str) -> Pod:
        name = f"{ENGINE}-{cluster}-{node}"
        port_file = self.root / f"{name}.{uuid.uuid4().hex[:6]}.port"
        proc = ManagedProcess(name, python_module(
            "engines.node", "--engine", ENGINE, "--cluster", cluster, "--node", node, "--pod", name,
            "--version", "v1", "--type", "S", "--storage", str(self.storage), "--port", "0",
            "--port-file", str(port_file), "--grace", "2", "--query-timeout", "20",
        ), log_path=self.root / f"{name}.log", env=self.otel_env).start()
        pod = self.pods[name] = Pod(cluster, node, name, proc, port_file)
        return pod

    def wait_listening(self, pod: Pod) -> None:
        wait_until(lambda: pod.port_file.exists() or not pod.proc.alive, 60, what=f"{pod.name} to listen")
        assert pod.proc.alive, pod.proc.log_tail()
        pod.url = f"http://127.0.0.1:{int(pod.port_file.read_text())}"

    def write_topology(self, active: list[str]) -> None:
        self.revision += 1
        clusters: dict[str, Any] = {}
        for p in self.pods.values():
            clusters.setdefault(p.cluster, {"version": "v1", "nodes": []})["nodes"].append(
                {"node": p.node, "pod": p.name, "url": p.url, "state": "RUNNING"})
        write_atomic(self.topology_path, json.dumps({"revision": self.revision, "engines": {ENGINE: {
            "state": "RUNNING", "active_clusters": active, "clusters": clusters}}}))

    # --- talking to the gateway -----------------------------------------------------------------------

    def query(self, sql: str = "SELECT 42 AS answer", **fields: Any) -> httpx.Response:
        return self.client.post(self.url + "/query", json={"engine": ENGINE, "sql": sql, **fields})

    def admin(self, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.request(method, self.url + path, json=body, headers=headers)

    def upstreams(self) -> dict[str, dict[str, Any]]:
        response = self.admin("GET", "/admin/upstreams")
        assert response.status_code == 200, response.text
        return {u["pod"]: u for u in response.json()["upstreams"]}

    def all_routable(self) -> bool:
        ups = self.upstreams()
        return len(ups) == len(self.pods) and all(u["routable"] for u in ups.values())

    def metrics_text(self) -> str:
        response = self.client.get(self.url + "/metrics")
        assert response.status_code == 200
        return response.text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for family in text_string_to_metric_families(self.metrics_text()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total


def _otel_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "200"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Fleet]:
    """Traced nodes (to the session's OTLP receiver) behind an untraced gateway."""
    root = tmp_path_factory.mktemp("gateway")
    f = Fleet(root, ensure_storage(), _otel_env(otlp))
    try:
        started = [f.start_pod(c, n) for c, nodes in CLUSTERS.items() for n in nodes]
        for pod in started:
            f.wait_listening(pod)
        f.write_topology(["c1", "c2"])
        token_file = root / "admin-token"
        token_file.write_text(TOKEN + "\n")
        port_file = root / "gateway.port"
        f.gateway = ManagedProcess("gateway", python_module(
            "engines.gateway", "--topology", str(f.topology_path), "--port", "0",
            "--port-file", str(port_file), "--admin-token-file", str(token_file), "--deadline", "15",
        ), log_path=root / "gateway.log").start()
        wait_until(lambda: port_file.exists() or not f.gateway.alive, 30, what="gateway to listen")  # type: ignore[union-attr]
        assert f.gateway.alive, f.gateway.log_tail()
        f.url = f"http://127.0.0.1:{int(port_file.read_text())}"
        wait_until(f.all_routable, 30, what="every upstream routable")
        yield f
    finally:
        f.client.close()
        if f.gateway is not None:
            f.gateway.stop(grace=5)
        for pod in f.pods.values():
            pod.proc.stop(grace=5)


@pytest.fixture
def restore(fleet: Fleet) -> Iterator[None]:
    """Whatever a test did to the fleet: every pod running, undrained, both clusters active."""
    yield
    for pod in list(fleet.pods.values()):
        if not pod.proc.alive:  # a test that failed half-way may leave a killed pod behind
            fleet.wait_listening(fleet.start_pod(pod.cluster, pod.node))
            continue
        pod.proc.signal(signal.SIGCONT)
        fleet.admin("DELETE", f"/admin/pods/{pod.name}/drain")
    fleet.write_topology(["c1", "c2"])
    wait_until(fleet.all_routable, 15, what="every upstream routable again")


# --- load -------------------------------------------------------------------------------------------


@dataclass
class Answer:
    sent: float
    latency: float
    status: int
    attempts: int
    cluster: str | None
    pod: str | None
    error_type: str | None


def run_load(fleet: Fleet, sql: str, workers: int, duration_s: float, max_queries: int,
             stop: threading.Event | None = None) -> list[Answer]:
    """Closed-loop load: ``workers`` clients back to back, bounded by time and by count."""
    answers: list[Answer] = []
    lock = threading.Lock()
    end = time.monotonic() + duration_s
    budget = iter(range(max_queries))

    def worker() -> None:
        with httpx.Client(trust_env=False, timeout=30) as client:
            while time.monotonic() < end and not (stop and stop.is_set()):
                with lock:
                    if next(budget, None) is None:
                        return
                sent = time.monotonic()
                r = client.post(fleet.url + "/query", json={"engine": ENGINE, "sql": sql})
                doc = r.json()
                a = Answer(sent, time.monotonic() - sent, r.status_code, int(r.headers["x-attempts"]),
                           r.headers.get("x-engine-cluster"), r.headers.get("x-engine-pod"),
                           doc.get("error_type"))
                with lock:
                    answers.append(a)

    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(worker) for _ in range(workers)]:
            f.result()
    return answers


def _in_background(fn: Any, *args: Any) -> tuple[ThreadPoolExecutor, Any]:
    pool = ThreadPoolExecutor(1)
    return pool, pool.submit(fn, *args)


# --- tests ------------------------------------------------------------------------------------------


def test_answer_names_cluster_node_pod_and_attempts(fleet: Fleet) -> None:
    r = fleet.query("SELECT 42 AS answer", query_id="q-names")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["rows"] == [[42]] and doc["attempts"] == 1 and doc["query_id"] == "q-names"
    assert doc["engine"] == ENGINE and doc["pod"] == f"{ENGINE}-{doc['cluster']}-{doc['node']}"
    assert r.headers["x-engine-cluster"] == doc["cluster"] and r.headers["x-engine-node"] == doc["node"]
    assert r.headers["x-attempts"] == "1" and r.headers["x-engine-pod"] == doc["pod"]


def test_routing_spreads_queries_over_both_active_clusters(fleet: Fleet) -> None:
    answers = run_load(fleet, "SELECT 1", workers=2, duration_s=10, max_queries=60)
    assert all(a.status == 200 for a in answers)
    assert {a.cluster for a in answers} == {"c1", "c2"}
    assert len({a.pod for a in answers}) >= 3


def test_client_errors(fleet: Fleet) -> None:
    before = fleet.metric(GATEWAY_ERRORS.name, engine=ENGINE, error_type="invalid_sql")
    r = fleet.client.post(fleet.url + "/query", json={"engine": "nope", "sql": "SELECT 1"})
    assert r.status_code == 404 and "sales" in r.json()["error"] and r.headers["x-attempts"] == "0"
    r = fleet.client.post(fleet.url + "/query", content=b'{"engine": "sales", "sql": ')
    assert r.status_code == 400 and r.json()["attempts"] == 0
    r = fleet.client.post(fleet.url + "/query", json={"engine": ENGINE})
    assert r.status_code == 400
    oversized = json.dumps({"engine": ENGINE, "sql": "SELECT 1 -- " + "x" * (1 << 20)}).encode()
    r = fleet.client.post(fleet.url + "/query", content=oversized)
    assert r.status_code == 413 and r.json()["error_type"] == "too_large"
    r = fleet.client.post(fleet.url + "/query", content=iter([oversized[:1000], oversized[1000:]]))  # chunked
    assert r.status_code == 413
    # Bad SQL is the user's error: passed through from the node, never retried, counted as invalid_sql.
    r = fleet.query("SELEKT nothing")
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["error_type"] == "invalid_sql" and doc["attempts"] == 1 and doc["pod"]
    assert r.headers["x-engine-node"] == doc["node"]
    assert fleet.metric(GATEWAY_ERRORS.name, engine=ENGINE, error_type="invalid_sql") == before + 1


def test_deadline_exceeded_is_504_timeout(fleet: Fleet) -> None:
    slow = "SELECT sum(a.l_quantity * b.l_quantity) FROM lineitem a CROSS JOIN lineitem b"
    started = time.monotonic()
    r = fleet.query(slow, deadline_s=0.5)
    assert r.status_code == 504, r.text
    assert r.json()["error_type"] == "timeout" and r.json()["attempts"] == 1
    assert time.monotonic() - started < 5  # the node stops at the client's deadline, not its own 20 s


def test_no_routable_node_is_503_unavailable(fleet: Fleet, restore: None) -> None:
    for pod in fleet.pods:
        assert fleet.admin("POST", f"/admin/pods/{pod}/drain", {}).status_code == 200
    r = fleet.query()
    assert r.status_code == 503, r.text
    doc = r.json()
    assert doc["error_type"] == "unavailable" and doc["attempts"] == 0 and doc["pod"] is None
    assert "x-engine-pod" not in r.headers and r.headers["x-attempts"] == "0"


def test_admin_api_requires_the_token(fleet: Fleet) -> None:
    for token in (None, "wrong"):
        assert fleet.admin("GET", "/admin/upstreams", token=token).status_code == 401
        assert fleet.admin("POST", f"/admin/engines/{ENGINE}/active-clusters", {"clusters": ["c2"]},
                           token=token).status_code == 401
        assert fleet.admin("POST", f"/admin/pods/{ENGINE}-c1-n1/drain", {}, token=token).status_code == 401
    assert fleet.admin("POST", "/admin/engines/nope/active-clusters", {"clusters": ["c1"]}).status_code == 404
    r = fleet.admin("POST", f"/admin/engines/{ENGINE}/active-clusters", {"clusters": ["c9"]})
    assert r.status_code == 400 and "c9" in r.json()["error"]
    assert fleet.admin("POST", f"/admin/engines/{ENGINE}/active-clusters", {"nope": 1}).status_code == 400
    assert fleet.admin("POST", "/admin/pods/nope/drain", {}).status_code == 404
    assert all(u["routable"] for u in fleet.upstreams().values())  # nothing changed


def test_active_cluster_switch_is_atomic_and_a_newer_file_wins(fleet: Fleet, restore: None) -> None:
    # Stopped a second after the switch, not by count: on a fast machine a count runs out before it.
    stop = threading.Event()
    pool, load = _in_background(run_load, fleet, "SELECT 1", 3, 10.0, 20_000, stop)
    with pool:
        time.sleep(1.0)
        r = fleet.admin("POST", f"/admin/engines/{ENGINE}/active-clusters", {"clusters": ["c2"]})
        switched = time.monotonic()
        time.sleep(1.0)
        stop.set()
        answers = load.result()
    assert r.status_code == 200, r.text
    assert r.json()["active_clusters"] == ["c2"] and r.json()["previous"] == ["c1", "c2"]
    assert all(a.status == 200 for a in answers)
    before = [a for a in answers if a.sent + a.latency < switched - 0.2]
    after = [a for a in answers if a.sent > switched]
    assert before and after
    assert {a.cluster for a in before} == {"c1", "c2"}
    assert {a.cluster for a in after} == {"c2"}, "a query sent after the switch ran on an old cluster"
    assert fleet.admin("GET", "/admin/upstreams").json()["engines"][ENGINE]["active_source"] == "admin"

    fleet.write_topology(["c1"])  # a newer revision: the file's active clusters win over the admin switch
    wait_until(lambda: fleet.admin("GET", "/admin/upstreams").json()["engines"][ENGINE]["active_clusters"]
               == ["c1"], 5, what="the topology file to win")
    assert {fleet.query().headers["x-engine-cluster"] for _ in range(10)} == {"c1"}


def test_write_without_idempotency_key_is_not_retried(fleet: Fleet, restore: None) -> None:
    target = f"{ENGINE}-c1-n1"
    others = [p for p in fleet.pods if p != target]
    for pod in others:  # only the target takes new queries
        assert fleet.admin("POST", f"/admin/pods/{pod}/drain", {}).status_code == 200
    retries = fleet.metric(GATEWAY_RETRIES.name, engine=ENGINE)
    write = "CREATE TEMP TABLE scratch AS SELECT 1 AS x"
    assert fleet.pods[target].proc.signal(signal.SIGSTOP)  # hung: both writes wait on it
    with ThreadPoolExecutor(2) as pool:
        plain = pool.submit(fleet.query, write)
        keyed = pool.submit(fleet.query, write, idempotency_key="idem-" + uuid.uuid4().hex)
        wait_until(lambda: fleet.upstreams()[target]["outstanding"] == 2, 5, what="both writes on the target")
        for pod in others:  # somewhere to retry, before the health check gives up on the target
            assert fleet.admin("DELETE", f"/admin/pods/{pod}/drain").status_code == 200
        plain_r, keyed_r = plain.result(timeout=20), keyed.result(timeout=20)
    assert plain_r.status_code == 503, plain_r.text
    assert plain_r.json()["attempts"] == 1 and plain_r.json()["pod"] == target
    assert "not retried" in plain_r.json()["error"]
    assert keyed_r.status_code == 200, keyed_r.text
    assert keyed_r.json()["attempts"] == 2 and keyed_r.json()["pod"] != target
    assert fleet.metric(GATEWAY_RETRIES.name, engine=ENGINE) == retries + 1  # the keyed one only


def test_hung_node_fails_over_without_client_errors(fleet: Fleet, restore: None) -> None:
    target = fleet.pods[f"{ENGINE}-c2-n1"]
    stop_at: list[float] = []

    def hang_soon() -> None:
        time.sleep(1.0)
        # Stop it while it holds queries: those must come back from elsewhere, well before the deadline.
        wait_until(lambda: fleet.upstreams()[target.name]["outstanding"] > 0, 5, interval=0.005,
                   what="a query in flight on the target")
        target.proc.signal(signal.SIGSTOP)
        stop_at.append(time.monotonic())

    pool, hanger = _in_background(hang_soon)
    with pool:
        answers = run_load(fleet, SCAN, workers=4, duration_s=5.0, max_queries=400)
        hanger.result()
    ups = fleet.upstreams()
    assert not ups[target.name]["healthy"] and ups[target.name]["ejections"] >= 1
    assert fleet.metric(GATEWAY_UPSTREAM_UP.name, cluster=target.cluster, node=target.node) == 0
    failed = [a for a in answers if a.status != 200]
    assert not failed, failed[:5]
    rescued = [a for a in answers if a.attempts > 1]
    assert rescued, "the queries held by the hung node were not retried"
    assert all(a.pod != target.name for a in rescued)
    # Held for the ejection (about half a second), not for the 15 s deadline.
    assert max(a.latency for a in answers if a.sent + a.latency > stop_at[0]) < 4.0


def test_killed_node_under_load_no_client_failures(fleet: Fleet, restore: None) -> None:
    target = fleet.pods[f"{ENGINE}-c1-n2"]
    failovers = fleet.metric(GATEWAY_FAILOVERS.name, engine=ENGINE)

    def kill_soon() -> None:
        time.sleep(1.0)
        # Pin the queries routed to the target (a stopped process answers nothing), so that the kill
        # lands with queries in flight rather than in a gap between two of them.
        target.proc.signal(signal.SIGSTOP)
        wait_until(lambda: fleet.upstreams()[target.name]["outstanding"] > 0, 2, interval=0.005,
                   what="a query in flight on the target")
        target.proc.signal(signal.SIGKILL)

    pool, killer = _in_background(kill_soon)
    with pool:
        answers = run_load(fleet, SCAN, workers=4, duration_s=4.0, max_queries=400)
        killer.result()
    failed = [a for a in answers if a.status != 200]
    assert not failed, failed[:5]
    assert fleet.metric(GATEWAY_FAILOVERS.name, engine=ENGINE) > failovers
    assert fleet.metric(GATEWAY_UPSTREAM_REQUESTS.name, engine=ENGINE, outcome="refused") >= 1
    wait_until(lambda: fleet.metric(GATEWAY_UPSTREAM_UP.name, cluster=target.cluster, node=target.node) == 0,
               3, what="gateway_upstream_up of the killed node to drop to 0")
    target.proc.wait(5)

    # The orchestrator's part, by hand: the pod comes back on a new port in a new topology revision.
    replacement = fleet.start_pod(target.cluster, target.node)
    fleet.wait_listening(replacement)
    fleet.write_topology(["c1", "c2"])
    wait_until(lambda: fleet.metric(GATEWAY_UPSTREAM_UP.name, cluster=target.cluster, node=target.node) == 1,
               10, what="the replacement pod to be routable")


def test_metrics_pass_promtool(fleet: Fleet) -> None:
    text = fleet.metrics_text()
    for name in (GATEWAY_ERRORS.name, GATEWAY_RETRIES.name, GATEWAY_UPSTREAM_UP.name,
                 "gateway_request_duration_seconds_bucket", "gateway_circuit_breaker_state"):
        assert name in text
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def _spans_of(otlp: OtlpReceiver, trace_id: str, names: set[str]) -> dict[str, ReceivedSpan]:
    spans = otlp.wait_for(lambda ss: names <= {s.name for s in ss if s.trace_id == trace_id}, timeout=15)
    return {s.name: s for s in spans if s.trace_id == trace_id}


def test_untraced_gateway_forwards_the_clients_trace_context(fleet: Fleet, otlp: OtlpReceiver) -> None:
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    r = fleet.client.post(fleet.url + "/query", json={"engine": ENGINE, "sql": "SELECT 1"},
                          headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    assert r.status_code == 200
    node = _spans_of(otlp, trace_id, {"node.query"})["node.query"]
    assert node.parent_span_id == parent and node.resource.get("service.instance.id") == r.json()["pod"]


def test_traced_gateway_spans_the_query_and_each_attempt(fleet: Fleet, otlp: OtlpReceiver,
                                                         tmp_path: Path) -> None:
    port_file = tmp_path / "gateway.port"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    gateway = ManagedProcess("gateway-traced", python_module(
        "engines.gateway", "--topology", str(fleet.topology_path), "--port-file", str(port_file),
        "--admin-token-file", str(token_file),
    ), log_path=tmp_path / "gateway.log", env=fleet.otel_env).start()
    try:
        wait_until(lambda: port_file.exists() or not gateway.alive, 30, what="traced gateway to listen")
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        wait_until(lambda: fleet.client.post(url + "/query", json={"engine": ENGINE, "sql": "SELECT 1"},
                                             headers={"traceparent": f"00-{trace_id}-{parent}-01"}
                                             ).status_code == 200, 10, what="a traced query")
    finally:
        code = gateway.stop(grace=5)
    assert code == 0, gateway.log_tail()  # SIGTERM: graceful, and the last spans flushed on the way out
    spans = _spans_of(otlp, trace_id, {"gateway.query", "gateway.attempt", "node.query"})
    query, attempt, node = spans["gateway.query"], spans["gateway.attempt"], spans["node.query"]
    assert query.parent_span_id == parent and query.service_name == "enginewatch-gateway"
    assert attempt.parent_span_id == query.span_id and attempt.attributes["enginewatch.attempt"] == 1
    assert node.parent_span_id == attempt.span_id  # the traceparent went to the node
    assert attempt.attributes["enginewatch.pod"] == node.resource.get("service.instance.id")
