"""Live proof: every panel target of every dashboard returns data from the real Prometheus under load."""

from __future__ import annotations

import time

import httpx
import pytest

from dashboards import Settings, render_expr, targets
from loadgen.load import LoadGenerator, LoadSpec
from slo.specs.platform import BATCH_ENGINES

pytestmark = pytest.mark.timeout(240)


def _induce_errors(stack) -> None:
    """One user error and one platform error per engine, so the error panels have something to show."""
    for engine in stack.engines:
        r = httpx.post(f"{stack.gateway_url}/query", json={"engine": engine, "sql": "SELEC 1"}, timeout=10)
        assert r.status_code == 400
        slow = "SELECT sum(l_extendedprice * r) FROM lineitem, range(1, 12) t(r)"
        r = httpx.post(f"{stack.gateway_url}/query", json={"engine": engine, "sql": slow, "deadline_s": 0.05},
                       timeout=10)
        assert r.status_code == 504 and r.json()["error_type"] == "timeout"


def _scan_each_engine(stack) -> None:
    """One scan per engine: the load's scans are rare (1%), and the scan latency SLO has a budget only
    once it has seen a scan."""
    for engine in stack.engines:
        r = httpx.post(f"{stack.gateway_url}/query", timeout=30,
                       json={"engine": engine, "sql": "SELECT count(*) FROM lineitem", "kind": "scan"})
        assert r.status_code == 200, r.text


def test_every_panel_target_returns_data(stack) -> None:
    _induce_errors(stack)
    _scan_each_engine(stack)
    spec = LoadSpec(qps=20, duration_s=8, engines=tuple(stack.engines), seed=11, max_queries=400)
    LoadGenerator(stack.gateway_url, spec).run()
    time.sleep(3)  # a few scrapes and rule evaluations after the load
    prom = stack.prom()
    engine = "sales"
    cluster = sorted({p.cluster for p in stack.orchestrator.pods() if p.engine == engine})[0]
    variables = {"engine": engine, "cluster": cluster, "__rate_interval": "1m", "datasource": "prometheus"}
    all_targets = targets(Settings(slo_profile="local"))
    assert len(all_targets) > 50
    # The batch-latency SLO's row has series only where a batch engine runs (engines/fleet.gameday.yaml);
    # this stack runs the default fleet. Its queries are generated like every other SLO row's.
    if not set(BATCH_ENGINES) & set(stack.engines):
        batch = [t for t in all_targets if t.panel.startswith("gateway-batch-latency")]
        assert batch and all("gateway-batch-latency" in t.expr for t in batch)
        all_targets = [t for t in all_targets if t not in batch]
    pending = {f"{t.dashboard} / {t.panel}": render_expr(t.expr, variables) for t in all_targets}
    # Period-budget rules are evaluated every 10 s in the local profile: give a young stack that long.
    deadline = time.monotonic() + 25
    while pending and time.monotonic() < deadline:
        pending = {name: expr for name, expr in pending.items() if not prom.query(expr)}
        if pending:
            time.sleep(1)
    assert not pending, "panels without data:\n" + "\n".join(f"{k}: {v}" for k, v in pending.items())
