"""Typed verdict figures: each kind's dataclass, written to the journal's JSON and read back typed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chaos.experiment import ExpectedAlert
from chaos.journal import Journal
from chaos.verdicts import (
    FIGURES,
    AlertFigures,
    AlertObservation,
    BudgetFigures,
    DrainFigures,
    FailoverFigures,
    FalsePage,
    FaultFigures,
    ImpactFigures,
    PodDrain,
    PrometheusBudget,
    QueryFigures,
    RecoveryFigures,
    SteadyStateFigures,
    Verdict,
    alerts_verdict,
    budget_verdict,
    drain_verdict,
    failover_verdict,
    faults_verdict,
    impact_verdict,
    local_page_detection,
    queries_verdict,
    recovery_verdict,
    steady_state_verdict,
    verdict_from_dict,
)
from tests.test_chaos_verdicts import T0, drained_ledger, ev, fault, frame, killed_ledger

KILLED = [ev("pod_signaled", 5.0), ev("pod_exited", 5.04, returncode=-9), ev("pod_ready", 7.0)]
TERMINATED = [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 6.6, returncode=0), ev("pod_ready", 8.5)]
READY = {f"sales-c{c}-n{n}": "sales" for c in (1, 2) for n in (1, 2)}


def every_kind() -> list[Verdict]:
    want = [ExpectedAlert("GatewayAvailabilityBudgetBurn", {"engine": "analytics"}, within="page_detection"),
            ExpectedAlert("EngineNodeDown", {}, within_s=30)]
    fired = [AlertObservation("GatewayAvailabilityBudgetBurn", {"engine": "analytics", "severity": "critical"},
                              T0 + 8.5, T0 + 9.0)]
    return [
        faults_verdict([fault()]),
        queries_verdict(killed_ledger(), sent=6, lost_max=0),
        failover_verdict(killed_ledger(), KILLED, fault(), goals={"time_to_failover_p99_s": 1.0}, duplicates=1),
        drain_verdict(drained_ledger(), TERMINATED, fault("terminate_pod", in_flight={"sales-c1-n1": 2}), grace_s=10,
                      goals={}),
        recovery_verdict(KILLED, [fault()], READY, {"sales": 4}, within_s=5),
        budget_verdict(killed_ledger(), 0.999, 43200, T0, T0 + 10, max_consumed=0.01,
                       prometheus=PrometheusBudget(1000.0, 3.0, 0.003, 0.0001)),
        alerts_verdict(fired, want, ["EngineStuckDraining"], T0 + 5.0, detection=local_page_detection(0.999)),
        impact_verdict(killed_ledger(), KILLED, [fault()], alerts=fired, expected=want, t0=T0, t1=T0 + 10),
        steady_state_verdict([({"alertname": "GatewayLatencyBudgetBurn", "severity": "warning"}, [T0 + 2, T0 + 3])],
                             T0, T0 + 5.0),
    ]


def through_json(v: Verdict) -> dict:
    return json.loads(json.dumps(v.to_dict()))


def test_every_verdict_kind_has_typed_figures() -> None:
    kinds = {v.kind: type(v.figures) for v in every_kind()}
    assert kinds == {"faults": FaultFigures, "queries": QueryFigures, "failover": FailoverFigures,
                     "drain": DrainFigures, "recovery": RecoveryFigures, "budget": BudgetFigures,
                     "alerts": AlertFigures, "impact": ImpactFigures, "steady_state": SteadyStateFigures}
    assert kinds == FIGURES


@pytest.mark.parametrize("verdict", every_kind(), ids=lambda v: v.kind)
def test_figures_round_trip_through_the_journal_json(verdict: Verdict) -> None:
    data = through_json(verdict)
    back = verdict_from_dict(data)
    assert type(back.figures) is type(verdict.figures)
    assert (back.kind, back.subject, back.passed, back.notes) == (verdict.kind, verdict.subject, verdict.passed,
                                                                  verdict.notes)
    assert through_json(back) == data  # the JSON, once written, reads back to itself


def test_the_mapping_view_is_the_journal_form() -> None:
    # The report lists figures generically, in the journal's order and spelling.
    for v in every_kind():
        assert dict(v.figures) == v.figures.to_dict()
        assert list(through_json(v)["figures"]) == list(v.figures)


def test_query_figures_keep_no_latency_as_nan() -> None:
    v = queries_verdict(frame(), sent=2, lost_max=0)
    assert isinstance(v.figures, QueryFigures) and math.isnan(v.figures.p99_s)
    data = through_json(v)
    assert data["figures"]["p99_s"] is None and data["figures"]["lost"] == 2
    back = verdict_from_dict(data).figures
    assert isinstance(back, QueryFigures) and math.isnan(back.p99_s) and back.lost == 2


def test_drain_figures_read_back_their_pods() -> None:
    v = drain_verdict(drained_ledger(), TERMINATED, fault("terminate_pod", in_flight={"sales-c1-n1": 2}), grace_s=10)
    data = through_json(v)
    assert data["figures"]["pods"] == ["sales-c1-n1"]
    assert data["figures"]["per_pod"][0]["pod"] == "sales-c1-n1" and data["figures"]["per_pod"][0]["exit_code"] == 0
    back = verdict_from_dict(data).figures
    assert isinstance(back, DrainFigures) and back.pods == ("sales-c1-n1",)
    assert back.per_pod == (PodDrain("sales-c1-n1", T0 + 5.0, 2, 2, 0, 0, 0, pytest.approx(1.6)),)


def test_alert_figures_spell_each_expected_alert_in_the_json() -> None:
    v = next(v for v in every_kind() if v.kind == "alerts")
    figures = through_json(v)["figures"]
    assert figures["GatewayAvailabilityBudgetBurn_detected_s"] == pytest.approx(3.5)
    assert figures["GatewayAvailabilityBudgetBurn_delivered_s"] == pytest.approx(4.0)
    assert figures["EngineNodeDown_detected_s"] is None
    assert figures["page_detection_goal_s"] == 7
    back = verdict_from_dict(through_json(v)).figures
    assert isinstance(back, AlertFigures)
    assert back.detected == {"GatewayAvailabilityBudgetBurn": pytest.approx(3.5), "EngineNodeDown": None}
    assert back.page_detection is not None and back.page_detection.goal_s == 7
    assert back.fired == ("GatewayAvailabilityBudgetBurn",)
    quiet = verdict_from_dict(through_json(alerts_verdict([], [], [], T0))).figures
    assert isinstance(quiet, AlertFigures) and quiet.page_detection is None and quiet.expected == ()


def test_budget_figures_keep_prometheus_flat() -> None:
    v = every_kind()[5]
    figures = through_json(v)["figures"]
    assert [k for k in figures if k.startswith("prometheus_")] == [
        "prometheus_events", "prometheus_bad_events", "prometheus_error_ratio", "prometheus_budget_consumed"]
    back = verdict_from_dict(through_json(v)).figures
    assert isinstance(back, BudgetFigures) and back.prometheus == PrometheusBudget(1000.0, 3.0, 0.003, 0.0001)
    alone = verdict_from_dict(through_json(budget_verdict(killed_ledger(), 0.999, 43200, T0, T0 + 10))).figures
    assert isinstance(alone, BudgetFigures) and alone.prometheus is None


def test_a_journal_reads_back_typed(tmp_path: Path) -> None:
    j = Journal("kill-node", "chaos/experiments/kill-node.yaml", status="passed", started=T0, ended=T0 + 12,
                load_t0=T0, load_t1=T0 + 10, sent=6, faults=[fault()], events=KILLED, verdicts=every_kind(),
                alerts=[AlertObservation("EngineNodeDown", {"engine": "sales"}, T0 + 6, T0 + 7, "page")],
                experiment_raw={"name": "kill-node"})
    path = j.write(tmp_path / "journal.json")
    back = Journal.read(path)
    assert json.loads(json.dumps(back.to_dict())) == json.loads(path.read_text())
    [failover] = back.verdict_figures(FailoverFigures)
    assert failover.action == "kill_pod" and failover.duplicate_executions == 1
    assert failover.time_to_detect_s == pytest.approx(0.04)
    assert back.verdict_figures(QueryFigures)[0].queries == 5
    assert back.faults[0].pods == ("sales-c1-n1",) and back.alerts == j.alerts


def test_an_unknown_verdict_kind_is_refused() -> None:
    data = through_json(every_kind()[0])
    with pytest.raises(ValueError, match="unknown verdict kind 'nope'"):
        verdict_from_dict({**data, "kind": "nope"})


def test_steady_state_figures_read_back_their_false_pages() -> None:
    v = every_kind()[-1]
    data = through_json(v)
    assert data["figures"]["false_pages"] == [{"name": "GatewayLatencyBudgetBurn", "fired_at": T0 + 2,
                                               "labels": {"alertname": "GatewayLatencyBudgetBurn",
                                                          "severity": "warning"}, "severity": "warning"}]
    back = verdict_from_dict(data).figures
    assert isinstance(back, SteadyStateFigures) and back.window_s == 5.0
    assert back.false_pages == (FalsePage("GatewayLatencyBudgetBurn", {"alertname": "GatewayLatencyBudgetBurn",
                                                                        "severity": "warning"}, T0 + 2, "warning"),)
    assert not verdict_from_dict(data).passed


def test_a_failover_written_before_repetitions_reads_back_with_defaults() -> None:
    data = through_json(every_kind()[2])
    for key in ("repetitions", "detected", "ci_level", "delays_s", "time_to_failover_p99_ci_low_s"):
        del data["figures"][key]
    back = verdict_from_dict(data).figures
    assert isinstance(back, FailoverFigures)
    assert (back.repetitions, back.detected, back.delays_s, back.time_to_failover_p99_ci_low_s) == (1, None, (), None)
