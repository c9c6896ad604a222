"""Against Sloth on the same data in a real Prometheus: same alert times, exact budget where Sloth is not.

One month of synthetic traffic with 10× daily swings is backfilled into a TSDB
(``promtool tsdb create-blocks-from openmetrics``); Sloth's committed rules (anchors ``_gen``) and
ours are recorded over it and their alert expressions evaluated minute by minute with range queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from foundation.prometheus import PrometheusClient
from slo import backfill, load_paths, rules, series
from slo.synth import Incident, diurnal, error_ratios
from tests.test_slo_loaders import SLOTH, SLOTH_EXAMPLES

STEP = 60  # evaluation interval
SCRAPE = 30
DAYS = 31
N = DAYS * 1440  # evaluation steps
NS = N * STEP // SCRAPE  # scrapes
COMPARE = 2 * 86400  # the last two days hold the incidents and are compared minute by minute
D, H, M = 86400, 3600, 60
T_CMP = N * STEP - COMPARE
INCIDENTS = [
    Incident(T_CMP + 4 * H, 20 * M, 1.0),  # total outage: page (fast)
    Incident(T_CMP + 12 * H, 2 * H, 0.03),  # 30× burn for 2 h: page
    Incident(T_CMP + 26 * H, 18 * H, 0.005),  # 5× burn for 18 h: ticket
]


CONTRIB = "contrib-denominator-corrected.yaml"
CONTRIB_SPAN = 16 * H


@dataclass
class Lab:
    prom: PrometheusClient
    start: int
    end: int
    total: np.ndarray  # events per interval of the availability series (job="myservice")
    errors: np.ndarray
    cache: dict[str, Any]


def _gen_rules(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((SLOTH / "_gen" / path.name).read_text()) if d]
    return [r for doc in docs for g in (doc.get("spec") or doc)["groups"] for r in g["rules"]]


def _raw_series(ts: np.ndarray) -> tuple[list[backfill.Samples], np.ndarray, np.ndarray]:
    rate = diurnal(NS, SCRAPE, 10, 100)
    # Errors are worse when traffic is low (night batches): the correlation that biases an average
    # of ratios, which weighs a quiet minute as much as a busy one.
    baseline = np.where(rate < 30, 0.0012, 0.0001)
    ratio = error_ratios(NS, SCRAPE, baseline, INCIDENTS)
    total = rate * SCRAPE
    errors = total * ratio
    slow = total * np.minimum(1.0, ratio * 10)
    unhappy = np.minimum(0.9, ratio * 50)
    http = {"job": "myservice", "f1": "v1", "f2": "v2"}
    out = [
        backfill.counters("http_request_duration_seconds_count", {**http, "code": "200"}, ts, total - errors),
        backfill.counters("http_request_duration_seconds_count", {**http, "code": "500"}, ts, errors),
        backfill.counters("apiserver_request_total", {"code": "200"}, ts, total - errors),
        backfill.counters("apiserver_request_total", {"code": "500"}, ts, errors),
        backfill.counters("apiserver_request_duration_seconds_count", {"verb": "GET"}, ts, total),
        backfill.counters("apiserver_request_duration_seconds_bucket", {"verb": "GET", "le": "0.4"}, ts,
                          total - slow),
        backfill.Samples("unifipoller_client_satisfaction_ratio", {"client": "a"}, ts, 1 - unhappy),
    ]
    return out, total, errors


def _ours(path: Path) -> list[rules.SLORules]:
    return rules.generate(load_paths([path]))


def _recordings(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Sloth's SLI recording rules for alert windows, our two base rules)."""
    sloth = [r for r in _gen_rules(path) if "record" in r and r["record"] != "slo:sli_error:ratio_rate30d"
             and not r["expr"].startswith("vector(") and "slo:sli_error:ratio_rate" not in r["expr"]
             and "period" not in r["record"]]
    ours = [r for g in _ours(path) for grp in g.groups for r in grp["rules"]
            if r.get("record") in (series.TOTAL, series.ERRORS)]
    return sloth, ours


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root = tmp_path_factory.mktemp("sloth-compat")
    end = backfill.aligned_end(STEP)
    start = end - (NS - 1) * SCRAPE
    ts = np.arange(start, end + 1, SCRAPE)
    raw, total, errors = _raw_series(ts)
    data = root / "data"
    backfill.create_blocks(raw, data)
    cache: dict[str, Any] = {}
    recorded: dict[tuple[str, tuple[tuple[str, str], ...]], backfill.Samples] = {}
    with backfill.LocalPrometheus(data) as prom, PrometheusClient(prom.url, timeout=300) as client:
        for path in SLOTH_EXAMPLES:
            sloth, ours = _recordings(path)
            windows = [r for r in sloth if r["record"].startswith("slo:sli_error:ratio_rate")]
            rest = [r for r in sloth if r not in windows]
            # Sloth's traffic correction reads 30 days of raw series at every step: compare its
            # numbers over the first incidents only, to keep the suite fast.
            span = CONTRIB_SPAN if path.name == CONTRIB else COMPARE
            # Ours: the longest alert window (3d) before the compared days; Sloth's: the compared days.
            for s in [*backfill.record(client, ours, end - COMPARE - 3 * D, end, STEP, cache),
                      *backfill.record(client, rest + windows, end - COMPARE, end - COMPARE + span, STEP,
                                       cache)]:
                recorded.setdefault((s.name, tuple(sorted(s.labels.items()))), s)
    backfill.create_blocks(list(recorded.values()), data)
    prom = backfill.LocalPrometheus(data).start()
    try:
        yield Lab(PrometheusClient(prom.url, timeout=300), start, end, total, errors, cache)
    finally:
        prom.stop()


