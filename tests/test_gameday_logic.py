"""The game day's logic without a platform: goals from typed verdict figures, and the runbook capture
(in-process diagnosis, its timeout)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from chaos.experiment import ExpectedAlert
from chaos.journal import Journal
from chaos.verdicts import AlertObservation, alerts_verdict, drain_verdict, failover_verdict, queries_verdict
from enginewatch.gameday import RunbookCapture, _Page, compute_goals
from tests.test_chaos_verdicts import T0, drained_ledger, ev, fault, frame, killed_ledger, q


def journals() -> list[Journal]:
    killed, terminated, hung = fault(), fault("terminate_pod", in_flight={"sales-c1-n1": 2}), fault("pause_pod",
                                                                                                     lifted=8.0)
    node = Journal("node-faults", "x", faults=[killed, terminated, hung])
    node.verdicts = [
        queries_verdict(killed_ledger(), sent=5),
        failover_verdict(killed_ledger(), [ev("pod_exited", 5.04)], killed),
        drain_verdict(drained_ledger(), [ev("pod_signaled", 5.0, signal="SIGTERM"), ev("pod_exited", 6.6)],
                      terminated, grace_s=10),
        failover_verdict(frame(q(1, 7.0, 8.2, pod="sales-c2-n1", attempts=2, server_s=0.1)), [], hung),
    ]
    upgrade = Journal("blue-green-upgrade", "x", faults=[fault("blue_green_upgrade")])
    upgrade.verdicts = [queries_verdict(frame(q(1, 0, 0.1), q(2, 1, 1.1, status="error", error_type="timeout")),
                                        sent=3)]
    outage = Journal("engine-outage", "x", faults=[fault("kill_cluster")])
    want = [ExpectedAlert("GatewayAvailabilityBudgetBurn", {"engine": "analytics"}, within="page_detection")]
    fired = [AlertObservation("GatewayAvailabilityBudgetBurn", {"engine": "analytics"}, T0 + 11.0, T0 + 11.5)]
    outage.verdicts = [queries_verdict(frame(q(1, 0, 0.1)), sent=1), alerts_verdict(fired, want, [], T0 + 5.0)]
    return [node, upgrade, outage]


def test_goals_come_from_typed_figures() -> None:
    goals = {g.key: g for g in compute_goals(journals(), 7.0)}
    assert goals["lost_queries"].measured == 1  # blue-green-upgrade sent 3, 2 outcomes
    assert goals["lost_queries"].note == "per experiment: node-faults 0, blue-green-upgrade 1, engine-outage 0"
    assert goals["failed_reads_node_faults"].measured == 0
    assert goals["failed_reads_node_faults"].sources == ("node-faults",)
    assert goals["failover_p99_killed_s"].measured == pytest.approx(0.2985)  # p99 of 0.15 s and 0.3 s
    assert goals["failover_p99_killed_s"].note.startswith("2 affected queries, 1 fault(s); p50 0.225 [—, —]; p99")
    assert goals["failover_p99_hung_s"].measured == pytest.approx(1.1) and goals["failover_p99_hung_s"].ok
    assert goals["failover_p99_hung_s"].note.startswith("1 affected queries, 1 fault(s)")
    # The count behind each percentile is a goal of its own, and the figures carry the intervals.
    assert goals["failover_affected_killed"].measured == 2 and goals["failover_affected_killed"].ok
    killed = goals["failover_p99_killed_s"].figures
    assert killed["affected_queries"] == 2 and killed["faults"] == 1 and killed["ci_level"] == 0.95
    assert killed["p99_ci_low_s"] == pytest.approx(0.3) and killed["p99_ci_high_s"] is None  # 2 values bound nothing
    strict = {g.key: g for g in compute_goals(journals(), 7.0, min_affected=200)}
    assert not strict["failover_affected_hung"].ok and strict["failover_affected_hung"].comparison == ">="
    assert goals["drain_failed_in_flight"].measured == 0
    assert goals["drain_failed_in_flight"].note == "2 queries in flight at SIGTERM"
    assert goals["blue_green_failed_queries"].measured == 1 and not goals["blue_green_failed_queries"].ok
    assert goals["page_alert_s"].measured == 6.0 and goals["page_alert_s"].ok
    assert goals["page_alert_s"].sources == ("engine-outage",)


def test_goals_nobody_measured_are_none() -> None:
    goals = {g.key: g for g in compute_goals([Journal("empty", "x")], None)}
    assert goals["lost_queries"].measured is None
    assert all(goals[k].measured is None for k in ("failover_p99_killed_s", "drain_failed_in_flight", "page_alert_s"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_page_runs_its_runbook_in_process() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    capture = RunbookCapture(url, url)
    capture.experiment = "engine-outage"
    capture.on_alert("GatewayAvailabilityBudgetBurn", {"severity": "warning", "engine": "analytics"})  # no page
    capture.on_alert("GatewayAvailabilityBudgetBurn", {"severity": "critical", "engine": "analytics"})
    capture.on_alert("GatewayAvailabilityBudgetBurn", {"severity": "critical", "engine": "analytics"})  # seen
    capture.wait()
    [d] = capture.diagnoses
    assert d.command == ["enginewatch", "runbook", "GatewayAvailabilityBudgetBurn", "--json", "--prometheus", url,
                         "--orchestrator", url, "--engine", "analytics"]
    # Nothing listens there: the diagnosis says which sources it could not reach, as the command would.
    assert d.exit_code == 1 and d.error == "" and d.result is not None
    assert d.result["alert"] == "GatewayAvailabilityBudgetBurn" and d.result["complete"] is False
    assert {u["source"] for u in d.result["unavailable"]} == {"prometheus", "orchestrator"}
    assert d.extra["experiment"] == "engine-outage" and d.seconds < 60


def test_a_diagnosis_that_does_not_answer_in_time_is_recorded_as_timed_out() -> None:
    release = threading.Event()

    def slow(page: _Page) -> tuple[int | None, dict | None, str]:
        release.wait(10)
        return 0, {"late": True}, ""

    capture = RunbookCapture("http://127.0.0.1:9", "http://127.0.0.1:9", timeout_s=0.3)
    capture._diagnose = slow  # type: ignore[method-assign]
    capture.on_alert("EngineNodeDown", {"severity": "page", "engine": "sales"})
    t0 = time.monotonic()
    capture.wait()
    assert time.monotonic() - t0 < 5  # the game day does not wait on it
    [d] = capture.diagnoses
    assert (d.exit_code, d.result, d.error, d.seconds) == (None, None, "no answer within 0.3s", 0.3)
    assert d.command[-2:] == ["--engine", "sales"]
    release.set()
    for t in threading.enumerate():
        if t.name == "runbook-EngineNodeDown":
            t.join(5)
    assert len(capture.diagnoses) == 1  # the late answer goes unheard
