"""Acceptance of the foundation on a live stack: real pods, gateway, orchestrator and Prometheus."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from exporters import contract as c
from foundation.process import wait_until
from foundation.promtool import check_metrics
from loadgen.load import LoadGenerator, LoadSpec

pytestmark = pytest.mark.timeout(240)


def _pods(stack, engine: str | None = None) -> list:
    return [p for p in stack.orchestrator.pods() if engine is None or p.engine == engine]


def _wait_all_ready(stack, timeout: float = 60) -> None:
    wait_until(lambda: all(p.ready for p in _pods(stack)) and len(_pods(stack)) == 8, timeout,
               what="every pod ready")


def _load_in_background(stack, qps: float, seconds: float, engines: tuple[str, ...], kinds=None):
    spec = LoadSpec(qps=qps, duration_s=seconds, engines=engines, kinds=kinds, seed=7,
                    max_queries=int(qps * seconds * 2))
    gen = LoadGenerator(stack.gateway_url, spec)
    thread = threading.Thread(target=gen.run, daemon=True)
    thread.start()
    return gen, thread


def test_prometheus_scrapes_every_target_with_topology_labels(stack) -> None:
    prom = stack.prom()
    n_pods = len(_pods(stack))
    assert n_pods == 8  # 2 engines x 2 clusters x 2 nodes

    def all_up() -> bool:
        targets = prom.targets()
        nodes = [t for t in targets if t.labels.get("job") == c.JOB_NODE]
        jobs = {t.labels.get("job") for t in targets}
        return (len(nodes) == n_pods and {c.JOB_GATEWAY, c.JOB_ORCHESTRATOR} <= jobs
                and all(t.health == "up" for t in targets))

    wait_until(all_up, 30, interval=0.5, what="every target up")
    up = prom.query("up")
    assert up and all(s.value == 1 for s in up)
    node_series = [s for s in up if s.labels["job"] == c.JOB_NODE]
    pods = {p.pod: p for p in _pods(stack)}
    assert {s.labels["pod"] for s in node_series} == set(pods)
    for s in node_series:
        pod = pods[s.labels["pod"]]
        for label in c.TOPOLOGY_LABELS:
            assert s.labels[label] == str(getattr(pod, label)), (label, s.labels)


def _metrics_endpoints(stack) -> dict[str, str]:
    urls = {p.pod: f"{p.url}/metrics" for p in _pods(stack)}
    urls["gateway"] = f"{stack.gateway_url}/metrics"
    urls["orchestrator"] = f"{stack.orchestrator.url}/metrics"
    return urls


def test_promtool_check_metrics_reports_nothing(stack) -> None:
    _wait_all_ready(stack)
    for name, url in _metrics_endpoints(stack).items():
        text = httpx.get(url, timeout=5).text
        assert "# TYPE" in text, name
        problems = check_metrics(text)
        assert problems == [], f"{name}: {problems}"


def test_each_golden_signal_for_each_engine_after_load(stack) -> None:
    _wait_all_ready(stack)
    platform_errors = f'sum({c.QUERY_ERRORS}{{error_type=~"{c.PLATFORM_ERRORS_RE}"}})'
    platform_before = stack.prom().value(platform_errors)
    for engine in stack.engines:  # one user error per engine, so the error signal is not just zeros
        r = httpx.post(f"{stack.gateway_url}/query", json={"engine": engine, "sql": "SELEC nonsense"}, timeout=10)
        assert r.status_code == 400 and r.json()["error_type"] == "invalid_sql"
    gen, thread = _load_in_background(stack, qps=25, seconds=6, engines=tuple(stack.engines))
    thread.join(60)
    df = gen.ledger.frame()
    assert len(df) > 50 and (df.status == "ok").all(), df[df.status != "ok"].head()
    time.sleep(2.5)  # two scrapes
    prom = stack.prom()
    window = "[2m]"
    queries = {
        "node latency": f"histogram_quantile(0.99, sum by (engine, le) (rate({c.QUERY_DURATION.bucket}{window})))",
        "node traffic": f"sum by (engine) (increase({c.QUERY_DURATION.count}{window}))",
        "node scanned bytes": f"sum by (engine) (increase({c.SCANNED_BYTES}{window}))",
        "node user errors": f'sum by (engine) (increase({c.QUERY_ERRORS}{{error_type="invalid_sql"}}{window}))',
        "node saturation": f"sum by (engine) ({c.RUNNING_QUERIES}) / sum by (engine) ({c.QUERY_SLOTS})",
        "node cpu": f"max by (engine) ({c.CPU_UTILIZATION})",
        "node memory": f"sum by (engine) ({c.MEMORY_USED}) / sum by (engine) ({c.MEMORY_LIMIT})",
        "gateway latency": "histogram_quantile(0.99, sum by (engine, le) "
                           f"(rate({c.GATEWAY_REQUEST_DURATION.bucket}{window})))",
        "gateway traffic": f"sum by (engine) (increase({c.GATEWAY_REQUEST_DURATION.count}{window}))",
        "gateway user errors": f'sum by (engine) (increase({c.GATEWAY_ERRORS}{{error_type="invalid_sql"}}{window}))',
        "gateway saturation": f"sum by (engine) ({c.GATEWAY_INFLIGHT})",
        "gateway upstreams": f"sum by (engine) ({c.GATEWAY_UPSTREAM_UP})",
    }
    positive = {"node latency", "node traffic", "node scanned bytes", "node user errors", "node memory",
                "gateway latency", "gateway traffic", "gateway user errors", "gateway upstreams"}
    for what, expr in queries.items():
        found = {s.labels.get("engine"): s.value for s in prom.query(expr)}
        assert set(stack.engines) <= set(found), f"{what}: {expr} -> {found}"
        for engine in stack.engines:
            value = found[engine]
            assert value == value, f"{what} is NaN for {engine}"  # noqa: PLR0124
            if what in positive:
                assert value > 0, f"{what} for {engine}: {value}"
    assert prom.value(platform_errors) == platform_before, "bad SQL must not count as a platform error"


def test_sigkill_of_a_node_under_load_loses_no_read_query(stack) -> None:
    _wait_all_ready(stack)
    victim = _pods(stack, "sales")[0]
    old_pid = victim.pid
    restarts_before = victim.restarts_by_reason.get("killed", 0)
    gen, thread = _load_in_background(stack, qps=30, seconds=8, engines=("sales",),
                                      kinds=("lookup", "aggregate", "join"))
    time.sleep(3)
    stack.orchestrator.signal_pod(victim.pod, "KILL")
    thread.join(90)
    df = gen.ledger.frame()
    assert len(df) > 100
    failed = df[df.status != "ok"]
    assert failed.empty, f"client-visible failures after SIGKILL:\n{failed}"
    wait_until(lambda: stack.orchestrator.pod(victim.pod).ready
               and stack.orchestrator.pod(victim.pod).pid != old_pid, 30, what="the killed pod to be restarted")
    after = stack.orchestrator.pod(victim.pod)
    assert after.restarts_by_reason.get("killed", 0) == restarts_before + 1
    prom = stack.prom()
    expr = f'{c.ENGINE_POD_RESTARTS}{{pod="{victim.pod}", reason="killed"}}'
    prom.wait_for(expr, lambda s: bool(s) and s[0].value >= restarts_before + 1, timeout=15)


# About 2.5 s on one core: surely in flight when the signal lands, well inside the 10 s grace.
SLOW_SQL = "SELECT sum(l_extendedprice * r) FROM lineitem, range(1, 300) t(r)"


def test_sigterm_of_a_node_under_load_drains_gracefully(stack) -> None:
    _wait_all_ready(stack)
    victim = _pods(stack, "analytics")[0]
    pid = victim.pid
    gen, thread = _load_in_background(stack, qps=30, seconds=8, engines=("analytics",),
                                      kinds=("aggregate", "join", "lookup"))
    # Slow queries straight to the victim, so that some are surely in flight when the signal lands.
    direct: list[httpx.Response] = []
    senders = [threading.Thread(target=lambda: direct.append(
        httpx.post(f"{victim.url}/query", json={"sql": SLOW_SQL}, timeout=60))) for _ in range(2)]
    time.sleep(2)
    for t in senders:
        t.start()
    time.sleep(0.5)  # both direct requests have reached the node: each runs for seconds
    wait_until(lambda: httpx.get(f"{victim.url}/status", timeout=2).json()["running"] >= 1, 10,
               what="slow queries running on the victim")
    t_signal = time.time()
    stack.orchestrator.signal_pod(victim.pod, "TERM")
    # "At once": the signal handler drops it; 0.5 s only absorbs scheduling on a loaded 2-core machine.
    wait_until(lambda: httpx.get(f"{victim.url}/readyz", timeout=1).status_code == 503, 0.5, interval=0.01,
               what="readiness to drop")
    for t in senders:
        t.join(60)
    assert [r.status_code for r in direct] == [200, 200], [r.text for r in direct]
    thread.join(90)
    df: pd.DataFrame = gen.ledger.frame()
    assert (df.status == "ok").all(), df[df.status != "ok"]

    def exits() -> list:
        return [e for e in stack.orchestrator.events(kind="pod_exited") if e.pod == victim.pod and e.ts >= t_signal]

    wait_until(lambda: bool(exits()), 20, what="the drained node to exit")
    t_exit = exits()[0].ts
    assert exits()[0].fields.get("returncode") == 0, exits()
    # The replacement keeps the pod name (like a StatefulSet): only its predecessor's window counts.
    drained = df[(df.pod == victim.pod) & (df.start > t_signal) & (df.start < t_exit)]
    assert drained.empty, f"queries served by the draining node after its readiness dropped:\n{drained}"
    # Beyond one health interval the gateway no longer even tries the draining node.
    tried = df[(df.start > t_signal + 0.5) & (df.start < t_exit) & (df.attempts > 1)]
    assert tried.empty, f"queries routed to the draining node after its readiness dropped:\n{tried}"
    assert stack.orchestrator.pod(victim.pod).pid != pid
    wait_until(lambda: stack.orchestrator.pod(victim.pod).ready, 30, what="replacement ready")


def test_trace_spans_gateway_node_and_query_core(stack, otlp) -> None:
    _wait_all_ready(stack)
    r = httpx.post(f"{stack.gateway_url}/query", json={"engine": "sales", "sql": "SELECT count(*) FROM nation"},
                   timeout=10)
    assert r.status_code == 200

    def complete_trace(spans) -> bool:
        by_trace: dict[str, set[str]] = {}
        for s in spans:
            by_trace.setdefault(s.trace_id, set()).add(s.name)
        return any("gateway.query" in names and "node.query" in names
                   and any(n.startswith("core.") for n in names) for names in by_trace.values())

    spans = otlp.wait_for(complete_trace, timeout=15)
    # The receiver holds the session's spans: earlier tests' direct node queries have no gateway span.
    through_gateway = {s.trace_id for s in spans if s.name == "gateway.query"}
    trace_id = [s.trace_id for s in spans if s.name == "node.query" and s.trace_id in through_gateway][-1]
    trace = [s for s in spans if s.trace_id == trace_id]
    ids = {s.span_id: s for s in trace}
    node = next(s for s in trace if s.name == "node.query")
    assert node.parent_span_id in ids, "the node span must be a child of a gateway span"
    assert ids[node.parent_span_id].service_name != node.service_name
    core = [s for s in trace if s.name.startswith("core.")]
    assert core and all(s.parent_span_id in ids for s in core)


# --- bad input -------------------------------------------------------------------------------------


def test_malformed_sql_is_a_user_error(stack) -> None:
    r = httpx.post(f"{stack.gateway_url}/query", json={"engine": "sales", "sql": "SELECT FROM WHERE"}, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert body["error_type"] == "invalid_sql" and "syntax" in body["error"].lower()


def test_unknown_engine_is_404(stack) -> None:
    r = httpx.post(f"{stack.gateway_url}/query", json={"engine": "nope", "sql": "SELECT 1"}, timeout=10)
    assert r.status_code == 404
    assert "nope" in r.json()["error"]


def test_oversized_body_is_413(stack) -> None:
    sql = "SELECT '" + "x" * (2 * 1024 * 1024) + "'"
    r = httpx.post(f"{stack.gateway_url}/query", json={"engine": "sales", "sql": sql}, timeout=10)
    assert r.status_code == 413


def test_invalid_fleet_yaml_exits_2_naming_file_field_reason(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("engines:\n  - name: sales\n    type: XXL\n    nodes_per_cluster: 2\n    version: v1\n")
    r = subprocess.run([sys.executable, "-m", "enginewatch.cli", "up", "--fleet", str(bad)],
                       capture_output=True, text=True, timeout=60, env={"ENGINEWATCH_HOME": str(tmp_path),
                                                                       "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2, r.stderr
    assert str(bad) in r.stderr and "type" in r.stderr and "Traceback" not in r.stderr
