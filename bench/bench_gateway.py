"""Gateway overhead and scrape cost, measured on a live one-node stack.

Overhead: the same trivial query sent straight to the node and through the gateway, alternating one
by one over keep-alive connections so that both sides see the same machine state; reported as p50 and
p99 of each side and their difference (goal: <= 1 ms added at p50). Scrape: time to fetch a node's
and the gateway's /metrics, as Prometheus would.

    .venv/bin/python -m bench.bench_gateway [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from enginewatch.stack import Stack, StackOptions

FLEET = """engines:
  - name: bench
    type: M
    nodes_per_cluster: 1
    clusters: 1
    min_clusters: 1
    max_clusters: 1
    version: v1
"""
SQL = "SELECT n_name FROM nation WHERE n_nationkey = 7"


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(n: int = 2000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Path(tmp) / "fleet.yaml"
        fleet.write_text(FLEET)
        with Stack(StackOptions(fleet=fleet, state_dir=Path(tmp) / "state", write_run_state=False)) as stack:
            pod = stack.orchestrator.pods()[0]
            direct_url, gateway_url = f"{pod.url}/query", f"{stack.gateway_url}/query"
            direct, via = [], []
            with httpx.Client(timeout=10) as client:
                for _ in range(200):  # warm both paths: connections, DuckDB caches
                    client.post(direct_url, json={"sql": SQL})
                    client.post(gateway_url, json={"engine": "bench", "sql": SQL})
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = client.post(direct_url, json={"sql": SQL})
                    direct.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                    t0 = time.perf_counter()
                    r = client.post(gateway_url, json={"engine": "bench", "sql": SQL})
                    via.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                scrape_node, scrape_gw = [], []
                for _ in range(200):
                    t0 = time.perf_counter()
                    client.get(f"{pod.url}/metrics")
                    scrape_node.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    client.get(f"{stack.gateway_url}/metrics")
                    scrape_gw.append(time.perf_counter() - t0)
                node_bytes = len(client.get(f"{pod.url}/metrics").content)
    ms = 1000.0
    return {
        "n": n,
        "direct_p50_ms": _pct(direct, 50) * ms, "direct_p99_ms": _pct(direct, 99) * ms,
        "gateway_p50_ms": _pct(via, 50) * ms, "gateway_p99_ms": _pct(via, 99) * ms,
        "added_p50_ms": (_pct(via, 50) - _pct(direct, 50)) * ms,
        "added_p99_ms": (_pct(via, 99) - _pct(direct, 99)) * ms,
        "scrape_node_p50_ms": _pct(scrape_node, 50) * ms, "scrape_node_p99_ms": _pct(scrape_node, 99) * ms,
        "scrape_gateway_p50_ms": _pct(scrape_gw, 50) * ms, "node_metrics_bytes": node_bytes,
    }


if __name__ == "__main__":
    r = run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    print(f"{r['n']} alternating queries: direct p50 {r['direct_p50_ms']:.2f} ms p99 {r['direct_p99_ms']:.2f} ms; "
          f"via gateway p50 {r['gateway_p50_ms']:.2f} ms p99 {r['gateway_p99_ms']:.2f} ms; "
          f"added p50 {r['added_p50_ms']:.2f} ms (goal <= 1 ms), p99 {r['added_p99_ms']:.2f} ms")
    print(f"scrape /metrics: node p50 {r['scrape_node_p50_ms']:.2f} ms p99 {r['scrape_node_p99_ms']:.2f} ms "
          f"({r['node_metrics_bytes']} bytes); gateway p50 {r['scrape_gateway_p50_ms']:.2f} ms")
