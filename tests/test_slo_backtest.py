"""The backtester replays policies exactly as the rules define them and scores them on history."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foundation.promql import Selector
from slo import backtest, history, synth
from slo.model import SLO, EventsSLI
from slo.promql import SelectorQuery

STEP = 60
N = 30 * 1440
Q = SelectorQuery(Selector("x_total"))


def _one(ratio: np.ndarray, rate: float = 10.0) -> tuple[list[SLO], history.History]:
    slo = SLO(service="svc", name="avail", objective=Fraction(999, 1000), sli=EventsSLI(total=Q, bad=Q))
    index = pd.date_range("2026-01-01", periods=len(ratio), freq="60s", tz="UTC")
    total = np.full(len(ratio), rate * STEP)
    h = history.History(pd.DataFrame({slo.id: total * ratio}, index=index),
                        pd.DataFrame({slo.id: total}, index=index), STEP)
    return [slo], h


def test_total_outage_pages_in_one_interval_and_spends_the_expected_budget() -> None:
    ratio = np.full(N, 0.0001)
    ratio[20000:20020] = 1.0  # a 20-minute total outage
    slos, h = _one(ratio)
    rep = backtest.replay(h, slos, "google-30d")
    fast = rep.firing["page-fast"][0]
    assert not fast[:20000].any() and fast[20000]  # 1 minute of outage is 1.7% > 1.44% of the hour
    incidents = pd.DataFrame({"slo": [slos[0].id], "start": [h.total.index[19999]], "end": [h.total.index[20019]]})
    scores = backtest.score(rep, slos, incidents)
    assert scores.loc["page", "recall"] == 1 and scores.loc["page", "precision"] == 1
    assert scores.loc["page", "detection_s"] == 60
    # Burn 1000 for one minute of a 30-day period: 1000 / 43200 of the budget.
    assert scores.loc["page", "budget_before_page"] == pytest.approx(1000 / 43200, rel=0.01)
    # The page resets once the 5-minute window is clean again (the 6h tier keeps it for 30 minutes).
    assert 0 < scores.loc["page-fast", "reset_s"] <= 5 * 60


def test_no_traffic_never_fires_and_never_yields_nan() -> None:
    ratio = np.full(N, 1.0)
    slos, h = _one(ratio, rate=0.0)
    rep = backtest.replay(h, slos, "google-30d")
    assert not any(f.any() for f in rep.firing.values())


def test_low_traffic_guard_keeps_one_error_from_paging() -> None:
    slos, h = _one(np.zeros(N), rate=0.5 / 60)  # one event every two minutes: 30 per hour
    h.errors.iloc[5000, 0] = h.total.iloc[5000, 0]  # one failed event
    assert not backtest.replay(h, slos, "google-30d").firing["page-fast"].any()
    unguarded = [SLO(**{**slos[0].__dict__, "alerting": slos[0].alerting.__class__(min_events=0)})]
    assert backtest.replay(h, unguarded, "google-30d").firing["page-fast"].any()


def test_pyrra_for_delays_firing() -> None:
    ratio = np.full(N, 0.0001)
    ratio[20000:20060] = 1.0
    slos, h = _one(ratio)
    ours = np.flatnonzero(backtest.replay(h, slos, "google-30d").firing["page-fast"][0])[0]
    pyrra = np.flatnonzero(backtest.replay(h, slos, "pyrra-30d").firing["page-fast"][0])[0]
    assert pyrra - ours == 2  # Pyrra's `for: 2m`


def test_compare_policies_side_by_side_and_file_round_trip(tmp_path: Path) -> None:
    slos, h, incidents = synth.fleet(8, days=30, seed=3)
    for name in ("h.csv", "h.parquet"):
        history.write_counts(h, tmp_path / name)
        back = history.read_counts(tmp_path / name)
        assert np.array_equal(back.errors.to_numpy(), h.errors.to_numpy()) and back.step == 60
    table = backtest.compare(h, slos, ["google-30d", "workbook-30d", "pyrra-30d"], incidents)
    print("\n" + table.round(3).to_string())
    assert set(table.columns.get_level_values(0)) == {"google-30d", "workbook-30d", "pyrra-30d"}
    assert "ticket-fast" not in table["workbook-30d"].dropna(how="all").index
    page = table.xs("page")
    assert (page.xs("precision", level=1) > 0.9).all() and (page.xs("recall", level=1) > 0.5).all()


def test_derived_incidents_when_none_are_given() -> None:
    ratio = np.full(N, 0.0001)
    ratio[20000:20120] = 0.05  # 50x burn for 2 hours: 1/3 of a 30-day budget... no: 50*2h/720h
    slos, h = _one(ratio)
    found = backtest.incidents_from(h, slos)
    assert len(found) == 1
    assert found.iloc[0]["budget_spent"] == pytest.approx(50 * 2 / 720, rel=0.05)
