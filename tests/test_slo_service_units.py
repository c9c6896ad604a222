"""The SLO service's pure parts: number formatting, the SVG chart and the page views (no I/O)."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest

from slo.service import fmt, svg, views
from slo.service.models import SLOList, SLOSummary
from slo.service.source import GroupState, SLOState, TierState, WindowState, sort_key
from slo.specs import platform_slos
from slo.windows import LOCAL, apply_profile, effective_tiers


@pytest.mark.parametrize(("value", "text"), [
    (None, "no data"), (math.nan, "no data"), (math.inf, "no data"),
    (0.99995, "99.995%"), (0.999999, "99.9999%"), (1.0, "100.00%"), (0.5, "50.00%"), (-2.5, "-250.00%"),
])
def test_percent_never_rounds_up_to_100_and_says_no_data(value: float | None, text: str) -> None:
    assert fmt.percent(value) == text


def test_durations_and_burn_rates_read_as_on_call_says_them() -> None:
    assert fmt.duration(3725) == "1h 2m"
    assert fmt.duration(90061) == "1d 1h"
    assert fmt.duration(None) == "no data"
    assert fmt.burn(14.4) == "14.4×" and fmt.burn(0.273) == "0.27×" and fmt.burn(None) == "no data"


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    ticks = svg.nice_ticks(-1.0, 1.0)
    assert ticks[0] <= -1 and ticks[-1] >= 1
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and steps.pop() in (0.25, 0.5)


def test_chart_breaks_lines_at_no_data_and_escapes_labels() -> None:
    points = [(0.0, 1.0), (10.0, 0.9), (20.0, None), (30.0, 0.7), (40.0, 0.6)]
    out = svg.render(svg.Chart("budget <b>", [svg.Line("engine=<x>", points)], x_min=0, x_max=40))
    assert out.count('class="series"') == 2  # the gap is a gap, not a line through a made-up value
    assert "<b>" not in out and "&lt;b&gt;" in out and "engine=&lt;x&gt;" in out
    assert "NaN" not in out


def test_chart_without_values_says_so() -> None:
    out = svg.render(svg.Chart("budget", [svg.Line("a", [(0.0, None), (1.0, math.nan)])]))
    assert "no data in this range" in out and "polyline" not in out


def test_chart_clips_below_the_floor_and_shades_the_unrecorded_start() -> None:
    line = svg.Line("a", [(t, None if t < 50 else -30.0) for t in range(0, 101, 10)])
    out = svg.render(svg.Chart("b", [line], y_floor=-1.0, y_format=lambda v: fmt.percent(v, 0), x_min=0, x_max=100))
    assert "values below -100% drawn at -100%" in out and 'class="nodata"' in out
    ys = {float(m) for m in re.findall(r'points="[^"]*"', out) for m in re.findall(r",([\d.]+)", m)}
    assert len(ys) == 1  # every point sits on the floor


def _state(budgets: list[float | None]) -> SLOState:
    slo = apply_profile(platform_slos()[0], LOCAL)
    tiers = effective_tiers(slo, LOCAL)
    groups = []
    for i, budget in enumerate(budgets):
        w = WindowState(60, None if budget is None else 0.0005, None if budget is None else 0.5)
        tstates = tuple(TierState(t, float(t.burn_rate(slo.period)), float(t.burn_rate(slo.period) * Fraction(1, 1000)),
                                  w, w, False) for t in tiers)
        groups.append(GroupState({"engine": f"e{i}"}, None if budget is None else 0.9995,
                                 None if budget is None else 0.9995, budget, w.burn_rate, None, (w,), tstates))
    return SLOState(slo, LOCAL, tiers, tuple(groups))


def test_status_page_sorts_worst_first_and_shows_no_data_last() -> None:
    html = views.status_page([_state([0.8, None, -0.5])])
    rows = re.findall(r'<tr class="slo-row[^"]*".*?</tr>', html)
    assert [re.search(r"engine=(e\d)", r).group(1) for r in rows] == ["e2", "e0", "e1"]  # type: ignore[union-attr]
    assert "exhausted" in rows[0] and "no data" in rows[2] and "100" not in rows[2]
    assert sort_key(None) > sort_key(-10.0)


def test_api_models_say_null_for_no_data() -> None:
    body = SLOList(slos=[SLOSummary.of(_state([None]))]).model_dump_json()
    assert '"budget_remaining":null' in body and "NaN" not in body and '"has_data":false' in body
