"""Live, on a small stack of our own with two extra alert rules: a step repeated K times makes K verified
faults that its verdicts pool, and the false-page check fails a run in which an alert fires under load
before the first fault (and lets it pass when the experiment declares that alert as background).

The extra rule, ``ChaosTestLoadOnAlpha``, fires a couple of seconds after load reaches engine ``alpha``:
an alert the test controls, without waiting on any real platform alert's thresholds; ``ChaosTestWatchdog``
(``vector(1)``) fires always, as a dead man's switch does."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.backends import LocalBackend
from chaos.experiment import parse_experiment
from chaos.run import Platform, run_experiment
from chaos.verdicts import FailoverFigures, ImpactFigures, SteadyStateFigures
from chaos.verdicts.failover import affected_queries
from chaos.verdicts.steady import GAP_INTERVALS
from enginewatch.stack import Stack, StackOptions
from exporters import contract as c
from foundation.process import wait_until
from foundation.promql import sel
from loadgen.ledger import read_ledger

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

FLEET = """
engines:
  - {name: alpha, type: S, nodes_per_cluster: 1, clusters: 2, version: v1}
  - {name: beta, type: S, nodes_per_cluster: 1, clusters: 2, version: v1}
grace_period_s: 5
drain_slack_s: 2
"""
ALERT = "ChaosTestLoadOnAlpha"
WATCHDOG = "ChaosTestWatchdog"


def rules() -> dict[str, Any]:
    answered = sel(c.GATEWAY_REQUEST_DURATION, "count", engine="alpha")
    return {"groups": [{"name": "chaos-test", "interval": "1s", "rules": [
        {"alert": ALERT, "expr": f"sum(rate({answered}[5s])) > 2", "for": "0s",
         "labels": {"severity": "warning", "engine": "alpha"},
         "annotations": {"summary": "load on alpha (a test rule: fires under load by design)"}},
        # A dead man's switch fires always, by design: never a false page.
        {"alert": WATCHDOG, "expr": "vector(1)", "labels": {"severity": "none"}}]}]}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    d = tmp_path_factory.mktemp("chaos-steady")
    (d / "fleet.yaml").write_text(FLEET)
    (d / "test.rules.yml").write_text(yaml.safe_dump(rules()))
    with Stack(StackOptions(fleet=d / "fleet.yaml", state_dir=d / "state", write_run_state=False,
                            rule_files=[d / "test.rules.yml"])) as s:
        yield s


def _platform(small: Stack) -> Platform:
    backend = LocalBackend.from_stack(small)
    wait_until(lambda: all(e.ready_nodes == e.desired_nodes and e.state == "RUNNING" for e in backend.engines()), 60,
               what="every pod ready")
    return Platform(backend, small.gateway_url, small.prometheus_url, None, small.fleet.grace_period_s)


def _experiment(engine: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "steady", "load": {"qps": 20, "duration_s": 8, "engines": [engine], "kinds": ["lookup", "aggregate"],
                                   "deadline_s": 10},
        "method": [{"at_s": 5.5, "action": "pause_pod", "duration_s": 1,
                    "target": {"engine": engine, "mode": "one"}}],
        "hypothesis": {"lost_queries": {"max": 0}},
        "rollbacks": [{"action": "resume_paused"}, {"action": "wait_ready", "timeout_s": 60}],
        "blast_radius": {"max_pods": 2, "min_ready_nodes_per_engine": 1},
    }
    base.update(copy.deepcopy(overrides))
    return base


def test_a_repeated_step_injects_k_faults_and_pools_them(small: Stack, tmp_path: Path) -> None:
    # beta: no load on alpha, so the test rule stays quiet and the steady state is clean.
    exp = parse_experiment(_experiment(
        "beta", load={"qps": 25, "duration_s": 11, "engines": ["beta"], "kinds": ["lookup", "aggregate", "join"],
                      "deadline_s": 10},
        method=[{"at_s": 1.5, "action": "pause_pod", "duration_s": 1, "repeat": 3, "gap_s": 0.5,
                 "target": {"engine": "beta", "mode": "one", "busy": {"min_in_flight": 1, "wait_s": 1}}}]))
    journal = run_experiment(exp, _platform(small), tmp_path)
    assert [(f.step, f.repetition, f.injected) for f in journal.faults] == [(0, 0, True), (0, 1, True), (0, 2, True)]
    starts = [f.ts for f in journal.faults]
    lifted = [f.lifted_ts for f in journal.faults]
    assert all(lifted[i] is not None and lifted[i] + 0.5 <= starts[i + 1] for i in range(2)), (starts, lifted)
    [failover] = journal.verdict_figures(FailoverFigures)
    assert failover.repetitions == 3
    df = read_ledger(Path(journal.artifacts["ledger"]))
    union = set().union(*(set(affected_queries(df, f)["id"]) for f in journal.faults))
    assert failover.affected_queries == len(union) == len(failover.delays_s)
    [impact] = journal.verdict_figures(ImpactFigures)
    assert impact.repetitions == 3 and impact.queries_before > 0 and impact.queries_during > 0
    faults = next(v for v in journal.verdicts if v.kind == "faults")
    assert any(c.name == "step 0 repetitions" and c.ok for c in faults.criteria)
    [steady] = journal.verdict_figures(SteadyStateFigures)
    assert steady.watched and steady.false_pages == ()
    assert journal.status == "passed", journal.reasons()


def test_an_alert_firing_before_the_fault_fails_the_run_as_a_false_page(small: Stack, tmp_path: Path) -> None:
    _quiet(small)
    journal = run_experiment(parse_experiment(_experiment("alpha")), _platform(small), tmp_path / "page")
    [steady] = journal.verdict_figures(SteadyStateFigures)
    assert steady.watched
    [page] = steady.false_pages
    assert page.name == ALERT and page.labels["engine"] == "alpha" and page.severity == "warning"
    assert WATCHDOG in steady.background + steady.carried_over
    assert journal.load_t0 <= page.fired_at < journal.faults[0].ts
    assert journal.status == "failed"
    assert any(r.startswith("steady_state") and "alerts fired before the first fault = 1" in r
               for r in journal.reasons()), journal.reasons()


def _quiet(small: Stack) -> None:
    """Until the test alert resolved, and long enough ago that firing again is a new firing (more than
    GAP_INTERVALS evaluations): one still firing from the previous run would be carried over (not
    judged), and prove nothing."""
    with small.prom() as prom:
        wait_until(lambda: not [a for a in prom.alerts() if a.name == ALERT], 30, interval=0.5,
                   what=f"{ALERT} to resolve")
    time.sleep(GAP_INTERVALS * 1.0 + 1.0)  # the local profile evaluates every second


def test_an_alert_the_experiment_declares_as_background_is_no_false_page(small: Stack, tmp_path: Path) -> None:
    _quiet(small)
    exp = parse_experiment(_experiment("alpha", hypothesis={"lost_queries": {"max": 0},
                                                            "alerts": {"background": [ALERT]}}))
    journal = run_experiment(exp, _platform(small), tmp_path / "background")
    [steady] = journal.verdict_figures(SteadyStateFigures)
    assert steady.watched and steady.false_pages == () and steady.background == (ALERT,)
    steady_verdict = next(v for v in journal.verdicts if v.kind == "steady_state")
    assert steady_verdict.passed
    assert journal.status == "passed", journal.reasons()
