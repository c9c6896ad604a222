"""PromQL built from the contract: wrong labels and wrong functions fail at build time, and the
trickiest shipped expressions compute what their panels claim (evaluated by promtool's rule-test
engine, Prometheus' own PromQL engine, on synthetic series)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import dashboards
from dashboards import promql as q
from dashboards import slo_series
from exporters import contract as c
from foundation import promtool
from slo import series as slo_names

ALL_VALUES = {"engine": ".*", "cluster": ".*", "slo": ".*", "__rate_interval": "1m"}


def test_selectors_are_scoped_to_job_and_topology_the_metric_has() -> None:
    assert q.sel(c.QUEUED_QUERIES) == \
        f'{c.QUEUED_QUERIES.name}{{job="{c.JOB_NODE}", engine=~"$engine", cluster=~"$cluster"}}'
    assert q.sel(c.GATEWAY_REQUEST_DURATION, "count") == \
        f'{c.GATEWAY_REQUEST_DURATION.count}{{job="{c.JOB_GATEWAY}", engine=~"$engine"}}'
    assert q.sel(c.ENGINE_STATE, scoped=False, match={"state": "RUNNING"}) == \
        f'{c.ENGINE_STATE.name}{{job="{c.JOB_ORCHESTRATOR}", state="RUNNING"}}'
    assert q.sel(c.QUERY_ERRORS, match={"error_type": q.Re("a|b")}).endswith(', error_type=~"a|b"}')


@pytest.mark.parametrize("build", [
    lambda: q.sel(c.GATEWAY_REQUEST_DURATION, "count", match={"cluster": "c1"}),  # the gateway histogram has no cluster
    lambda: q.rate(c.GATEWAY_RETRIES, (q.CLUSTER,)),
    lambda: q.gauge(c.ENGINE_ACTIVE_CLUSTERS, (q.CLUSTER,)),
    lambda: q.rate(c.QUERY_SLOTS),  # a gauge
    lambda: q.rate(c.QUERY_DURATION),  # a histogram, without saying which series
    lambda: q.gauge(c.QUERY_ERRORS),  # a counter read as a gauge
    lambda: q.quantile(0.9, c.QUERY_ERRORS),  # not a histogram
    lambda: q.state_index(c.ENGINE_ACTIVE_CLUSTERS, c.ENGINE_STATES, (q.ENGINE,)),  # no state label
])
def test_contract_violations_fail_at_build_time(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


def test_only_contract_labels_can_be_named() -> None:
    with pytest.raises(ValueError, match="not declared"):
        q._declared("enigne")


def _expr(dashboard: str, panel: str, index: int = 0) -> str:
    exprs = [t.expr for t in dashboards.targets()
             if t.dashboard == f"Enginewatch / {dashboard}" and t.panel == panel]
    return dashboards.render_expr(exprs[index], ALL_VALUES)


def _evaluate(tmp_path: Path, series: dict[str, str], expr: str, expected: list[tuple[str, float]],
              eval_time: str = "5m") -> None:
    """Assert that ``expr`` at ``eval_time`` over ``series`` (one sample a minute) gives exactly
    ``expected`` (promtool compares values exactly)."""
    test = {"evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "promql_expr_test": [{"expr": expr, "eval_time": eval_time,
                              "exp_samples": [{"labels": labels, "value": value} for labels, value in expected]}],
    }]}
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([str(promtool.find("promtool")), "test", "rules", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_engine_state_timeline_gives_the_index_of_the_current_state(tmp_path: Path) -> None:
    series = {}
    for engine, current in (("sales", "RUNNING"), ("etl", "DRAINING"), ("new", "STARTING")):
        for state in c.ENGINE_STATES:
            labels = f'job="{c.JOB_ORCHESTRATOR}", engine="{engine}", state="{state}"'
            series[f"{c.ENGINE_STATE.name}{{{labels}}}"] = "1x10" if state == current else "0x10"
    _evaluate(tmp_path, series, _expr("Engine lifecycle", "Engine state"), [
        ('{engine="sales"}', c.ENGINE_STATES.index("RUNNING")),
        ('{engine="etl"}', c.ENGINE_STATES.index("DRAINING")),
        ('{engine="new"}', c.ENGINE_STATES.index("STARTING")),
    ])


def _slo_series(view: slo_series.SLOView) -> dict[str, str]:
    """Base series of a per-engine SLO at 8 events/s: sales fails 1/32 of them throughout, etl did
    too but has been clean for the last 10 minutes."""
    series = {}
    for engine, errors in (("sales", "0.25x60"), ("etl", "0.25x50 0x10")):
        labels = f'{{{slo_series.SLO_LABEL}="{view.id}", engine="{engine}"}}'
        series[f"{slo_names.TOTAL}{labels}"] = "8x60"
        series[f"{slo_names.ERRORS}{labels}"] = errors
    return series


def test_burn_rate_is_the_window_error_ratio_over_the_budget(tmp_path: Path) -> None:
    view = slo_series.views()[0]
    tier = view.tiers[0]
    panel = f"{view.id}: {tier.name} burn rate ({slo_series.window(tier.long_window)} and " \
            f"{slo_series.window(tier.short_window)} above {view.factor(tier):g}x)"
    budget = float(view.slo.error_budget)
    _evaluate(tmp_path, _slo_series(view), _expr("SLOs", panel, 0), [
        (f'{{{slo_series.SLO_LABEL}="{view.id}", engine="sales"}}', (0.25 / 8) / budget),
        # 51 of the 61 samples in [0m, 60m] carried errors
        (f'{{{slo_series.SLO_LABEL}="{view.id}", engine="etl"}}', (0.25 * 51 / (8 * 61)) / budget),
    ], eval_time="60m")


def test_a_tier_burns_only_when_both_windows_exceed_its_factor(tmp_path: Path) -> None:
    view = slo_series.views()[0]
    assert view.per_engine and (0.25 / 8) / float(view.slo.error_budget) > view.factor(view.tiers[0])
    _evaluate(tmp_path, _slo_series(view), _expr("SLOs", f"{view.id}: burn-rate tiers", 0), [
        (f'{{{slo_series.SLO_LABEL}="{view.id}", engine="sales"}}', 1),
        (f'{{{slo_series.SLO_LABEL}="{view.id}", engine="etl"}}', 0),
    ], eval_time="60m")


def test_platform_error_ratio_counts_platform_errors_only(tmp_path: Path) -> None:
    g = f'job="{c.JOB_GATEWAY}", engine="sales"'
    series = {
        f'{c.GATEWAY_ERRORS.name}{{{g}, error_type="timeout"}}': "0+1x10",
        f'{c.GATEWAY_ERRORS.name}{{{g}, error_type="unavailable"}}': "0+1x10",
        f'{c.GATEWAY_ERRORS.name}{{{g}, error_type="invalid_sql"}}': "0+50x10",
        f'{c.GATEWAY_REQUEST_DURATION.count}{{{g}, status="ok"}}': "0+150x10",
        f'{c.GATEWAY_REQUEST_DURATION.count}{{{g}, status="error"}}': "0+50x10",
    }
    _evaluate(tmp_path, series, _expr("Engines overview", "Platform error ratio by engine"),
              [('{engine="sales"}', 0.01)])
    _evaluate(tmp_path, series, _expr("Engines overview", "User error ratio by engine"),
              [('{engine="sales"}', 0.25)])
