"""The verdicts of issue 9 on crafted ledgers: failover pooled over repetitions with its intervals, time to
detect and to mitigate, latency before/during/after, the false-page check, and repeated steps."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from chaos.activity import Context
from chaos.backend import EngineInfo
from chaos.experiment import BlastRadius, ExpectedAlert, parse_experiment
from chaos.fault import Fault
from chaos.journal import Journal
from chaos.run import _schedule, plan_against
from chaos.verdicts import (
    AlertObservation,
    failover_verdict,
    faults_verdict,
    impact_verdict,
    steady_state_verdict,
)
from chaos.verdicts.failover import pooled
from chaos.verdicts.impact import latency_phases, mitigated_at
from chaos.verdicts.steady import firing_starts
from tests.test_chaos_format import VALID, pods, problems_of, with_
from tests.test_chaos_verdicts import T0, ev, fault, frame, q

PODS = ("sales-c1-n1", "sales-c1-n2", "sales-c2-n1", "sales-c2-n2")


def rep(i: int, at: float, pod: str = "sales-c1-n1", lifted: float | None = None, action: str = "kill_pod") -> Fault:
    f = fault(action, at=at, pods=(pod,), lifted=lifted)
    f.repetition = i
    return f


# --- failover, pooled ------------------------------------------------------------------------------------

def repeated_kills() -> tuple[pd.DataFrame, list[Fault]]:
    """Three kills 4 s apart; each hits the queries in flight on its pod, retried elsewhere."""
    faults = [rep(0, 5.0), rep(1, 9.0, "sales-c2-n1"), rep(2, 13.0, "sales-c1-n2")]
    entries = [q(i, i * 0.1, i * 0.1 + 0.02, pod=PODS[i % 4]) for i in range(170)]
    entries += [
        q(1001, 4.9, 5.3, pod="sales-c2-n2", attempts=2, server_s=0.1),  # hit by rep 0: re-served from 5.2
        q(1002, 8.95, 9.4, pod="sales-c1-n1", attempts=2, server_s=0.3),  # rep 1: re-served from 9.1
        q(1003, 9.05, 9.25, pod="sales-c1-n1", attempts=2, server_s=0.1),  # sent to the dead pod: 9.15
        q(1004, 12.8, 13.9, pod="sales-c2-n1", attempts=3, server_s=0.2),  # rep 2: from 13.7
    ]
    return frame(*entries), faults


def test_failover_pools_the_affected_queries_of_every_repetition() -> None:
    df, faults = repeated_kills()
    events = [ev("pod_exited", 5.05), ev("pod_exited", 9.1, pod="sales-c2-n1")]  # rep 2 unseen
    v = failover_verdict(df, events, faults, goals={"time_to_failover_p99_s": 1.0, "time_to_detect_s": 1.0})
    f = v.figures
    assert (f.repetitions, f.affected_queries, f.served_elsewhere, f.client_failures) == (3, 4, 4, 0)
    # Each delay counts from the repetition that hit the query (or its own start, if later): 0.2, 0.1
    # (9.1 - 9.0), 0.1 (9.15 - 9.05), 0.7 s.
    assert sorted(f.delays_s) == pytest.approx([0.1, 0.1, 0.2, 0.7])
    assert f.time_to_failover_max_s == pytest.approx(0.7)
    assert f.time_to_failover_p50_s == pytest.approx(0.15)
    assert f.pods == ("sales-c1-n1", "sales-c2-n1", "sales-c1-n2") and f.fault_ts == T0 + 5.0
    assert f.detected == 2 and f.time_to_detect_s == pytest.approx(0.1)
    # Four values bound no p99 from above. From below: all four fall short of the true p99 with
    # P = 1 - 0.99**4 = 3.9 % > 2.5 %, so not the slowest; the third, 0.2 s (P(B <= 2) ~ 6e-6).
    assert f.time_to_failover_p99_ci_high_s is None and f.time_to_failover_p99_ci_low_s == pytest.approx(0.2)
    assert v.subject == "step 0 kill_pod x3 sales-c1-n1, sales-c2-n1, sales-c1-n2"
    # Seen 2 of 3 times: the detection criterion fails even though the slowest seen was fast.
    assert [c.name for c in v.failed] == ["time_to_detect_s"]
    assert any("saw 2 of 3 repetitions" in n for n in v.notes)


def test_pooling_one_fault_is_the_fault_itself() -> None:
    df, faults = repeated_kills()
    hit, delays, culprits = pooled(df, faults[:1])
    assert list(hit["id"]) == ["q1001"] and delays.tolist() == pytest.approx([0.2]) and culprits == faults[:1]
    one = failover_verdict(df, [], faults[0]).figures
    assert (one.repetitions, one.affected_queries, one.time_to_failover_p99_s) == (1, 1, pytest.approx(0.2))


def test_a_query_in_two_repetitions_windows_counts_once_for_the_later_fault() -> None:
    # 1 s apart: the 3 s settle window of the first covers the second; the query was re-served after the
    # second kill, so it is the second's, and counted once.
    faults = [rep(0, 5.0), rep(1, 6.0, "sales-c2-n1")]
    df = frame(q(1, 5.9, 6.5, pod="sales-c2-n2", attempts=2, server_s=0.3))
    f = failover_verdict(df, [], faults).figures
    assert f.affected_queries == 1 and f.delays_s == pytest.approx((0.2,))


def test_the_intervals_narrow_with_many_repetitions() -> None:
    rng = np.random.default_rng(3)
    faults, entries = [], []
    for r in range(40):
        at = 5.0 + r * 2.0
        faults.append(rep(r, at, PODS[r % 4]))
        for k in range(10):  # ten queries hit by each kill, each re-served 10-300 ms later
            entries.append(q(2000 + r * 10 + k, at - 0.01, at + 0.5, pod=PODS[(r + 1) % 4], attempts=2,
                             server_s=0.5 - float(rng.uniform(0.01, 0.3))))
    f = failover_verdict(frame(*entries), [], faults).figures
    assert f.affected_queries == 400 and f.repetitions == 40
    assert f.time_to_failover_p99_ci_low_s is not None and f.time_to_failover_p99_ci_high_s is not None
    assert f.time_to_failover_p99_ci_low_s <= f.time_to_failover_p99_s <= f.time_to_failover_p99_ci_high_s
    assert f.time_to_failover_p50_ci_low_s < f.time_to_failover_p50_s < f.time_to_failover_p50_ci_high_s


# --- impact: detection, mitigation, latency -------------------------------------------------------------

def slow_node_ledger(last_bad: float = 13.0) -> pd.DataFrame:
    """Round robin over four pods every 0.1 s; from t=10 sales-c1-n1 is slow (1 s per query) and the
    gateway stops routing to it after ``last_bad``."""
    entries = []
    for i in range(250):
        t = i * 0.1
        pod = PODS[i % 4]
        if pod == "sales-c1-n1" and t > last_bad:
            pod = "sales-c2-n1"
        slow = pod == "sales-c1-n1" and t >= 10.0
        duration = 1.0 if slow else 0.02
        entries.append(q(i, t, t + duration, pod=pod, server_s=duration - 0.005))
    return frame(*entries)


def test_time_to_mitigate_is_when_routing_around_the_slow_node_took_hold() -> None:
    throttled = rep(0, 10.0, lifted=20.0, action="throttle_cpu")
    v = impact_verdict(slow_node_ledger(), [], [throttled], t0=T0, t1=T0 + 25, goals={"time_to_mitigate_s": 5})
    f = v.figures
    assert f.share_before == pytest.approx(0.25) and f.share_threshold == pytest.approx(0.0125)
    # The last query routed to it was sent at 12.8 s (its attempt began 5 ms later): from then on no
    # 2 s window holds one.
    assert f.time_to_mitigate_s == pytest.approx(2.805) and f.mitigated == 1
    assert v.passed
    late = impact_verdict(slow_node_ledger(last_bad=30.0), [], [throttled], t0=T0, t1=T0 + 25,
                          goals={"time_to_mitigate_s": 5})
    assert late.figures.time_to_mitigate_s is None and not late.passed
    assert any("not mitigated" in n for n in late.notes)


def test_mitigated_at_tolerates_a_share_below_the_threshold() -> None:
    times = np.arange(0.0, 10.0, 0.01)  # 100 answers a second
    bad = np.zeros(len(times), dtype=bool)
    bad[::50] = True  # one in 50 (2 %) keeps going to the bad node
    assert mitigated_at(times, bad, 0.0, 10.0, 2.0, threshold=0.05) == 0.0
    assert mitigated_at(times, bad, 0.0, 10.0, 2.0, threshold=0.01) is None
    bad[times > 6.0] = False
    # Tolerating 1 % (2 of the 200 answers of a window), the share held from the window holding the
    # last two, 5.5 s and 6.0 s: it starts just before 5.5 s.
    assert mitigated_at(times, bad, 0.0, 10.0, 2.0, threshold=0.01) == pytest.approx(5.39, abs=0.011)
    # Tolerating none: from the last answer routed there.
    assert mitigated_at(times, bad, 0.0, 10.0, 2.0, threshold=0.004) == pytest.approx(6.0, abs=0.011)


def test_a_killed_node_answers_nothing_so_its_share_falls_at_once() -> None:
    _, faults = repeated_kills()
    down = {"sales-c1-n1": (5.0, 6.0), "sales-c2-n1": (9.0, 10.0), "sales-c1-n2": (13.0, 14.0)}
    entries = []
    for i in range(170):
        t, pod = i * 0.1, PODS[i % 4]
        if pod in down and down[pod][0] <= t < down[pod][1]:
            pod = "sales-c2-n2"  # the gateway routes around the dead process until its replacement is ready
        entries.append(q(i, t, t + 0.02, pod=pod))
    events = [ev("pod_ready", 6.0), ev("pod_ready", 10.0, pod="sales-c2-n1"), ev("pod_ready", 14.0, pod="sales-c1-n2")]
    v = impact_verdict(frame(*entries), events, faults, t0=T0, t1=T0 + 17)
    assert v.figures.time_to_mitigate_s == 0.0 and v.figures.mitigated == 3


def test_time_to_detect_is_the_first_expected_alert_after_the_fault() -> None:
    want = [ExpectedAlert("EngineNodeLatencyOutlier", {"pod": "sales-c1-n1"}, within_s=60)]
    alerts = [AlertObservation("EngineNodeLatencyOutlier", {"pod": "sales-c2-n2"}, T0 + 11.0, T0 + 11.0),  # other pod
              AlertObservation("GatewayLatencyBudgetBurn", {}, T0 + 12.0, T0 + 12.0),  # not expected
              AlertObservation("EngineNodeLatencyOutlier", {"pod": "sales-c1-n1"}, T0 + 24.5, T0 + 25.0)]
    v = impact_verdict(slow_node_ledger(), [], [rep(0, 10.0, lifted=20.0, action="throttle_cpu")], alerts=alerts,
                       expected=want, t0=T0, t1=T0 + 25)
    assert (v.figures.time_to_detect_s, v.figures.detected_by) == (pytest.approx(14.5), "EngineNodeLatencyOutlier")
    quiet = impact_verdict(slow_node_ledger(), [], [rep(0, 10.0, lifted=20.0)], alerts=alerts[:2], expected=want)
    assert quiet.figures.time_to_detect_s is None and any("none of the expected alerts" in n for n in quiet.notes)


def test_latency_before_during_and_after_with_their_counts() -> None:
    throttled = rep(0, 10.0, lifted=20.0, action="throttle_cpu")
    phases = latency_phases(slow_node_ledger(), [throttled])
    assert (phases["queries_before"], phases["queries_during"], phases["queries_after"]) == (100, 131, 19)
    assert phases["latency_before_p99_s"] == pytest.approx(0.02)
    assert phases["latency_during_p99_s"] == pytest.approx(1.0)
    assert phases["latency_after_p99_s"] == pytest.approx(0.02)
    # Another step's fault window is nobody's "before" or "after".
    other = fault("pause_pod", at=2.0, pods=("sales-c2-n2",), lifted=3.0)
    assert latency_phases(slow_node_ledger(), [throttled], [other])["queries_before"] == 100 - 41


def test_a_fault_on_every_node_leaves_no_share_to_cut() -> None:
    outage = fault("kill_cluster", at=5.0, pods=PODS)
    v = impact_verdict(frame(*(q(i, i * 0.1, i * 0.1 + 0.02, pod=PODS[i % 4]) for i in range(100))), [], [outage])
    assert v.figures.time_to_mitigate_s is None and v.figures.share_before is None
    assert any("no routing share to cut" in n for n in v.notes)
    assert not v.judged  # nothing asked, nothing judged: the run does not fail on it


# --- the false-page check -------------------------------------------------------------------------------

def alert(name: str, *times: float, **labels: str) -> tuple[dict[str, str], list[float]]:
    return {"alertname": name, "alertstate": "firing", **labels}, [T0 + t for t in times]


def test_an_alert_firing_under_load_before_the_fault_fails_the_run() -> None:
    series = [alert("GatewayLatencyBudgetBurn", 2.0, 3.0, 4.0, 5.0, engine="sales", severity="warning")]
    v = steady_state_verdict(series, T0, T0 + 6.0)
    assert not v.passed and [c.name for c in v.failed] == ["alerts fired before the first fault"]
    [page] = v.figures.false_pages
    assert (page.name, page.fired_at, page.severity) == ("GatewayLatencyBudgetBurn", T0 + 2.0, "warning")
    assert page.labels == {"alertname": "GatewayLatencyBudgetBurn", "engine": "sales", "severity": "warning"}
    assert v.notes[0] == ("false page: GatewayLatencyBudgetBurn {engine=sales, severity=warning} fired at +2.00s, "
                          "4.00s before the first fault")


def test_a_quiet_steady_state_passes() -> None:
    # Fired only after the fault: that is detection, not a false page.
    v = steady_state_verdict([alert("EngineNodeDown", 7.0, 8.0)], T0, T0 + 6.0)
    assert v.passed and v.figures.false_pages == ()
    assert steady_state_verdict([], T0, T0 + 6.0).passed


def test_background_carried_over_and_dead_mans_switch_alerts_are_not_false_pages() -> None:
    series = [alert("Watchdog", -9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0),
              alert("GatewayFailoverStorm", -3.0, -2.0, -1.0, 0.0, 1.0, engine="sales"),  # an earlier fault's
              alert("GatewayLatencyBudgetBurn", 3.0, 4.0, engine="sales"),
              alert("EngineQueueGrowing", 4.0, engine="analytics")]
    v = steady_state_verdict(series, T0 + 0.5, T0 + 6.0, always_firing={"Watchdog"},
                             background=[ExpectedAlert("GatewayLatencyBudgetBurn", {"engine": "sales"})])
    assert [p.name for p in v.figures.false_pages] == ["EngineQueueGrowing"]
    assert v.figures.background == ("GatewayLatencyBudgetBurn",)
    assert v.figures.carried_over == ("GatewayFailoverStorm", "Watchdog")
    # Labels must match: the same alert on another engine is a false page.
    other = steady_state_verdict([alert("GatewayLatencyBudgetBurn", 3.0, engine="analytics")], T0, T0 + 6.0,
                                 background=[ExpectedAlert("GatewayLatencyBudgetBurn", {"engine": "sales"})])
    assert not other.passed


def test_an_alert_that_resolved_and_fired_again_in_the_window_is_a_false_page() -> None:
    assert firing_starts([1.0, 2.0, 3.0, 9.0, 10.0], 1.0) == [1.0, 9.0]
    v = steady_state_verdict([alert("EngineNodeDown", -2.0, -1.0, 3.0, 4.0)], T0, T0 + 6.0)
    assert [p.fired_at for p in v.figures.false_pages] == [T0 + 3.0]


def test_without_prometheus_the_steady_state_is_reported_not_judged() -> None:
    v = steady_state_verdict([], T0, T0 + 6.0, watched=False)
    assert not v.judged and any("could not be observed" in n for n in v.notes)


# --- repeated steps: format, plan, faults verdict --------------------------------------------------------

def test_a_repeated_step_builds_its_offsets() -> None:
    exp = parse_experiment(with_(method__0__repeat=4, method__0__gap_s="1s500ms",
                                 method__0__action="pause_pod", method__0__duration_s=1))
    step = exp.method[0]
    assert (step.repeat, step.gap_s) == (4, 1.5)
    assert step.offsets == (5.0, 7.5, 10.0, 12.5)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"method__0__repeat": 0}, "method[0].repeat: 0 is less than the minimum of 1"),
    ({"method__0__repeat": 51}, "method[0].repeat: 51 is greater than the maximum of 50"),
    ({"method__0__repeat": 2.5}, "method[0].repeat: 2.5 is not of type 'integer'"),
    ({"method__0__repeat": "3"}, "method[0].repeat: '3' is not of type 'integer'"),
    ({"method__0__repeat": 3}, "method[0].repeat: 3 repetitions need gap_s, the recovery gap between them"),
    ({"method__0__gap_s": 1}, "method[0].gap_s: only a repeated step (repeat > 1) takes a gap"),
    ({"method__0__repeat": 2, "method__0__gap_s": 0}, "method[0].gap_s: 0 is less than or equal to the minimum"),
    ({"method__0__repeat": 20, "method__0__gap_s": 1},
     "method[0].repeat: repetition 20 would start at 24s, not before the end of the load (load.duration_s: 20)"),
    ({"method__0__repeat": 2, "method__0__gap_s": 1, "method__0__action": "blue_green_upgrade",
      "method__0__version": "v2"}, "method[0].repeat: blue_green_upgrade is an operation"),
    ({"hypothesis__alerts": {"background": [{"labels": {"a": "b"}}]}}, "hypothesis.alerts.background[0]"),
    ({"hypothesis__impact": {"mitigated_share": 2}}, "hypothesis.impact.mitigated_share: 2 is greater than"),
])
def test_repeat_and_the_new_hypothesis_fields_are_checked_with_field_paths(changes: dict, expected: str) -> None:
    problems = problems_of(with_(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_cli_refuses_a_bad_repeat_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_(method__0__repeat=99)))
    r = subprocess.run([sys.executable, "-m", "enginewatch.cli", "chaos", "run", str(bad), "--dry-run"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{bad}: method[0].repeat: 99 is greater than the maximum of 50" in r.stdout + r.stderr


def test_the_plan_counts_every_pod_a_repeated_step_may_hit() -> None:
    engines = [EngineInfo("sales", "RUNNING", "v1", ("c1", "c2"), ("c1", "c2"), 4, 4)]
    data = with_(method__0__repeat=5, method__0__gap_s=1)
    data["blast_radius"] = {"max_pods": 1, "min_ready_nodes_per_engine": 1}
    problems = plan_against(parse_experiment(data), engines, pods()).problems
    assert any(p.startswith("blast_radius.max_pods: method[0] repeats and may hit any of") for p in problems)
    data["blast_radius"]["max_pods"] = 4
    plan = plan_against(parse_experiment(data), engines, pods())
    assert not plan.problems
    assert any("5 times, 1s apart after recovery" in line for line in plan.describe())


def test_a_step_that_ran_fewer_repetitions_than_planned_fails() -> None:
    faults = [rep(0, 5.0), rep(1, 7.0)]
    assert faults_verdict(faults, {0: 2}).passed
    short = faults_verdict(faults, {0: 3})
    assert [c.name for c in short.failed] == ["step 0 repetitions"] and short.failed[0].observed == 2


def test_valid_is_unchanged() -> None:
    # The format tests' base experiment stays a plain single fault.
    assert "repeat" not in VALID["method"][0] and not math.isnan(parse_experiment(VALID).method[0].at_s)


# --- the schedule of repetitions ------------------------------------------------------------------------

class _Engines:
    """The part of a backend the schedule reads: each engine's ready nodes, set by the test."""

    def __init__(self) -> None:
        self.ready = {"sales": 4, "analytics": 4}

    def engines(self) -> list[EngineInfo]:
        return [EngineInfo(name, "RUNNING", "v1", ("c1", "c2"), ("c1", "c2"), 4, n) for name, n in self.ready.items()]


