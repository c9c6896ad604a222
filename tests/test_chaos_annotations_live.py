"""Live proof of the chaos annotations: a real fault injected by the runner on the session stack is
scraped by its Prometheus as chaos_fault_active 1 while it acts and 0, then nothing, after the
rollback; and every dashboard's annotation query, run over the fault's time range, returns it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import dashboards
from chaos.backends import LocalBackend
from chaos.experiment import parse_experiment
from chaos.run import Platform, run_experiment
from chaos.scrape import FaultExporter
from dashboards import render_expr
from enginewatch.prometheus import CHAOS_SD_DIR
from exporters import contract as c
from foundation.process import wait_until
from foundation.promql import sel

pytestmark = pytest.mark.timeout(120)

NAME = "annotations-live"
EXPERIMENT = {
    "name": NAME, "load": {"qps": 10, "duration_s": 5, "engines": ["analytics"], "kinds": ["lookup", "aggregate"],
                           "deadline_s": 10},
    # In the node process, no kernel mechanism needed: 50 ms before each storage read, for 3 s.
    "method": [{"at_s": 1, "action": "slow_storage", "duration_s": 3, "latency_ms": 50,
                "target": {"engine": "analytics", "mode": "one"}}],
    "hypothesis": {"lost_queries": {"max": 0}},
    "rollbacks": [{"action": "wait_ready", "timeout_s": 30}],
    "blast_radius": {"max_pods": 1, "min_ready_nodes_per_engine": 1},
}
#: A scrape interval of the local profile, and a little for the scrape's own time.
SCRAPE_S = 1.0
MARGIN_S = 0.5


def _chaos_annotations(model: dict) -> list[dict]:
    return [a for a in model.get("annotations", {}).get("list", [])
            if c.CHAOS_FAULT_ACTIVE.name in a.get("target", {}).get("expr", "")]


def test_a_real_fault_is_scraped_and_every_dashboard_annotates_it(stack, tmp_path: Path) -> None:  # noqa: ANN001
    backend = LocalBackend.from_stack(stack)
    platform = Platform(backend, stack.gateway_url, stack.prometheus_url, None, stack.fleet.grace_period_s)
    # As `enginewatch chaos run` against a stack of another process: found from Prometheus' own config.
    cli = FaultExporter()
    cli_announced = cli.announce_soon(stack.prometheus_url)
    journal = run_experiment(parse_experiment(EXPERIMENT), platform, tmp_path)
    sd_dir = stack.prometheus.state_dir / CHAOS_SD_DIR
    try:
        assert cli_announced() is None
        port = str(cli.address).rsplit(":", 1)[1]
        cli_file = sd_dir / f"chaos-{os.getpid()}-{port}.json"
        assert cli_file.exists()
    finally:
        cli.close()
    assert not cli_file.exists()
    (fault,) = journal.faults
    assert fault.injected, fault.error
    assert all(r.ok for r in journal.rollbacks), journal.rollbacks
    assert not [n for n in journal.notes if "chaos_fault_active" in n], journal.notes
    (pod,) = fault.pods
    where = next(p for p in backend.pods() if p.pod == pod)
    # Announced in the stack's own state directory, as this process's file.
    announced = list(sd_dir.glob(f"chaos-{os.getpid()}-*.json"))
    assert len(announced) == 1 and str(announced[0]).startswith(str(stack.state_dir))

    prom = stack.prom()
    selector = sel(c.CHAOS_FAULT_ACTIVE, job=c.JOB_CHAOS, experiment=NAME)
    now = time.time()
    (series,) = prom.samples(selector, now - fault.ts + 5, now)
    assert series.labels | {"instance": ""} == {
        "__name__": c.CHAOS_FAULT_ACTIVE.name, "job": c.JOB_CHAOS, "instance": "", "experiment": NAME,
        "step": "0", "action": "slow_storage", "engine": "analytics", "cluster": where.cluster, "node": where.node,
        "pod": pod}
    active = [t for t, v in series.points if v == 1]
    # Scraped as 1 while the fault acted, never outside it, and 0 once it was lifted.
    assert len(active) >= 2, series.points
    assert fault.ts - MARGIN_S <= min(active) and max(active) <= fault.end_ts + MARGIN_S, (fault.ts, fault.end_ts,
                                                                                          series.points)
    assert [v for t, v in series.points if t > fault.end_ts + SCRAPE_S] and \
        all(v == 0 for t, v in series.points if t > fault.end_ts + SCRAPE_S), series.points
    # After the rollback the series ends: Prometheus marks it stale, an instant query finds nothing.
    wait_until(lambda: not prom.query(selector), 10, interval=0.25, what="chaos_fault_active to go stale")

    models = dashboards.models()
    assert len(models) == 5
    for model in models:
        (annotation,) = _chaos_annotations(model)
        expr = render_expr(annotation["target"]["expr"], {"__interval": "2s"})
        result = prom.query_range(expr, fault.ts - 2, fault.end_ts + 2, 1)
        hits = [s for s in result if s.labels.get("experiment") == NAME]
        assert len(hits) == 1, (model["uid"], expr, result)
        assert hits[0].labels == {k: v for k, v in series.labels.items() if k not in ("__name__", "job", "instance")}
        assert any(v > 0 and fault.ts - 1 <= t <= fault.end_ts + 2 for t, v in hits[0].points), hits[0].points
