"""The runbook pages and the `enginewatch runbook` command, without a running platform: every alert
has a page with the four sections whose steps are commands, pages are current with the playbooks, and
the command fails plainly on unknown alerts and unreachable sources."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alerts import files
from alerts import platform as pl
from alerts.meta import alert_names as meta_alert_names
from enginewatch.cli import app
from enginewatch.cli.engine import engine_app
from foundation.deployment import runbook_name
from foundation.process import free_port
from foundation.prometheus import Sample
from runbooks.diagnosis import Context, Scope, gray
from runbooks.markdown import SECTIONS, pages, path_of, sections
from runbooks.playbooks import known_alerts, registry
from slo.rules import generate, rule_file
from slo.specs import platform_slos

runner = CliRunner()


def _slo_alert_rules() -> list[dict]:
    """The SLO generator's alerts, generated now (they exist even before a rule file is committed)."""
    return [r for g in rule_file(generate(platform_slos()))["groups"] for r in g["rules"] if "alert" in r]


def _all_alert_rules() -> list[dict]:
    committed = [r for f in files.rule_files() for r in files.alert_rules(f)]
    return committed + _slo_alert_rules()


def test_pages_are_current() -> None:
    stale = [p for p, text in pages().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"stale runbook pages (run `python -m runbooks`): {stale}"


@pytest.mark.parametrize("rule", _all_alert_rules(), ids=lambda r: r["alert"])
def test_every_alerts_runbook_url_resolves_to_a_page_in_the_repo(rule: dict) -> None:
    name = runbook_name(rule["annotations"]["runbook_url"])
    assert name is not None, rule["annotations"]["runbook_url"]
    assert path_of(name).is_file(), f"{rule['alert']}: runbook_url names {name}.md, which runbooks/ lacks"
    assert name == rule["alert"]


def test_every_alert_has_a_playbook_and_no_playbook_is_orphaned() -> None:
    alerts = {r["alert"] for r in _all_alert_rules()}
    assert alerts == set(known_alerts())
    assert set(pl.alert_names()) <= set(known_alerts())


@pytest.mark.parametrize("alert", known_alerts())
def test_every_page_has_the_four_sections_and_its_steps_are_commands(alert: str) -> None:
    text = path_of(alert).read_text()
    assert sections(text) == list(SECTIONS)
    body = dict(zip(SECTIONS, re.split(r"^## .*$", text, flags=re.M)[1:], strict=True))
    for name in SECTIONS:
        assert body[name].strip(), f"{alert}: empty {name}"
    steps = re.findall(r"^\d+\. \*\*", body["Diagnosis"], flags=re.M)
    assert len(steps) == len(registry()[alert].checks)
    for n in range(1, len(steps) + 1):
        assert f"enginewatch runbook {alert} --engine ENGINE --step {n}" in body["Diagnosis"]
    assert "```promql" in body["Diagnosis"], "the PromQL each step runs is shown"
    commands = re.findall(r"^   (enginewatch .*)$", body["Mitigation"], flags=re.M)
    assert commands and len(commands) == len(registry()[alert].mitigations)
    if alert not in meta_alert_names():  # the pipeline's own alerts are not mitigated on the engines
        assert any(c.startswith("enginewatch engine ") for c in commands)


def _command_names(typer_app: typer.Typer) -> set[str]:
    return {c.name or c.callback.__name__.replace("_", "-") for c in typer_app.registered_commands}  # type: ignore[union-attr]


def test_every_mitigation_names_a_real_command() -> None:
    top = _command_names(app) | {g.name for g in app.registered_groups}
    engine = _command_names(engine_app)
    for book in registry().values():
        for m in book.mitigations:
            words = m.render().split()
            assert words[0] == "enginewatch" and words[1] in top, m.command
            if words[1] == "engine":
                assert words[2] in engine, m.command


# --- the command, without a platform ------------------------------------------------------------------

@pytest.fixture
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGINEWATCH_HOME", str(tmp_path))
    return tmp_path


def test_unknown_alert_exits_2_listing_the_known_ones(no_stack: Path) -> None:
    result = runner.invoke(app, ["runbook", "EngineOnFire"])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "unknown alert 'EngineOnFire'" in out
    for alert in known_alerts():
        assert alert in out


def test_unreachable_sources_are_named_with_what_could_not_be_checked(no_stack: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["runbook", pl.ENGINE_NODE_DOWN, "--engine", "sales",
                                 "--prometheus", dead, "--orchestrator", dead])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"prometheus at {dead} is unreachable" in result.output
    assert f"orchestrator at {dead} is unreachable" in result.output
    assert "Node scrapes: which pods Prometheus cannot reach" in result.output
    assert "Pods that are not ready" in result.output
    assert "enginewatch engine failover sales --to CLUSTERS" in result.output


def test_json_output_says_what_was_not_checked(no_stack: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["runbook", pl.GATEWAY_NO_HEALTHY_UPSTREAM, "--json",
                                 "--prometheus", dead, "--orchestrator", dead])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["alert"] == pl.GATEWAY_NO_HEALTHY_UPSTREAM and report["complete"] is False
    assert {u["source"] for u in report["unavailable"]} == {"prometheus", "orchestrator"}
    assert all(c["status"] == "unavailable" for c in report["checks"])
    assert report["mitigations"]


def test_without_a_stack_or_urls_it_says_where_to_point_it(no_stack: Path) -> None:
    result = runner.invoke(app, ["runbook", pl.ENGINE_POD_CRASH_LOOPING])
    assert result.exit_code == 1
    assert "no Prometheus URL" in result.output and "no orchestrator URL" in result.output


def test_a_step_out_of_range_is_refused(no_stack: Path) -> None:
    result = runner.invoke(app, ["runbook", pl.ENGINE_NODE_DOWN, "--step", "99"])
    assert result.exit_code == 2


# --- the gray-failure diagnosis names each cause from the evidence it leaves -------------------------

class _Evidence(Context):
    """Answers each query with the samples of the first rule whose every fragment it contains."""

    def __init__(self, rules: list[tuple[tuple[str, ...], list[Sample]]], pods: list[dict]) -> None:
        super().__init__(Scope(engine="sales"), None, None)
        self._rules = rules
        self._pods = pods

    def promql(self, expr: str) -> list[Sample]:
        self._record(expr)
        return next((samples for fragments, samples in self._rules if all(f in expr for f in fragments)), [])

    def pods(self) -> list[dict]:
        return self._pods


def _at(pod: str, value: float, **labels: str) -> Sample:
    cluster = pod.split("-")[1]
    return Sample({"engine": "sales", "cluster": cluster, "node": pod.rsplit("-", 1)[1], "pod": pod, **labels},
                  value, 0.0)


def test_the_gray_failure_diagnosis_names_throttled_oom_killed_slow_storage_and_partitioned() -> None:
    throttled, oom, storage, cut_off = "sales-c1-n1", "sales-c1-n2", "sales-c2-n1", "sales-c2-n2"
    ctx = _Evidence([
        (("increase(engine_cpu_throttled_seconds_total", "[1m]"), [_at(throttled, 48.0), _at(storage, 0.0)]),
        (("increase(engine_cpu_throttled_seconds_total",), [_at(throttled, 410)]),
        (("engine_cpu_throttled_periods_total", "engine_cpu_periods_total"), [_at(throttled, 0.93)]),
        (('reason="oom"',), [_at(oom, 2)]),
        (("engine_query_duration_seconds", "group_left"), [_at(storage, 24.0), _at(throttled, 1.0)]),
        (("engine_query_duration_seconds",), [_at(storage, 0.24), _at(throttled, 0.01)]),
        (('reason=~"refused|unresponsive"',), [_at(cut_off, 1, reason="unresponsive")]),
        (("up{",), [_at(cut_off, 0)]),
    ], pods=[{"pod": cut_off, "pid": 4242, "state": "UNREADY"}, {"pod": oom, "pid": 4243, "state": "READY"}])
    found = gray.cause.run(ctx) + gray.partition.run(ctx)
    problems = {f.pod: f.text for f in found if f.level == "problem"}
    assert "is CPU throttled" in problems[throttled] and "48.0 s in the last minute" in problems[throttled]
    assert "93% of its CPU periods" in problems[throttled]
    assert "was OOM-killed 2 times" in problems[oom]
    assert "reads storage slowly" in problems[storage] and "24 times its cluster's fastest" in problems[storage]
    assert "is partitioned from the gateway" in problems[cut_off] and "pid 4242" in problems[cut_off]
    assert "Prometheus cannot scrape it either" in problems[cut_off]
    # Slow lookups on a throttled node are the throttling's doing, not the storage's.
    assert "storage" not in problems[throttled]


def test_a_node_the_gateway_cannot_reach_without_a_running_process_is_not_a_partition() -> None:
    ctx = _Evidence([(('reason=~"refused|unresponsive"',), [_at("sales-c1-n1", 1, reason="refused")])], pods=[])
    found = gray.partition.run(ctx)
    assert [f.level for f in found] == ["info"] and "no partition" in found[0].text
    quiet = _Evidence([], pods=[])
    assert [f.level for f in gray.cause.run(quiet) + gray.partition.run(quiet)] == ["ok", "ok"]


def test_the_latency_diagnoses_judge_only_the_engines_of_their_slo() -> None:
    """The reporting engine's seconds-long lookups are the batch SLO's to judge, never the interactive one's."""
    def judged(alert: str) -> dict[str | None, str]:
        slow = [Sample({"engine": "sales"}, 0.5, 0.0), Sample({"engine": "reporting"}, 0.9, 0.0)]
        ctx = _Evidence([(("1 - sum by (engine)",), slow)], pods=[])
        ctx.scope = Scope()  # every engine: what the check itself leaves out is what its SLO does not judge
        latency = registry()[alert].checks[2]  # after "is it active" and the budget
        return {f.engine: f.text for f in latency.run(ctx)}

    interactive = judged("GatewayInteractiveLatencyBudgetBurn")
    assert set(interactive) == {"sales"} and "lookup/aggregate/join/write/other queries" in interactive["sales"]
    assert set(judged("GatewayScanLatencyBudgetBurn")) == {"sales"}
    batch = judged("GatewayBatchLatencyBudgetBurn")
    assert set(batch) == {"reporting"}
    assert batch["reporting"].startswith("90% of successful queries to reporting took longer than 10 s")
