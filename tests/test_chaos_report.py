"""Reports from crafted journals: the game day template's sections, the JSON, and real PNG charts."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.fault import Fault
from chaos.journal import Journal
from chaos.report import write_experiment_report
from chaos.report.gameday import Diagnosis, Goal, gameday_document
from chaos.rollback import RollbackResult
from chaos.verdicts import failover_verdict, impact_verdict, queries_verdict, steady_state_verdict
from tests.test_chaos_verdicts import T0, ev, frame, q

PNG = b"\x89PNG\r\n\x1a\n"


def journal() -> tuple[Journal, object]:
    df = frame(*(q(i, i * 0.05, i * 0.05 + 0.02) for i in range(200)),
               q(900, 4.9, 5.6, pod="sales-c2-n1", attempts=2, server_s=0.3))
    f = Fault(0, "kill_pod", "sales", "one of sales", 5.0, ("sales-c1-n1",), (), {"sales-c1-n1": 4242}, T0 + 5.0,
              None, True, ["sales-c1-n1: pid 4242 gone, exit status -9"])
    events = [ev("pod_signaled", 5.0, signal="SIGKILL"), ev("pod_exited", 5.04, returncode=-9),
              ev("pod_ready", 6.5)]
    j = Journal("kill-node", "chaos/experiments/kill-node.yaml", "Kill a node.", status="passed", started=T0 - 1,
                ended=T0 + 12, load_t0=T0, load_t1=T0 + 10.2, sent=201, faults=[f],
                rollbacks=[RollbackResult("wait_ready", True, "every pod ready", 0.1)], events=events,
                experiment_raw={"hypothesis": {"lost_queries": {"max": 0},
                                               "failover": {"time_to_failover_p99_s": 1.0}},
                                "blast_radius": {"max_pods": 1, "min_ready_nodes_per_engine": 2},
                                "abort": {"conditions": [{"error_ratio": {"above": 0.5}}]}},
                plan=[{"step": 0, "pods": ["sales-c1-n1"]}])
    j.verdicts = [queries_verdict(df, sent=201, lost_max=0),
                  failover_verdict(df, events, f, goals={"time_to_failover_p99_s": 1.0})]
    return j, df


def test_experiment_report_has_every_section_and_a_chart(tmp_path: Path) -> None:
    j, df = journal()
    paths = write_experiment_report(j, df, tmp_path)
    md = paths["markdown"].read_text()
    for section in ("## Hypothesis", "## Blast radius", "## Abort criteria", "## Timeline",
                    "## Observations against expectations", "## Budget consumed", "## Verdict", "## Follow-ups"):
        assert section in md, section
    assert "- failover: time_to_failover_p99_s <= 1.0" in md
    assert "**kill_pod** sales-c1-n1: sales-c1-n1: pid 4242 gone" in md
    assert "| failover | time_to_failover_p99_s | <= 1 | 0.3 | PASS |" in md
    assert "![kill-node](chart.png)" in md
    assert paths["chart"].read_bytes()[:8] == PNG
    data = json.loads(paths["json"].read_text())
    assert data["status"] == "passed" and data["faults"][0]["injected"] is True
    assert data["verdicts"][1]["figures"]["time_to_failover_p99_s"] == 0.3


def test_failed_run_lists_its_reasons_as_follow_ups(tmp_path: Path) -> None:
    j, df = journal()
    j.faults[0].injected, j.faults[0].error, j.status = False, "pod sales-c1-n1 has no running process", "failed"
    j.verdicts = [queries_verdict(df, sent=201, lost_max=0),
                  failover_verdict(df, j.events, j.faults[0], goals={})]
    md = write_experiment_report(j, df, tmp_path)["markdown"].read_text()
    assert "fault not injected (pod sales-c1-n1 has no running process)" in md
    assert "FAILED" in md or "**FAILED**" in md


def test_gameday_document_puts_goals_first() -> None:
    j, _ = journal()
    goals = [Goal("failover_p99_killed_s", "time to fail over p99, node killed (s)", 0.3, 1.0, "<=", ("kill-node",)),
             Goal("page_alert_s", "page alert after a total outage (s after the fault)", None, 7, "<=")]
    d = Diagnosis("GatewayAvailabilityBudgetBurn", {"engine": "analytics"}, 3.2,
                  ["enginewatch", "runbook", "GatewayAvailabilityBudgetBurn", "--json"], 0,
                  {"summary": "analytics has no healthy node", "findings": [{"level": "problem", "text": "0/4 ready"}],
                   "mitigations": [{"command": "enginewatch engine scale", "why": "add capacity"}]},
                  extra={"experiment": "kill-node"})
    md = gameday_document(title="Game day report", started=T0, ended=T0 + 100, suite="short", stack={"engines": "2"},
                          goals=goals, journals=[j], charts={"kill-node": "kill-node/chart.png"}, diagnoses=[d],
                          status="failed")
    assert md.index("## Goals") < md.index("## Experiments") < md.index("### kill-node")
    assert "| time to fail over p99, node killed (s) | <= 1 | 0.3 | PASS |" in md
    assert "| page alert after a total outage (s after the fault) | <= 7 | not measured | FAIL |" in md
    assert "On-call diagnosis captured when the page fired" in md and "- [problem] 0/4 ready" in md
    assert "[goal] page alert after a total outage" in md


def test_the_report_shows_impact_and_false_pages(tmp_path: Path) -> None:
    j, df = journal()
    j.verdicts = [*j.verdicts, impact_verdict(df, j.events, j.faults, t0=T0, t1=T0 + 10.2),
                  steady_state_verdict([({"alertname": "GatewayLatencyBudgetBurn", "engine": "sales",
                                          "severity": "warning"}, [T0 + 2.0, T0 + 3.0])], T0, T0 + 5.0)]
    j.status = "failed"
    md = write_experiment_report(j, df, tmp_path)["markdown"].read_text()
    assert "- no alert fires under load before the first fault" in md
    assert "| step | repetitions | time to detect | time to mitigate | p99 before | p99 during | p99 after |" in md
    assert "| step 0 kill_pod sales-c1-n1 | 1 | — | — | 0.02 s (n=101) | 0.02 s (n=61) |" in md
    assert "| steady_state | alerts fired before the first fault | == 0 | 1 | FAIL |" in md
    assert "false page: GatewayLatencyBudgetBurn {engine=sales, severity=warning} fired at +2.00s" in md
    assert "steady_state steady state, 5.0s under load before the first fault: alerts fired before the first " \
           "fault = 1 (expected == 0)" in md
