"""The experiment format: schema, field-path errors, semantic checks, target selection, blast radius."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.backend import EngineInfo, PodInfo
from chaos.blast import PlannedFault, live_problems, plan_problems
from chaos.experiment import BlastRadius, ExperimentError, Target, load_experiment, parse_experiment, schema
from chaos.run import plan_against
from chaos.selector import NoTarget, count, select_clusters, select_pods
from foundation.durations import PATTERN as DURATION_PATTERN

EXPERIMENTS = Path(__file__).resolve().parent.parent / "chaos" / "experiments"

VALID: dict[str, Any] = {
    "name": "kill-node",
    "load": {"qps": 20, "duration_s": 20, "engines": ["sales"]},
    "method": [{"at_s": 5, "action": "kill_pod", "target": {"engine": "sales", "mode": "one"}}],
    "hypothesis": {"lost_queries": {"max": 0}, "failover": {"time_to_failover_p99_s": 1.0}},
}


def problems_of(data: dict) -> list[str]:
    with pytest.raises(ExperimentError) as err:
        parse_experiment(data, "exp.yaml")
    return err.value.problems


def with_(**changes: object) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    for path, value in changes.items():
        node: Any = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is None:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_experiments_are_valid(path: Path) -> None:
    exp = load_experiment(path)
    assert exp.name == path.stem
    assert all(step.target.engine for step in exp.method)


def test_valid_experiment_builds_the_model() -> None:
    exp = parse_experiment(VALID)
    assert exp.method[0].target == Target("sales", "one")
    assert exp.hypothesis.lost_queries == 0
    assert exp.hypothesis.failover == {"time_to_failover_p99_s": 1.0}
    assert exp.blast_radius == BlastRadius(1, 1, False)
    assert exp.slo.period_s == 12 * 3600


def test_bad_mode_names_the_field_path() -> None:
    data = copy.deepcopy(VALID)
    data["method"].append({"at_s": 6, "action": "kill_pod", "target": {"engine": "sales", "mode": "some"}})
    assert problems_of(data) == ["method[1].target.mode: 'some' is not one of ['one', 'fixed', 'percent', 'all']"]


def test_no_run_without_a_target_selector() -> None:
    assert problems_of(with_(method__0__target=None)) == ["method[0]: 'target' is a required property"]
    assert problems_of(with_(method__0__target={"mode": "one"})) == [
        "method[0].target: 'engine' is a required property"]


@pytest.mark.parametrize("changes, expected", [
    ({"method__0__target__mode": "fixed"}, "method[0].target: 'value' is a required property"),
    ({"method__0__target__mode": "percent", "method__0__target__value": 150},
     "method[0].target.value: 150 is greater than the maximum of 100"),
    ({"method__0__action": "pause_pod"}, "method[0]: 'duration_s' is a required property"),
    ({"method__0__action": "blue_green_upgrade"}, "method[0]: 'version' is a required property"),
    ({"method__0__action": "nuke"}, "method[0].action: 'nuke' is not one of"),
    ({"load__qps": 0}, "load.qps: 0 is less than or equal to the minimum of 0"),
    ({"hypothesis__p99": {"max": 1}}, "hypothesis: Additional properties are not allowed ('p99' was unexpected)"),
    ({"abort": {"conditions": [{"error_ratio": {"above": 2}}]}},
     "abort.conditions[0].error_ratio.above: 2 is greater than the maximum of 1"),
    ({"abort": {"conditions": [{"burn_rate": {"above": 10, "window": "5x"}}]}},
     "abort.conditions[0].burn_rate.window: '5x' does not match"),
    ({"method__0__at_s": 25}, "method[0].at_s: 25 is not before the end of the load"),
    ({"method__0__target__engine": "analytics"}, "method[0].target.engine: 'analytics' receives no load"),
    ({"method__0__duration_s": 3, "method__0__action": "terminate_pod"}, "method[0].duration_s: terminate_pod"),
    ({"hypothesis__drain": {"exit_code": 0}}, "hypothesis.drain: no step of the method is one of"),
    ({"load__weights": {"analytics": 2}}, "load.weights.analytics: not an engine of load.engines"),
    ({"load__weights": {"sales": 0}}, "load.weights.sales: 0 is less than or equal to the minimum of 0"),
])
def test_errors_name_their_field(changes: dict, expected: str) -> None:
    problems = problems_of(with_(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_load_weights_follow_the_engines_order() -> None:
    exp = parse_experiment(with_(load__engines=["sales", "analytics"], load__weights={"analytics": 3}), "exp.yaml")
    assert exp.load.weights == (1.0, 3.0)
    assert parse_experiment(VALID, "exp.yaml").load.weights is None


def test_every_problem_is_reported_at_once() -> None:
    data = with_(method__0__target__mode="some", load__qps=-1)
    assert len(problems_of(data)) == 2


# --- gray faults: each action's parameters -----------------------------------------------------------

def gray(action: str, **fields: object) -> dict[str, Any]:
    return with_(method__0={"at_s": 5, "action": action, "target": {"engine": "sales", "mode": "one"}, **fields},
                 hypothesis={"lost_queries": {"max": 0}})


@pytest.mark.parametrize("data, expected", [
    (gray("throttle_cpu", duration_s=5), "method[0]: 'cpus' is a required property"),
    (gray("throttle_cpu", cpus=0.05), "method[0]: 'duration_s' is a required property"),
    (gray("throttle_cpu", cpus=0.001, duration_s=5), "method[0].cpus: 0.001 is less than the minimum of 0.01"),
    (gray("limit_memory", duration_s=5), "method[0]: 'memory_mb' is a required property"),
    (gray("limit_memory", memory_mb=20.5, duration_s=5), "method[0].memory_mb: 20.5 is not of type 'integer'"),
    (gray("packet_loss", probability=1.5, duration_s=5),
     "method[0].probability: 1.5 is greater than the maximum of 1"),
    (gray("partition", duration_s=5, reject="yes"), "method[0].reject: 'yes' is not of type 'boolean'"),
    (gray("noisy_neighbor", duration_s=5, stress={"kind": "io"}),
     "method[0].stress.kind: 'io' is not one of ['cpu', 'vm']"),
    (gray("noisy_neighbor", duration_s=5, stress={"kind": "cpu", "workers": 64}),
     "method[0].stress.workers: 64 is greater than the maximum of 8"),
    (gray("slow_storage", duration_s=5), "method[0]: 'latency_ms' is a required property"),
    (gray("kill_pod", cpus=0.5), "method[0].cpus: kill_pod does not take it (only noisy_neighbor, throttle_cpu)"),
    (gray("partition", duration_s=5, probability=0.2),
     "method[0].probability: partition does not take it (only packet_loss)"),
])
def test_gray_fault_parameters_are_checked_with_field_paths(data: dict, expected: str) -> None:
    assert problems_of(data) == [expected]


def test_gray_fault_builds_its_step() -> None:
    exp = parse_experiment(gray("noisy_neighbor", duration_s=5, cpus=1.0, stress={"kind": "vm", "workers": 2}))
    step = exp.method[0]
    assert step.params == {"cpus": 1.0, "stress": {"kind": "vm", "workers": 2, "vm_mb": 128}}
    assert parse_experiment(gray("partition", duration_s=3, reject=True)).method[0].reject is True


def test_a_partition_and_a_memory_limit_count_against_the_blast_radius() -> None:
    radius = BlastRadius(max_pods=1, min_ready_nodes_per_engine=1)
    faults = [PlannedFault(0, "partition", "sales", ("sales-c1-n1",)),
              PlannedFault(1, "limit_memory", "sales", ("sales-c2-n1",)),
              PlannedFault(2, "throttle_cpu", "sales", ("sales-c2-n2",))]  # slow, not gone: not counted
    assert plan_problems(faults, {"sales": 4}, radius) == [
        "blast_radius.max_pods: the method hits 2 pods (sales-c1-n1, sales-c2-n1), more than 1"]


# --- durations: the one grammar of foundation/durations.py --------------------------------------------

def _schema_nodes(node: Any, key: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield key, node
        for k, v in node.items():
            # Items of a list are named after the list (load.engines' items are engine names).
            yield from _schema_nodes(v, key if k in ("items", "properties", "$defs", "oneOf", "allOf") else k)
    elif isinstance(node, list):
        for v in node:
            yield from _schema_nodes(v, key)


def test_the_schema_spells_durations_with_the_one_grammar() -> None:
    nodes = list(_schema_nodes(schema()))
    patterns = {(key, n["pattern"]) for key, n in nodes if "pattern" in n}
    durations = {key for key, p in patterns if p == DURATION_PATTERN}
    assert {"duration", "seconds", "positive", "duration_s", "deadline_s", "wait_s", "within_s",
            "check_every_s", "recovery_timeout_s"} <= durations
    # The only other patterns are names, never a duration grammar of their own.
    assert {key for key, p in patterns if p != DURATION_PATTERN} == {"name", "engine", "engines", "version"}
    assert schema()["$defs"]["abort_condition"]["oneOf"][1]["properties"]["burn_rate"]["properties"]["window"] \
        == schema()["$defs"]["slo"]["properties"]["period"] == {"$ref": "#/$defs/duration"}
    # Every field in seconds takes a duration string too, and nothing else is a number of seconds.
    seconds = [key for key, n in nodes if n.get("type") == ["number", "string"]]
    assert seconds and all(k.endswith("_s") or k in ("seconds", "positive") for k in seconds)
    assert not [key for key, n in nodes if key.endswith("_s") and n.get("type") == "number"]


def test_an_experiment_takes_durations_in_the_one_grammar() -> None:
    data = with_(load__duration_s="5m", method__0__at_s="1m30s", method__0__action="pause_pod",
                 method__0__duration_s="1m", hypothesis__recovery={"within_s": "1h30m"},
                 abort={"conditions": [{"burn_rate": {"above": 10, "window": "1h30m"}},
                                       {"error_ratio": {"above": 0.5, "window_s": "500ms"}}]},
                 slo={"period": "1d"})
    exp = parse_experiment(data)
    assert exp.load.duration_s == 300 and exp.method[0].at_s == 90 and exp.method[0].duration_s == 60
    assert exp.hypothesis.recovery_within_s == 5400
    assert [c.window_s for c in exp.abort] == [5400, 0.5] and exp.slo.period_s == 86400
    assert exp.raw["method"][0]["at_s"] == "1m30s"  # the journal keeps what was written


@pytest.mark.parametrize("changes, expected", [
    # Understood, then refused by the field's bound, not by the grammar:
    ({"method__0__action": "pause_pod", "method__0__duration_s": "1h30m"},
     "method[0].duration_s: '1h30m' = 5400.0 is greater than the maximum of 3600"),
    ({"method__0__at_s": "30s"}, "method[0].at_s: 30 is not before the end of the load"),
    ({"method__0__at_s": "6 s"}, "method[0].at_s: '6 s' does not match the duration grammar: use e.g. 30s, 5m"),
    ({"method__0__at_s": "30m1h"}, "method[0].at_s: '30m1h' does not match the duration grammar"),
    ({"load__duration_s": "0s"}, "load.duration_s: '0s' = 0.0 is less than or equal to the minimum of 0"),
    ({"load__duration_s": ""}, "load.duration_s: '' should be non-empty"),
    ({"slo": {"period": "0d"}}, "slo.period: a duration must be positive, got '0d'"),
    ({"slo": {"period": 3600}}, "slo.period: 3600 is not of type 'string'"),
])
def test_bad_durations_name_field_and_reason(changes: dict, expected: str) -> None:
    problems = problems_of(with_(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_cli_exits_2_with_the_field_path(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["method"].append({"at_s": 6, "action": "kill_pod", "target": {"engine": "sales", "mode": "some"}})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.run([sys.executable, "-m", "enginewatch.cli", "chaos", "run", str(path)],
                          capture_output=True, text=True, timeout=60, env={"COLUMNS": "60", "PATH": "/usr/bin"})
    assert proc.returncode == 2
    assert "method[1].target.mode: 'some' is not one of ['one', 'fixed', 'percent', 'all']" in proc.stderr


def test_cli_rejects_yaml_that_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ExperimentError, match="not valid YAML at line"):
        load_experiment(path)


# --- selection and blast radius -------------------------------------------------------------------------

def pods(engine: str = "sales", clusters: int = 2, nodes: int = 2, ready: bool = True) -> list[PodInfo]:
    return [PodInfo(f"{engine}-c{c}-n{n}", engine, f"c{c}", f"n{n}", "v1", "READY", ready, 1000 + c * 10 + n,
                    "http://127.0.0.1:1") for c in range(1, clusters + 1) for n in range(1, nodes + 1)]


@pytest.mark.parametrize("mode, value, available, expected", [
    ("one", None, 4, 1), ("all", None, 4, 4), ("fixed", 3, 4, 3), ("fixed", 9, 4, 4),
    ("percent", 50, 4, 2), ("percent", 10, 4, 1), ("percent", 100, 3, 3), ("one", None, 0, 0),
])
def test_modes_count(mode: str, value: float | None, available: int, expected: int) -> None:
    assert count(mode, value, available) == expected


def test_selection_is_seeded_and_scoped() -> None:
    fleet = pods() + pods("analytics")
    a = select_pods(Target("sales", "fixed", 2), fleet, seed=7)
    assert a == select_pods(Target("sales", "fixed", 2), fleet, seed=7)
    assert {p.engine for p in a} == {"sales"} and len(a) == 2
    assert {p.cluster for p in select_pods(Target("sales", "all", cluster="c2"), fleet)} == {"c2"}
    assert [p.pod for p in select_pods(Target("sales", "one", pod="sales-c1-n2"), fleet)] == ["sales-c1-n2"]
    assert select_clusters(Target("sales", "one"), fleet, seed=1) in (["c1"], ["c2"])


def test_busy_preference_picks_the_busiest() -> None:
    chosen = select_pods(Target("sales", "one"), pods(), seed=3, prefer={"sales-c2-n1": 2.0, "sales-c1-n1": 1.0})
    assert [p.pod for p in chosen] == ["sales-c2-n1"]


def test_a_pod_without_a_process_is_no_target() -> None:
    gone = [PodInfo("sales-c1-n1", "sales", "c1", "n1", "v1", "BACKOFF", False, None, None)]
    with pytest.raises(NoTarget):
        select_pods(Target("sales", "one", pod="sales-c1-n1"), gone)


def test_blast_radius_plan() -> None:
    radius = BlastRadius(max_pods=1, min_ready_nodes_per_engine=2)
    one = [PlannedFault(0, "kill_pod", "sales", ("sales-c1-n1",))]
    assert plan_problems(one, {"sales": 4}, radius) == []
    two = one + [PlannedFault(1, "kill_pod", "sales", ("sales-c2-n1",))]
    assert plan_problems(two, {"sales": 4}, radius)[0].startswith("blast_radius.max_pods: the method hits 2 pods")
    outage = [PlannedFault(0, "kill_cluster", "sales", tuple(p.pod for p in pods()))]
    wide = BlastRadius(max_pods=4, min_ready_nodes_per_engine=1)
    assert plan_problems(outage, {"sales": 4}, wide)[0].startswith(
        "blast_radius.min_ready_nodes_per_engine: engine 'sales' would keep 0 ready node(s)")
    assert plan_problems(outage, {"sales": 4}, BlastRadius(4, 1, allow_engine_outage=True)) == []
    # An upgrade adds capacity before it removes any: it does not count against the blast radius.
    assert plan_problems([PlannedFault(0, "blue_green_upgrade", "sales", tuple(p.pod for p in pods()))],
                         {"sales": 4}, radius) == []


def test_blast_radius_live_counts_nodes_ready_now() -> None:
    fleet = pods()
    degraded = [p if p.pod != "sales-c1-n1" else PodInfo(**{**p.__dict__, "ready": False}) for p in fleet]
    radius = BlastRadius(max_pods=1, min_ready_nodes_per_engine=3)
    assert live_problems("sales", fleet, ["sales-c2-n1"], radius, "kill_pod") == []
    assert live_problems("sales", degraded, ["sales-c2-n1"], radius, "kill_pod")


def test_plan_resolves_targets_and_reports_unknown_ones() -> None:
    exp = load_experiment(EXPERIMENTS / "kill-node.yaml")
    engines = [EngineInfo(e, "RUNNING", "v1", ("c1", "c2"), ("c1", "c2"), 4, 4) for e in ("sales", "analytics")]
    missing = plan_against(exp, engines, pods() + pods("analytics"))
    assert "load.engines: unknown engine 'reporting' (known: analytics, sales)" in missing.problems
    engines.append(EngineInfo("reporting", "RUNNING", "v1", ("c1", "c2"), ("c1", "c2"), 4, 4))
    the_plan = plan_against(exp, engines, pods() + pods("analytics") + pods("reporting"))
    assert the_plan.problems == []
    assert len(the_plan.steps[0]["pods"]) == 1
    text = "\n".join(the_plan.describe())
    assert "at +6s: kill_pod on one of sales, 4 times, 0.5s apart after recovery -> now would hit: sales-" in text
    assert "abort if: client error ratio over 5s > 0.5" in text
    data = copy.deepcopy(exp.raw)
    data["method"][0]["target"]["cluster"] = "c9"
    bad = plan_against(parse_experiment(data), engines, pods() + pods("analytics") + pods("reporting"))
    assert bad.problems == ["method[0].target.cluster: engine 'sales' has no cluster 'c9' (clusters: c1, c2)"]


def test_dry_run_prints_the_plan_and_does_nothing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin", "ENGINEWATCH_HOME": str(tmp_path), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "enginewatch.cli", "chaos", "run",
                           str(EXPERIMENTS / "hang-node.yaml"), "--dry-run"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "nothing will be done" in proc.stdout
    assert "pause_pod on one of sales, duration_s 1, 6 times, 0.7s apart after recovery -> now would hit: sales-" \
        in proc.stdout
    assert "engines/fleet.gameday.yaml (no stack is running" in " ".join(proc.stdout.split())  # its own fleet
    assert "rollbacks (always): undo lasting faults" in proc.stdout
    assert not (tmp_path / "stack.lock").exists() and not list(tmp_path.iterdir())


# --- the fleet an experiment is written for ----------------------------------------------------------------

def test_an_experiment_names_its_fleet_relative_to_its_file(tmp_path: Path) -> None:
    exp = load_experiment(EXPERIMENTS / "kill-node.yaml")
    assert exp.fleet_path == EXPERIMENTS.parent.parent / "engines" / "fleet.gameday.yaml"
    assert load_experiment(EXPERIMENTS / "terminate-node.yaml").fleet_path is None
    data = yaml.safe_load((EXPERIMENTS / "kill-node.yaml").read_text())
    moved = tmp_path / "kill-node.yaml"
    moved.write_text(yaml.safe_dump(data))
    with pytest.raises(ExperimentError) as err:
        load_experiment(moved)
    assert err.value.problems == [f"fleet: no fleet file at {tmp_path.parent.parent / 'engines' / 'fleet.gameday.yaml'}"
                                  " (relative to the experiment's file)"]
    data["fleet"] = 7
    moved.write_text(yaml.safe_dump(data))
    with pytest.raises(ExperimentError) as err:
        load_experiment(moved)
    assert any(p.startswith("fleet:") for p in err.value.problems)


def test_every_experiment_of_a_suite_fits_the_fleet_the_suite_boots() -> None:
    from enginewatch.cli.chaos import fleet_state
    from enginewatch.gameday import SUITES, load_suite, suite_fleet

    for suite in SUITES:
        state = fleet_state(suite_fleet(suite))
        for exp in load_suite(suite):
            assert plan_against(exp, *state).problems == [], (suite, exp.name)
            assert exp.fleet_path in (None, suite_fleet(suite)), (suite, exp.name)
