"""Compliance history from a real Prometheus over backfilled months: the SLO service's JSON, CSV and
markdown and ``enginewatch slo compliance`` agree with the per-month counts the data was made of.

The chain is the deployed one, in the past: raw counters (promtool blocks) → the generated base and
info rules evaluated by Prometheus over them (``backfill.record``) → the generated burn-rate alert
expressions evaluated over those, written as ``ALERTS`` the way Prometheus records firing alerts →
the compliance queries. A 10-minute rule cadence keeps two months of history to seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from enginewatch.cli import app as cli
from foundation.prometheus import PrometheusClient
from slo import backfill, rules, series, windows
from slo.loaders import load_paths
from slo.model import SLO
from slo.service.app import ServiceConfig, create_app

STEP = 600  # the proof profile's evaluation interval and base window
SCRAPE = 300
START = int(datetime(2026, 9, 20, tzinfo=UTC).timestamp())
AT = int(datetime(2026, 11, 10, tzinfo=UTC).timestamp())  # "now": November is running
OCT = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
NOV = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
RPS = 20
OUTAGES = [(int(datetime(2026, 10, 10, 12, tzinfo=UTC).timestamp()), 2 * 3600),
           (int(datetime(2026, 10, 31, 23, tzinfo=UTC).timestamp()), 40 * 60)]  # ends a month


@dataclass
class Live:
    url: str
    slo: SLO
    spec: Path
    expected: dict[str, float]  # month label -> error ratio, from the counters themselves


def _profile(slo: SLO) -> windows.WindowProfile:
    google = windows.profile_for(slo)
    tiers = tuple(replace(t, short_window=max(t.short_window, STEP)) for t in google.tiers)
    return replace(google, name="proof-10m", tiers=tiers, interval=STEP, base_window=STEP, budget_interval=STEP,
                   scrape_interval=SCRAPE, no_data_for=1800)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("compliance")
    spec = root / "web.yml"
    spec.write_text(yaml.safe_dump({"version": "enginewatch/v1", "service": "web", "slos": [{
        "name": "availability", "objective": 99.9, "period": "month",
        "sli": {"bad": 'http_requests_total{code="500"}', "total": "http_requests_total"}}]}))
    (slo,) = load_paths([spec])
    profile = _profile(slo)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(windows.PROFILES, profile.name, profile)
        yield from _backfilled(root, spec, slo, profile)


def _backfilled(root: Path, spec: Path, slo: SLO, profile: windows.WindowProfile) -> Iterator[Live]:
    ts = np.arange(START, AT + 1, SCRAPE)
    total = np.full(len(ts), float(RPS * SCRAPE))
    bad = total * 0.0005  # half the budget: September met
    bad[ts >= NOV] = 0.0  # a clean November so far
    for start, length in OUTAGES:
        bad[(ts > start) & (ts <= start + length)] = total[0]  # every request fails
    total[0] = bad[0] = 0.0  # counters start at zero
    expected = {}
    for label, lo, hi in (("2026-09", START, OCT), ("2026-10", OCT, NOV), ("2026-11", NOV, AT)):
        # The base samples of (lo, hi] hold the increments of (lo, hi]: base window = step = 2 scrapes.
        sel = (ts > lo) & (ts <= hi)
        expected[label] = float(bad[sel].sum() / total[sel].sum())
    data = root / "data"
    block = 30 * 86400  # few promtool runs: a month per block
    backfill.create_blocks([backfill.counters("http_requests_total", {"code": "500"}, ts, bad),
                            backfill.counters("http_requests_total", {"code": "200"}, ts, total - bad)], data, block)
    (generated,) = rules.generate([slo], rules.Options(profile=profile.name))
    fast = generated.groups[0]["rules"]
    recorded = [r for r in fast if r.get("record") in (series.TOTAL, series.ERRORS, series.INFO)]
    with backfill.LocalPrometheus(data) as prom, PrometheusClient(prom.url, timeout=120) as client:
        base = backfill.record(client, recorded, START + STEP, AT, STEP)
    backfill.create_blocks(base, data, block)
    # A firing alert is an ALERTS sample of value 1 at each evaluation its expression returns something.
    alerts = [{"record": "ALERTS", "expr": f"{r['expr']} * 0 + 1",
               "labels": {**r["labels"], "alertname": r["alert"], "alertstate": "firing"}}
              for r in fast if r.get("alert") == slo.alert_name]
    with backfill.LocalPrometheus(data) as prom, PrometheusClient(prom.url, timeout=120) as client:
        firing = backfill.record(client, alerts, START + STEP, AT, STEP)
    assert firing, "the outages fired no alert"
    backfill.create_blocks(firing, data, block)
    prom = backfill.LocalPrometheus(data).start()
    try:
        yield Live(prom.url, slo, spec, expected)
    finally:
        prom.stop()


def test_the_service_reports_each_month_from_its_own_samples(live: Live) -> None:
    config = ServiceConfig(prometheus=live.url, specs=[live.spec])
    with TestClient(create_app(config)) as client:
        r = client.get(f"/api/v1/slos/{live.slo.id}/compliance", params={"count": 3, "at": str(AT)})
        assert r.status_code == 200, r.text
        body = r.json()
        csv_text = client.get(f"/api/v1/slos/{live.slo.id}/compliance.csv", params={"count": 3, "at": str(AT)})
        md = client.get(f"/api/v1/slos/{live.slo.id}/compliance", params={"count": 3, "at": str(AT),
                                                                           "format": "markdown"})
    assert (body["unit"], body["timezone"], body["budget_basis"]) == ("month", "UTC", "30d")
    rows = {p["period"]: p for p in body["periods"]}
    assert list(rows) == ["2026-09", "2026-10", "2026-11"]
    for label, ratio in live.expected.items():
        assert rows[label]["attainment"] == pytest.approx(1 - ratio, rel=1e-9, abs=1e-12), label
        assert rows[label]["budget_spent"] == pytest.approx(ratio / 0.001, rel=1e-6, abs=1e-9), label
    sep, oct_, nov = rows["2026-09"], rows["2026-10"], rows["2026-11"]
    assert sep["met"] and sep["budget_spent"] == pytest.approx(0.5, rel=1e-6) and sep["incidents"] == 0
    # October: two outages, two incidents (every tier of one outage is one incident); budget overspent.
    assert not oct_["met"] and oct_["budget_spent"] > 1 and (oct_["incidents"], oct_["pages"]) == (2, 2)
    # November so far: the alerts of 31 October still firing past midnight are October's incident.
    assert nov["partial"] and nov["attainment"] == 1.0 and nov["met"] and nov["incidents"] == 0
    assert nov["until"].startswith("2026-11-10T00:00:00") and nov["end"].startswith("2026-12-01")
    assert csv_text.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(csv_text.text)))
    assert [(r["period"], r["met"], r["incidents"]) for r in table] == [
        ("2026-09", "true", "0"), ("2026-10", "false", "2"), ("2026-11", "true", "0")]
    assert float(table[1]["attainment"]) == oct_["attainment"]
    assert md.headers["content-type"].startswith("text/markdown")
    assert "| 2026-10 |" in md.text and "MISSED" in md.text and "met (so far)" in md.text


def test_the_cli_prints_the_same_history_by_week(live: Live) -> None:
    runner = CliRunner()
    args = ["slo", "compliance", live.slo.id, "--spec", str(live.spec), "--prometheus", live.url, "--at", str(AT)]
    weeks = runner.invoke(cli, [*args, "--period", "week", "--count", "7", "--format", "csv"])
    assert weeks.exit_code == 0, weeks.output
    rows = list(csv.DictReader(io.StringIO(weeks.output)))
    assert [r["period"] for r in rows] == [f"2026-W{w}" for w in range(40, 47)]
    # ISO week 41 (5-11 October) holds the first outage, week 44 (26 Oct - 1 Nov) the second.
    assert {r["period"] for r in rows if r["incidents"] != "0"} == {"2026-W41", "2026-W44"}
    assert rows[-1]["partial"] == "true" and rows[-1]["start"] == "2026-11-09T00:00:00Z"
    table = runner.invoke(cli, [*args, "--count", "3"])
    print("\n" + table.output + weeks.output)
    assert table.exit_code == 0 and "2026-10" in table.output and "MISSED" in table.output
    md = runner.invoke(cli, [*args, "--count", "2", "--format", "markdown"])
    assert md.exit_code == 0 and md.output.startswith("### web-availability") and "| 2026-11 |" in md.output