def _firing(lab: Lab, expr: str) -> np.ndarray:
    key = f"alert:{expr}"
    if key not in lab.cache:
        steps = np.zeros(COMPARE // STEP + 1, dtype=bool)
        for s in lab.prom.query_range(expr, lab.end - COMPARE, lab.end, STEP):
            idx = ((np.array([p[0] for p in s.points]) - (lab.end - COMPARE)) // STEP).astype(int)
            steps[idx] = True
        lab.cache[key] = steps
    return lab.cache[key]


def _episodes(firing: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], firing.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True))


def _compare(lab: Lab, path: Path) -> list[str]:
    """Per SLO and severity: Sloth's and our firing episodes (start, end in minutes)."""
    sloth_alerts = [r for r in _gen_rules(path) if "alert" in r]
    report = []
    for generated in _ours(path):
        slo = generated.slo
        for severity in ("page", "ticket"):
            theirs = [r for r in sloth_alerts if r["labels"].get("sloth_severity") == severity
                      and f'sloth_id="{slo.id}"' in r["expr"]]
            mine = [r for g in generated.groups for r in g["rules"]
                    if r.get("labels", {}).get("slo_tier", "").startswith(severity)]
            if not theirs:  # Sloth writes no alerts for this SLO (disabled, or OpenSLO without alerting)
                continue
            s = np.logical_or.reduce([_firing(lab, r["expr"]) for r in theirs]) if theirs else None
            o = np.logical_or.reduce([_firing(lab, r["expr"]) for r in mine])
            report.append((slo.id, severity, _episodes(s) if s is not None else [], _episodes(o)))
    return report


# Sloth's contrib plugin multiplies each window's error ratio by that window's share of the 30-day
# traffic: on purpose a different signal, so its alert times are reported, not required to match.
EXACT = [p for p in SLOTH_EXAMPLES if p.name != CONTRIB]


# Sloth's google-30d windows per severity: (short, long, burn-rate factor).
SLOTH_TIERS = {"page": [("5m", "1h", 14.4), ("30m", "6h", 6)], "ticket": [("2h", "1d", 3), ("6h", "3d", 1)]}
NEAR = 0.05  # a burn rate within 5% of a threshold: either estimator's rounding decides the minute


