"""Live evaluation against a real Prometheus holding a backfilled month: same budget as the backtester."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foundation.process import free_port
from foundation.prometheus import PrometheusClient
from slo import DataSourceError, backfill, backtest, evaluate, history, platform_slos, rules, series
from slo.synth import Incident, diurnal, error_ratios

STEP = 60
DAYS = 31
N = DAYS * 1440
ENGINES = ("alpha", "beta")


@dataclass
class Live:
    url: str
    end: int
    counts: history.History


def _gateway_availability():
    return next(s for s in platform_slos() if s.id == "gateway-availability")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Live:
    root = tmp_path_factory.mktemp("slo-live")
    end = backfill.aligned_end(STEP)
    ts = np.arange(end - (N - 1) * STEP, end + 1, STEP)
    index = pd.to_datetime(ts, unit="s", utc=True)
    raw, errors, totals = [], {}, {}
    for i, engine in enumerate(ENGINES):
        total = diurnal(N, STEP, 5, 50, phase=0.3 * i) * STEP
        if engine == "alpha":  # an incident 3 weeks ago, then quiet
            incidents = [Incident(10 * 86400, 40 * 60, 0.2)]
        else:  # a total outage that is still going on at the end of the history
            incidents = [Incident((N - 8) * STEP, 8 * STEP, 1.0)]
        platform = total * error_ratios(N, STEP, 0.0002, incidents)
        user = (total - platform) * 0.01  # bad SQL: never counts against availability
        raw += [
            backfill.counters("gateway_request_duration_seconds_count", {"engine": engine, "status": "ok"}, ts,
                              total - platform - user),
            backfill.counters("gateway_request_duration_seconds_count", {"engine": engine, "status": "error"}, ts,
                              platform + user),
            backfill.counters("gateway_errors_total", {"engine": engine, "error_type": "timeout"}, ts, platform),
            backfill.counters("gateway_errors_total", {"engine": engine, "error_type": "invalid_sql"}, ts, user),
        ]
        key = f'gateway-availability{{engine="{engine}"}}'
        errors[key], totals[key] = platform, total
    counts = history.History(pd.DataFrame(errors, index=index), pd.DataFrame(totals, index=index), STEP)
    data = root / "data"
    backfill.create_blocks(raw, data)
    (generated,) = rules.generate([_gateway_availability()])
    base = [r for g in generated.groups for r in g["rules"] if r.get("record") in (series.TOTAL, series.ERRORS)]
    with backfill.LocalPrometheus(data) as prom, PrometheusClient(prom.url, timeout=300) as client:
        recorded = backfill.record(client, base, end - 30 * 86400 - 3600, end, STEP)
    backfill.create_blocks(recorded, data)
    prom = backfill.LocalPrometheus(data).start()
    try:
        yield Live(prom.url, end, counts)
    finally:
        prom.stop()


def test_live_budget_equals_the_backtester_budget(live: Live) -> None:
    (report,) = evaluate.evaluate_all([_gateway_availability()], live.url, at=live.end)
    exact = backtest.budget_remaining(live.counts, [_gateway_availability()])
    for group in report.groups:
        key = f'gateway-availability{{engine="{group.labels["engine"]}"}}'
        spent_live, spent_exact = 1 - group.budget_remaining, 1 - exact[key]
        print(f"\n{key}: budget left live {group.budget_remaining:.5%}, backtest {exact[key]:.5%} "
              f"(spent differs by {abs(spent_live - spent_exact) / spent_exact:.4%} relative)")
        assert abs(spent_live - spent_exact) / spent_exact < 0.001
    # The same budget again from a Prometheus range instead of a file.
    with PrometheusClient(live.url) as prom:
        ranged = history.from_prometheus(prom, [_gateway_availability()], live.end - 30 * 86400 + STEP, live.end,
                                         STEP)
    again = backtest.budget_remaining(ranged, [_gateway_availability()])
    for key, value in exact.items():
        assert abs((1 - again[key]) - (1 - value)) / (1 - value) < 0.001


def test_burn_rates_active_tiers_and_time_to_exhaustion(live: Live) -> None:
    (report,) = evaluate.evaluate_all([_gateway_availability()], live.url, at=live.end)
    by_engine = {g.labels["engine"]: g for g in report.groups}
    alpha, beta = by_engine["alpha"], by_engine["beta"]
    print("\n" + report.render())
    assert alpha.status == "ok" and alpha.tiers_active == []
    assert beta.status == "burning" and {"page-fast", "page-slow"} <= set(beta.tiers_active)
    five = next(w for w in beta.windows if w.window == "5m")
    assert five.error_ratio == pytest.approx(1.0) and five.burn_rate == pytest.approx(1000)
    assert beta.sli == pytest.approx(0.0, abs=1e-9)
    hour = next(w for w in beta.windows if w.window == "1h")
    assert beta.time_to_exhaustion_s == pytest.approx(beta.budget_remaining * 30 * 86400 / hour.burn_rate)
    assert math.isinf(alpha.time_to_exhaustion_s) or alpha.time_to_exhaustion_s > 86400


def test_no_data_is_reported_as_no_data(live: Live) -> None:
    idle = next(s for s in platform_slos() if s.id == "query-core-availability")
    (report,) = evaluate.evaluate_all([idle], live.url, at=live.end)
    assert report.groups == [] and "no data" in report.render()
    text = json.dumps(report.to_dict(), allow_nan=False)  # no NaN anywhere
    assert "100" not in text.split('"groups"')[1]


def test_unreachable_prometheus_is_a_data_source_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DataSourceError, match="cannot connect"):
        evaluate.evaluate_all(platform_slos()[:1], url)
    run = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "report", "--prometheus", url],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("error: Prometheus at") and "Traceback" not in run.stderr


def test_cli_report_and_backtest(live: Live, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "report", "--prometheus",
                          live.url, "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    reports = {r["slo"]: r for r in json.loads(run.stdout)}
    assert {g["status"] for g in reports["gateway-availability"]["groups"]} == {"ok", "burning"}
    path = tmp_path / "history.parquet"
    history.write_counts(live.counts, path)
    run = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "backtest", str(path),
                          "--compare", "pyrra-30d"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "google-30d" in run.stdout and "pyrra-30d" in run.stdout and "precision" in run.stdout


def test_the_shared_client_splits_long_ranges_and_posts_long_queries() -> None:
    import httpx

    from foundation import prometheus as promapi

    seen: list[tuple[str, dict[str, str]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        params = dict(httpx.QueryParams(request.content.decode())) if request.method == "POST" \
            else dict(request.url.params)
        seen.append((request.method, params))
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        assert (end - start) / step < promapi.MAX_POINTS  # what Prometheus accepts
        values = [[start + i * step, "1"] for i in range(int((end - start) // step) + 1)]
        return httpx.Response(200, json={"status": "success", "data": {
            "resultType": "matrix", "result": [{"metric": {"slo": "a"}, "values": values}]}})

    client = PrometheusClient("http://prom", client=httpx.Client(transport=httpx.MockTransport(answer)))
    (joined,) = client.query_range("up", 0, 30 * 86400, 60)
    assert len(seen) == 4 and {m for m, _ in seen} == {"GET"}
    stamps = [t for t, _ in joined.points]
    assert stamps == [i * 60.0 for i in range(30 * 1440 + 1)]  # every point once, in order
    seen.clear()
    client.query_range("up" + " + 0" * 2000, 0, 3600, 60)
    assert [m for m, _ in seen] == ["POST"] and seen[0][1]["query"].startswith("up + 0")