def test_a_step_waiting_for_its_engine_does_not_hold_up_another_step() -> None:
    exp = parse_experiment(with_(
        load={"qps": 20, "duration_s": 30, "engines": ["sales", "analytics"]},
        method=[{"at_s": 0.05, "action": "kill_pod", "repeat": 2, "gap_s": 0.2, "target": {"engine": "sales",
                                                                                           "mode": "one"}},
                {"at_s": 0.1, "action": "kill_pod", "target": {"engine": "analytics", "mode": "one"}}]))
    backend = _Engines()
    ctx = Context(backend, BlastRadius(2, 1))  # type: ignore[arg-type]
    journal = Journal("x", "x", load_t0=time.time())
    fired: list[tuple[int, int, float]] = []
    back_at = 0.0
    for step, repetition in _schedule(exp, journal, ctx, {"sales": 4, "analytics": 4}, lambda _m: None):
        now = time.time()
        fired.append((step.index, repetition, now))
        journal.faults.append(Fault(step.index, step.action, step.target.engine, "", step.at_s, ts=now))
        if (step.index, repetition) == (0, 0):
            backend.ready["sales"] = 3  # the killed pod restarts
        elif step.index == 1:
            time.sleep(0.2)
            backend.ready["sales"], back_at = 4, time.time()
    assert [(s, r) for s, r, _ in fired] == [(0, 0), (1, 0), (0, 1)]
    assert fired[2][2] >= back_at + 0.2  # the gap counts from the engine's recovery