def _sloth_margins(lab: Lab, slo_id: str, severity: str, budget: float) -> np.ndarray:
    """Per minute, how close the nearest Sloth tier of the severity is to its threshold (|margin - 1|)."""
    closest = np.full(COMPARE // STEP + 1, np.inf)
    for short, long_, factor in SLOTH_TIERS[severity]:
        ratios = []
        for window in (short, long_):
            expr = f'slo:sli_error:ratio_rate{window}{{sloth_id="{slo_id}"}}'
            values = np.full(COMPARE // STEP + 1, np.nan)
            for s in lab.prom.query_range(expr, lab.end - COMPARE, lab.end, STEP):
                idx = ((np.array([p[0] for p in s.points]) - (lab.end - COMPARE)) // STEP).astype(int)
                values[idx] = [p[1] for p in s.points]
            ratios.append(values / (factor * budget))
        margin = np.fmin(*ratios)
        closest = np.fmin(closest, np.abs(margin - 1))
    return closest


@pytest.mark.parametrize("path", EXACT, ids=lambda p: p.name)
def test_page_and_ticket_fire_at_sloths_times_within_one_interval(lab: Lab, path: Path) -> None:
    compared = _compare(lab, path)
    slos = {s.id: s for s in load_paths([path])}
    for slo_id, severity, theirs, ours in compared:
        print(f"\n{path.name} {slo_id} {severity}: Sloth {theirs} ours {ours} (minutes into the last 2 days)")
        sloth_on = np.zeros(COMPARE // STEP + 1, dtype=bool)
        ours_on = np.zeros_like(sloth_on)
        for a, b in theirs:
            sloth_on[a:b + 1] = True
        for a, b in ours:
            ours_on[a:b + 1] = True
        differ = np.flatnonzero(sloth_on != ours_on)
        # A minute may differ right next to one of Sloth's transitions (our estimator lags by half a
        # base window) ...
        edges = np.flatnonzero(np.diff(sloth_on.astype(int))) + 0.5
        near_edge = np.array([np.min(np.abs(edges - m)) <= 1.5 if len(edges) else False for m in differ], bool)
        rest = differ[~near_edge]
        if len(rest):
            # ... or where a burn rate sits on its threshold, and then the numbers are shown.
            margins = _sloth_margins(lab, slo_id, severity, float(slos[slo_id].error_budget))[rest]
            print(f"  {len(rest)} other minutes differ, Sloth's burn rate within {margins.max():.2g} (relative) of a "
                  f"threshold there: minutes {rest.tolist()}")
            assert margins.max() < NEAR, (slo_id, severity, rest.tolist(), margins.tolist())
    if compared:
        assert any(severity == "page" and ours for _, severity, _, ours in compared)


def test_denominator_corrected_plugin_numbers(lab: Lab) -> None:
    span = CONTRIB_SPAN // STEP
    for slo_id, severity, theirs, ours in _compare(lab, SLOTH / CONTRIB):
        ours = [(a, min(b, span)) for a, b in ours if a <= span]
        print(f"\ncontrib {slo_id} {severity} (first {span} minutes): Sloth (traffic-corrected) {theirs} ours {ours}")
        assert ours  # ours pages and tickets on the plain ratio of sums


def _subquery(expr: str, window: str) -> str:
    """``expr`` evaluated every evaluation interval over ``window``, exactly as a recording rule would
    have recorded it (the recorded path is proven against the evaluator in test_slo_evaluate)."""
    return f"({expr})[{window}:{STEP}s]"


def test_30d_budget_is_the_exact_ratio_of_sums_and_sloths_is_not(lab: Lab) -> None:
    period = 30 * D
    sel = slice(NS - period // SCRAPE, NS)
    exact = lab.errors[sel].sum() / lab.total[sel].sum()
    sloth_rules, ours_rules = _recordings(SLOTH / "getting-started.yml")
    recorded = {r["record"]: [r] for r in ours_rules}
    err = backfill.inline(series.selector(series.ERRORS, "myservice-requests-availability"), recorded)
    tot = backfill.inline(series.selector(series.TOTAL, "myservice-requests-availability"), recorded)
    # Our period rule: sum_over_time of the two base series, divided (a ratio of sums).
    (ours,) = lab.prom.query(f"sum_over_time({_subquery(err, '30d')}) / sum_over_time({_subquery(tot, '30d')})",
                             lab.end)
    # Sloth's: the mean of its recorded 5m error ratios (sum_over_time / count_over_time).
    five = next(r["expr"] for r in sloth_rules if r["labels"]["sloth_window"] == "5m")
    (theirs,) = lab.prom.query(f"avg_over_time({_subquery(five, '30d')})", lab.end)
    ours_err = abs(ours.value - exact) / exact
    sloth_err = abs(theirs.value - exact) / exact
    budget = 0.001
    print(f"\n30d error ratio: exact {exact:.6g}, ours {ours.value:.6g} ({ours_err:.4%} off), "
          f"Sloth {theirs.value:.6g} ({sloth_err:.2%} off); budget remaining: exact "
          f"{1 - exact / budget:.2%}, ours {1 - ours.value / budget:.2%}, Sloth {1 - theirs.value / budget:.2%}")
    assert ours_err < 0.001
    assert sloth_err > 0.05  # the average of ratios overweights the quiet, error-prone hours
