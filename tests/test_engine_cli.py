"""`enginewatch engine ...`: refusals are checked against the live orchestrator before anything changes,
confirmations are asked, and each mitigation really acts on real pods.

Refusals, a declined confirmation, a failover and a restart run against the session's stack (found
through run.json) and leave it as it was. Drains, resizes and a rollback rename pods and clusters for
good, so they run against a private one-engine orchestrator with its own real pods.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engines.orchestrator import Orchestrator, parse_fleet
from enginewatch.cli import app

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()


def engine(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["engine", *args], input=input)


def flat(text: str) -> str:
    return " ".join(text.split())


def wait_ready(orch: Any, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not all(e.state == "RUNNING" and e.ready_nodes == e.desired_nodes for e in orch.snapshot()):
        assert time.monotonic() < deadline, "not every pod became ready again"
        time.sleep(0.2)


# --- refusals against the session's stack (read-only) ------------------------------------------------
# Names are read from the live orchestrator: other tests of the session may have drained or upgraded.

def _pods(stack: Any) -> list[str]:
    return [p.pod for p in stack.orchestrator.pods()]


def _clusters(stack: Any, engine: str) -> list[str]:
    return [c.name for c in stack.orchestrator.engine(engine).clusters]


REFUSALS: list[tuple[tuple[str, ...], str, Any]] = [
    (("drain-node", "sales-c9-n1"), "unknown pod 'sales-c9-n1'", _pods),
    (("restart-pod", "nope"), "unknown pod 'nope'", _pods),
    (("failover", "billing", "--to", "c1"), "unknown engine 'billing'", lambda s: s.engines),
    (("failover", "sales", "--to", "c1,c77"), "c77 of engine sales", lambda s: _clusters(s, "sales")),
    (("scale", "payroll", "--clusters", "2"), "unknown engine 'payroll'", lambda s: s.engines),
    (("scale", "sales", "--clusters", "9"), "allows 1 to 4 clusters, not 9", lambda s: []),
]


@pytest.mark.parametrize(("args", "message", "known"), REFUSALS, ids=lambda v: " ".join(v) if isinstance(v, tuple)
                         else None)
def test_unknown_or_impossible_targets_are_refused_with_exit_2(stack: Any, args: tuple[str, ...], message: str,
                                                               known: Any) -> None:
    before = [e.to_dict() for e in stack.orchestrator.snapshot()]
    result = engine(*args, "--yes")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert message in out
    for name in known(stack):
        assert name in out
    assert [e.to_dict() for e in stack.orchestrator.snapshot()] == before


def test_rolling_back_to_the_running_version_is_refused(stack: Any) -> None:
    current = stack.orchestrator.engine("sales").version
    result = engine("rollback-upgrade", "sales", "--to-version", current, "--yes")
    assert result.exit_code == 2
    assert f"already runs {current}" in flat(result.output)


def test_a_declined_confirmation_changes_nothing(stack: Any) -> None:
    active = stack.orchestrator.engine("sales").active_clusters
    result = engine("failover", "sales", "--to", active[0], input="n\n")
    assert result.exit_code == 1
    assert f"route its queries to {active[0]}" in flat(result.output)
    assert "aborted: nothing was changed" in result.output
    assert stack.orchestrator.engine("sales").active_clusters == active


def test_a_wrong_token_is_refused(stack: Any) -> None:
    active = stack.orchestrator.engine("sales").active_clusters
    result = engine("failover", "sales", "--to", active[0], "--yes", "--token", "not-the-token",
                    "--orchestrator", stack.orchestrator.url)
    assert result.exit_code == 2
    assert "refused by the orchestrator" in flat(result.output)
    assert stack.orchestrator.engine("sales").active_clusters == active


def test_without_a_stack_it_says_how_to_point_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINEWATCH_HOME", str(tmp_path))
    result = engine("restart-pod", "sales-c1-n1", "--yes")
    assert result.exit_code == 2
    assert "--orchestrator and --token" in flat(result.output)


# --- reversible mitigations on the session's stack ---------------------------------------------------

def test_failover_switches_and_switches_back(stack: Any) -> None:
    active = stack.orchestrator.engine("sales").active_clusters
    assert len(active) >= 2, "the default fleet serves sales from two clusters"
    try:
        result = engine("failover", "sales", "--to", active[0], "--yes")
        assert result.exit_code == 0, result.output
        assert "failover on sales: success" in result.output
        assert stack.orchestrator.engine("sales").active_clusters == (active[0],)
    finally:
        back = engine("failover", "sales", "--to", ",".join(active), "--yes")
        assert back.exit_code == 0, back.output
    assert stack.orchestrator.engine("sales").active_clusters == active


def test_restart_pod_restarts_the_same_pod(stack: Any) -> None:
    wait_ready(stack.orchestrator)
    pod = stack.orchestrator.engine("analytics").pods[0].pod
    before = stack.orchestrator.pod(pod)
    try:
        result = engine("restart-pod", pod, "--yes", "--json")
        assert result.exit_code == 0, result.output
        after = stack.orchestrator.pod(pod)
        assert after.pid != before.pid and after.ready
        assert after.restarts_by_reason.get("requested", 0) == before.restarts_by_reason.get("requested", 0) + 1
    finally:
        wait_ready(stack.orchestrator)


# --- mitigations that rename things, on a private orchestrator ---------------------------------------

MINI_FLEET = {
    "engines": [{"name": "mini", "type": "S", "nodes_per_cluster": 1, "clusters": 2, "min_clusters": 1,
                 "max_clusters": 3, "version": "v1"}],
    "grace_period_s": 2, "drain_slack_s": 2,
}


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    token = secrets.token_urlsafe(16)
    orch = Orchestrator(parse_fleet(MINI_FLEET), tmp_path_factory.mktemp("mini-orchestrator"), admin_token=token)
    try:
        orch.serve()
        orch.start()
        yield orch
    finally:
        orch.stop()


def mini_engine(orch: Orchestrator, *args: str) -> Any:
    return engine(*args, "--orchestrator", orch.url or "", "--token", orch.admin_token, "--yes")


def test_drain_node_replaces_the_pod(mini: Orchestrator) -> None:
    old = mini.engine("mini").cluster("c1").pods[0]
    result = mini_engine(mini, "drain-node", old.pod)
    assert result.exit_code == 0, result.output
    new = mini.engine("mini").cluster("c1").pods[0]
    assert new.pod != old.pod and new.ready
    assert f"replacement: {new.pod}" in result.output


def test_scale_out_and_back(mini: Orchestrator) -> None:
    assert mini_engine(mini, "scale", "mini", "--clusters", "3").exit_code == 0
    assert mini.engine("mini").ready_nodes == 3
    result = mini_engine(mini, "scale", "mini", "--clusters", "2", "--nodes", "2")
    assert result.exit_code == 0, result.output
    e = mini.engine("mini")
    assert (len(e.clusters), e.nodes_per_cluster, e.ready_nodes) == (2, 2, 4)


def test_rollback_upgrade_goes_back_to_the_previous_version(mini: Orchestrator) -> None:
    never = mini_engine(mini, "rollback-upgrade", "mini")
    assert never.exit_code == 2 and "was never upgraded: give --to-version" in flat(never.output)
    mini.upgrade("mini", "v2")
    assert mini.engine("mini").version == "v2"
    result = mini_engine(mini, "rollback-upgrade", "mini")
    assert result.exit_code == 0, result.output
    e = mini.engine("mini")
    assert e.version == "v1" and all(c.version == "v1" for c in e.clusters) and e.ready_nodes == e.desired_nodes


def test_a_request_the_orchestrator_rejects_exits_2_with_its_reason(mini: Orchestrator) -> None:
    before = mini.engine("mini").to_dict()
    result = mini_engine(mini, "scale", "mini", "--nodes", "99")
    assert result.exit_code == 2, result.output
    assert "refused by the orchestrator" in flat(result.output) and "nodes_per_cluster" in result.output
    assert mini.engine("mini").to_dict() == before