def test_an_expected_alert_detects_only_the_faults_it_names() -> None:
    # One experiment, one expectation by engine only: the series about the other pod, or the other
    # engine, does not detect this step's fault.
    want = [ExpectedAlert("EngineNodeLatencyOutlier", {}, within_s=60)]
    alerts = [AlertObservation("EngineNodeLatencyOutlier", {"engine": "analytics", "pod": "analytics-c1-n1"},
                               T0 + 11.0, T0 + 11.0),
              AlertObservation("EngineNodeLatencyOutlier", {"engine": "sales", "pod": "sales-c2-n2"},
                               T0 + 12.0, T0 + 12.0),
              AlertObservation("EngineNodeLatencyOutlier", {"engine": "sales", "pod": "sales-c1-n1"},
                               T0 + 16.0, T0 + 16.0)]
    v = impact_verdict(slow_node_ledger(), [], [rep(0, 10.0, lifted=20.0, action="throttle_cpu")], alerts=alerts,
                       expected=want, t0=T0, t1=T0 + 25)
    assert v.figures.time_to_detect_s == pytest.approx(6.0)


def pending(name: str, *times: float, **labels: str) -> tuple[dict[str, str], list[float]]:
    return {"alertname": name, "alertstate": "pending", **labels}, [T0 + t for t in times]


