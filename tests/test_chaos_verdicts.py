"""Verdicts are pure over data: crafted ledgers and event timelines, including the cases that must fail."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from chaos.evidence import burn_rate_expr, counter_increase, parse_ts
from chaos.experiment import AbortCondition, ExpectedAlert
from chaos.fault import Fault
from chaos.verdicts import (
    AlertObservation,
    alerts_verdict,
    budget_figures,
    budget_verdict,
    burn_series,
    drain_verdict,
    failover_verdict,
    local_page_detection,
    page_detection,
    queries_verdict,
    reconcile,
    recovery_verdict,
    time_series,
)
from loadgen.ledger import Entry, Ledger

T0 = 1_000_000.0


def q(i: int, start: float, end: float, pod: str = "sales-c2-n1", status: str = "ok", attempts: int = 1,
      error_type: str = "", server_s: float = 0.01, engine: str = "sales") -> Entry:
    cluster = pod.split("-")[1] if pod else ""
    return Entry(f"q{i:04d}", engine, "lookup", T0 + start, T0 + end, status, 200 if status == "ok" else 503,
                 error_type, cluster, pod.split("-")[-1] if pod else "", pod, attempts, True,
                 server_s if status == "ok" else math.nan)


def frame(*entries: Entry) -> pd.DataFrame:
    ledger = Ledger()
    for e in entries:
        ledger.open(e.id, e.start)
        ledger.close(e)
    return ledger.frame()


def ev(kind: str, at: float, pod: str = "sales-c1-n1", engine: str = "sales", **fields: object) -> dict:
    return {"seq": int(at * 1000), "ts": T0 + at, "kind": kind, "engine": engine, "pod": pod, **fields}


def fault(action: str = "kill_pod", at: float = 5.0, pods: tuple[str, ...] = ("sales-c1-n1",), injected: bool = True,
          lifted: float | None = None, in_flight: dict[str, int] | None = None) -> Fault:
    return Fault(0, action, "sales", "one of sales", at, pods, (), {p: 4242 for p in pods}, T0 + at,
                 None if lifted is None else T0 + lifted, injected, in_flight=in_flight or {})


# --- queries ---------------------------------------------------------------------------------------------

def test_queries_verdict_counts_platform_errors_only_and_lost() -> None:
    df = frame(q(1, 0, 0.1), q(2, 0.2, 0.3, status="error", error_type="invalid_sql"),
               q(3, 0.4, 0.5, status="error", error_type="unavailable"),
               q(4, 0.6, 9.0, pod="", status="abandoned", error_type=""))
    v = queries_verdict(df, sent=5, lost_max=0, failed_max=0)
    assert v.figures["failed"] == 1 and v.figures["user_errors"] == 1
    assert v.figures["lost"] == 2  # one abandoned, one sent without any outcome
    assert not v.passed
    assert {c.name for c in v.failed} == {"lost_queries", "failed_queries"}
    assert queries_verdict(frame(q(1, 0, 0.1)), sent=1, lost_max=0, failed_max=0).passed


def test_time_series_bins_throughput_errors_and_p99() -> None:
    df = frame(*(q(i, i * 0.1, i * 0.1 + 0.05) for i in range(20)),
               q(99, 1.2, 1.3, status="error", error_type="timeout"))
    ts = time_series(df, T0, T0 + 2.0)
    assert list(ts["throughput"]) == [10.0, 11.0]
    assert ts["error_ratio"].iloc[1] == pytest.approx(1 / 11)


# --- failover --------------------------------------------------------------------------------------------

def killed_ledger() -> pd.DataFrame:
    """sales-c1-n1 killed at t=5: two in-flight queries retried elsewhere, one that failed."""
    return frame(
        q(1, 1.0, 1.1, pod="sales-c1-n1"),
        q(2, 4.8, 5.6, pod="sales-c2-n1", attempts=2, server_s=0.3),  # hit at 5.0, re-served from 5.3
        q(3, 4.9, 5.25, pod="sales-c2-n2", attempts=2, server_s=0.1),  # re-served from 5.15
        q(4, 6.0, 6.1, pod="sales-c2-n1"),
        q(5, 3.0, 3.1, pod="analytics-c1-n1", engine="analytics", attempts=2),  # other engine, before
    )


def test_failover_verdict_measures_detection_and_failover_time() -> None:
    events = [ev("pod_signaled", 5.0), ev("pod_exited", 5.04, returncode=-9), ev("pod_ready", 7.0)]
    v = failover_verdict(killed_ledger(), events, fault(), goals={"time_to_failover_p99_s": 1.0, "client_failures": 0})
    f = v.figures
    assert f["time_to_detect_s"] == pytest.approx(0.04)
    assert f["affected_queries"] == 2 and f["served_elsewhere"] == 2 and f["client_failures"] == 0
    assert f["time_to_failover_max_s"] == pytest.approx(0.3)
    assert f["routing_converged_s"] == pytest.approx(0.3)
    assert v.passed


def test_failover_verdict_fails_on_client_failures_and_slow_failover() -> None:
    df = frame(q(1, 4.9, 8.0, pod="sales-c2-n1", attempts=3, server_s=0.1),  # 2.9 s lost before it moved
               q(2, 5.2, 5.3, pod="sales-c1-n1", status="error", error_type="unavailable", attempts=4))
    v = failover_verdict(df, [], fault(), goals={"time_to_failover_p99_s": 1.0, "client_failures": 0})
    assert not v.passed
    assert {c.name for c in v.failed} == {"time_to_failover_p99_s", "client_failures"}
    assert v.figures["time_to_detect_s"] is None
    assert any("unavailable 1" in n for n in v.notes)


def test_a_kill_whose_fault_was_not_injected_fails() -> None:
    v = failover_verdict(killed_ledger(), [], fault(injected=False), goals={"client_failures": 0})
    assert not v.passed
    assert [c.name for c in v.failed] == ["fault_injected"]


def test_failover_window_covers_a_lasting_fault() -> None:
    # A hung node: the fault lasts 3 s; a query retried 2 s into it is still affected.
    df = frame(q(1, 7.0, 8.2, pod="sales-c2-n1", attempts=2, server_s=0.1))
    hung = fault("pause_pod", lifted=8.0)
    v = failover_verdict(df, [ev("pod_unready", 6.0)], hung, goals={"time_to_failover_p99_s": 2.0})
    assert v.figures["affected_queries"] == 1
    assert v.figures["time_to_failover_p99_s"] == pytest.approx(1.1)
    assert v.figures["time_to_detect_s"] == pytest.approx(1.0)
    assert v.passed


# --- drain -----------------------------------------------------------------------------------------------

def drained_ledger(pod: str = "sales-c1-n1") -> pd.DataFrame:
    return frame(
        q(1, 4.5, 6.5, pod=pod, server_s=1.9),  # in flight at the SIGTERM (t=5), finished there
        q(2, 4.9, 5.8, pod=pod, server_s=0.85),  # in flight too
        q(3, 5.2, 5.3, pod="sales-c2-n1", attempts=2),  # refused by the draining node, served elsewhere
        q(4, 9.0, 9.1, pod=pod),  # the restarted process of the same pod: fair game
    )


def test_drain_verdict_passes_a_clean_drain() -> None:
    events = [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 6.6, returncode=0), ev("pod_ready", 8.5)]
    v = drain_verdict(drained_ledger(), events, fault("terminate_pod", in_flight={"sales-c1-n1": 2}), grace_s=10,
                      goals={})
    f = v.figures
    assert (f["in_flight_at_term"], f["finished_in_flight"], f["failed_in_flight"]) == (2, 2, 0)
    assert f["routed_after_unready"] == 0 and f["exit_code"] == 0
    assert f["drain_s"] == pytest.approx(1.6)
    assert v.passed, v.failed


def test_drain_verdict_fails_against_a_node_that_does_not_drain() -> None:
    """--no-drain: SIGTERM kills the node at once; its in-flight queries go elsewhere or fail."""
    df = frame(q(1, 4.5, 5.9, pod="sales-c2-n1", attempts=2, server_s=0.8),
               q(2, 4.9, 5.4, pod="sales-c2-n2", attempts=2, server_s=0.3))
    events = [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 5.01, returncode=-15)]
    v = drain_verdict(df, events, fault("terminate_pod", in_flight={"sales-c1-n1": 2}), grace_s=10, goals={})
    assert not v.passed
    assert {c.name for c in v.failed} == {"failed_in_flight", "exit_code"}
    assert v.figures["exit_code"] == -15 and v.figures["failed_in_flight"] == 2


def test_drain_verdict_catches_a_query_routed_after_unready() -> None:
    df = frame(q(1, 5.3, 5.6, pod="sales-c1-n1", server_s=0.2))  # began at 5.4, after the SIGTERM at 5.0
    events = [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 6.0, returncode=0)]
    v = drain_verdict(df, events, fault("terminate_pod", in_flight={"sales-c1-n1": 0}), grace_s=10, goals={},
                      require_in_flight=False)
    assert [c.name for c in v.failed] == ["routed_after_unready"]


def test_a_drain_with_nothing_in_flight_is_not_a_proof() -> None:
    events = [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 5.2, returncode=0)]
    v = drain_verdict(frame(q(1, 1, 1.1)), events, fault("terminate_pod", in_flight={"sales-c1-n1": 0}),
                      grace_s=10, goals={})
    assert [c.name for c in v.failed] == ["in_flight_at_term"]
    assert any("not exercised" in n for n in v.notes)


def test_drain_verdict_fails_when_the_drain_outlasts_the_grace() -> None:
    events = [ev("drain_started", 5.0), ev("drain_finished", 20.0, exit_code=-9, seconds=15.0)]
    v = drain_verdict(drained_ledger(), events, fault("drain_engine", in_flight={"sales-c1-n1": 2}), grace_s=10,
                      goals={})
    assert {"exit_code", "drain_s"} <= {c.name for c in v.failed}


def test_drain_verdict_without_goals_only_reports() -> None:
    events = [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 5.01, returncode=-15)]
    v = drain_verdict(frame(q(1, 1, 1.1)), events, fault("terminate_pod"), grace_s=10, goals=None)
    assert v.passed  # only the injection is judged
    assert v.figures["exit_code"] == -15


# --- recovery --------------------------------------------------------------------------------------------

def test_recovery_replays_readiness_from_events() -> None:
    ready = {f"sales-c{c}-n{n}": "sales" for c in (1, 2) for n in (1, 2)}
    events = [ev("pod_signaled", 5.0), ev("pod_exited", 5.05), ev("pod_started", 5.6), ev("pod_ready", 6.8)]
    v = recovery_verdict(events, [fault()], ready, {"sales": 4}, within_s=5)
    assert v.figures["time_to_recover_s"] == pytest.approx(1.8)
    assert v.figures["lowest_ready_nodes"] == {"sales": 3}
    assert v.passed
    never = recovery_verdict(events[:2], [fault()], ready, {"sales": 4}, within_s=5)
    assert never.figures["time_to_recover_s"] is None and not never.passed


def test_recovery_counts_from_the_end_of_a_lasting_fault() -> None:
    ready = {"sales-c1-n1": "sales", "sales-c1-n2": "sales"}
    events = [ev("pod_exited", 5.0), ev("pod_exited", 5.0, pod="sales-c1-n2"), ev("pod_ready", 20.0),
              ev("pod_ready", 21.0, pod="sales-c1-n2")]
    v = recovery_verdict(events, [fault(pods=("sales-c1-n1", "sales-c1-n2"), lifted=17.0)], ready, {"sales": 2},
                         within_s=3)
    assert v.figures["time_to_recover_s"] == pytest.approx(4.0)
    assert v.figures["recovered_after_first_fault_s"] == pytest.approx(16.0)
    assert not v.passed


# --- budget ----------------------------------------------------------------------------------------------

def test_budget_consumed_is_burn_rate_times_time_over_period() -> None:
    df = frame(*(q(i, i * 0.01, i * 0.01 + 0.005) for i in range(990)),
               *(q(1000 + i, 9.9, 9.95, status="error", error_type="unavailable") for i in range(10)))
    f = budget_figures(df, objective=0.999, period_s=43200, t0=T0, t1=T0 + 10)
    assert f["error_ratio"] == pytest.approx(0.01)
    assert f["burn_rate"] == pytest.approx(10.0)
    assert f["budget_consumed"] == pytest.approx(10.0 * 10 / 43200)
    assert not budget_verdict(df, 0.999, 43200, T0, T0 + 10, max_consumed=1e-4).passed
    assert budget_verdict(df, 0.999, 43200, T0, T0 + 10, max_consumed=0.01).passed
    series = burn_series(df, 0.999, 43200, T0, T0 + 10)
    assert series["budget_consumed"].iloc[-1] == pytest.approx(f["budget_consumed"], rel=0.05)


# --- alerts ----------------------------------------------------------------------------------------------

def test_page_detection_matches_the_slo_generator() -> None:
    d = local_page_detection(0.999)
    assert d.tier == "page-fast"
    assert d.theoretical_s == pytest.approx(14.4 * 0.001 * 60)
    assert d.bound_s == 5  # + 3 s base window + 1 s scrape, rounded up to the 1 s evaluation
    assert d.goal_s == 7
    tiers = [("ticket", "ticket", 1.0, 3600.0), ("page", "page", 14.4, 60.0)]
    custom = page_detection(0.999, tiers, base_window_s=3, scrape_interval_s=1, evaluation_interval_s=1)
    assert custom.tier == "page"


def test_alerts_verdict_times_the_page_against_the_fault() -> None:
    detection = local_page_detection(0.999)
    want = [ExpectedAlert("GatewayAvailabilityBudgetBurn", {"engine": "analytics"}, within="page_detection")]
    fired = [AlertObservation("GatewayAvailabilityBudgetBurn", {"engine": "analytics", "severity": "critical"},
                              T0 + 8.5, T0 + 9.0)]
    ok = alerts_verdict(fired, want, [], T0 + 5.0, detection=detection)
    assert ok.passed and ok.figures["GatewayAvailabilityBudgetBurn_detected_s"] == pytest.approx(3.5)
    late = alerts_verdict([AlertObservation(fired[0].name, fired[0].labels, T0 + 13.0, T0 + 13.5)], want, [],
                          T0 + 5.0, detection=detection)
    assert not late.passed
    wrong_engine = alerts_verdict([AlertObservation(fired[0].name, {"engine": "sales"}, T0 + 6, T0 + 6)], want, [],
                                  T0 + 5.0, detection=detection)
    assert not wrong_engine.passed and wrong_engine.figures["GatewayAvailabilityBudgetBurn_detected_s"] is None
    forbidden = alerts_verdict(fired, [], ["GatewayAvailabilityBudgetBurn"], T0 + 5.0)
    assert not forbidden.passed


# --- reconciliation and evidence helpers ----------------------------------------------------------------

def test_reconcile_finds_lost_answers_and_duplicate_executions() -> None:
    df = frame(q(1, 0, 0.1), q(2, 0.1, 0.2), q(3, 0.2, 0.3, engine="analytics", pod="analytics-c1-n1"))
    r = reconcile(df, 4, {"sales": 10, "analytics": 5}, {"sales": 13, "analytics": 6},
                  {"sales": 4.0, "analytics": 1.0})
    assert r["missing_outcomes"] == 1
    assert r["gateway"]["sales"] == {"gateway_counted": 3, "ledger_answers": 2, "difference": 1}
    assert r["gateway_mismatch"] == 1
    assert r["nodes"]["sales"]["duplicate_executions"] == 2
    assert r["nodes"]["analytics"]["duplicate_executions"] == 0


def test_counter_increase_handles_resets_and_new_processes() -> None:
    assert counter_increase([(T0, 10), (T0 + 1, 12), (T0 + 2, 3), (T0 + 3, 5)], T0) == 2 + 3 + 2
    assert counter_increase([(T0 + 5, 4), (T0 + 6, 9)], T0) == 9  # started during the window: from zero
    assert counter_increase([], T0) == 0


def test_parse_ts_reads_prometheus_timestamps() -> None:
    assert parse_ts("1970-01-01T00:00:10.123456789Z") == pytest.approx(10.123456)
    assert parse_ts("0001-01-01T00:00:00Z") is None
    assert parse_ts("garbage") is None


def test_burn_rate_expression_comes_from_the_contract() -> None:
    expr = burn_rate_expr(["sales"], 0.999, "5s")
    assert 'gateway_errors_total{engine=~"sales",error_type=~"timeout|unavailable' in expr
    assert "gateway_request_duration_seconds_count" in expr and expr.endswith("/ 0.001")


def test_abort_monitor_trips_on_the_client_error_ratio() -> None:
    from chaos.abort import AbortMonitor

    tripped: list[str] = []
    cond = AbortCondition("error_ratio", 0.5, window_s=5, min_queries=10, engines=("sales",))
    monitor = AbortMonitor([cond], engines=("sales", "analytics"), objective=0.999, prometheus_url=None,
                           on_abort=tripped.append)
    monitor._t0 = T0
    for i in range(20):
        monitor.on_result(q(i, 1 + i * 0.1, 1.05 + i * 0.1, engine="analytics", status="error",
                            error_type="unavailable"))
    assert monitor.check(T0 + 3) is None  # the other engine's errors do not count
    for i in range(9):
        monitor.on_result(q(100 + i, 2, 2.1, status="error", error_type="unavailable"))
    assert monitor.check(T0 + 3) is None  # too few answers to judge
    monitor.on_result(q(200, 2, 2.1, status="error", error_type="unavailable"))
    assert (monitor.check(T0 + 3) or "").startswith("client error ratio of sales over 5s > 0.5: 1")