def test_an_alert_pending_since_before_the_load_is_carried_over_not_a_false_page() -> None:
    # The previous experiment's hang left a latency outlier pending; its `for` ends 0.8 s into this
    # steady state. What ran before caused it.
    outlier = {"engine": "sales", "pod": "sales-c2-n1", "severity": "warning"}
    series = [pending("EngineNodeLatencyOutlier", -3.0, -2.0, -1.0, 0.0, **outlier),
              alert("EngineNodeLatencyOutlier", 0.8, 1.8, 2.8, **outlier)]
    v = steady_state_verdict(series, T0 + 0.5, T0 + 4.0)
    assert v.passed and v.figures.carried_over == ("EngineNodeLatencyOutlier",)
    # Pending only from inside the window: its condition began under this load, a false page.
    late = [pending("EngineNodeLatencyOutlier", 1.0, 2.0, **outlier), alert("EngineNodeLatencyOutlier", 3.0, **outlier)]
    assert [p.name for p in steady_state_verdict(late, T0 + 0.5, T0 + 4.0).figures.false_pages] == [
        "EngineNodeLatencyOutlier"]
    # Pending before, resolved, then pending again and firing: the second episode is this window's.
    again = [pending("EngineNodeLatencyOutlier", -1.0, 0.0, 3.0, **outlier),
             alert("EngineNodeLatencyOutlier", 3.6, **outlier)]
    assert not steady_state_verdict(again, T0 + 0.5, T0 + 4.0).passed
