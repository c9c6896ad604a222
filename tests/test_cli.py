"""The command line as a whole: one way to refuse a user mistake, every verb finding the running stack,
durations in the one grammar, tables that survive a pipe, and the load summary.

Most tests run the CLI in process (typer's CliRunner) against a run.json that points at dead ports or
at a small fake orchestrator; the piped `status` runs as a subprocess, as a user would pipe it. The
last two tests drive the session's live stack.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from enginewatch.cli import app, console, options
from enginewatch.cli.progress import summary_table
from foundation import runstate
from foundation.process import free_port

runner = CliRunner()
EXPERIMENT = Path(__file__).resolve().parent.parent / "chaos" / "experiments" / "kill-node.yaml"


@pytest.fixture
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGINEWATCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def dead_stack(no_stack: Path) -> str:
    """A run.json of a live PID (this one) whose components all listen on a port nobody holds."""
    dead = f"http://127.0.0.1:{free_port()}"
    runstate.RunState(pid=os.getpid(), state_dir=str(no_stack), gateway=dead, orchestrator=dead, prometheus=dead,
                      admin_token="t", engines=["sales"]).save()
    return dead


def flat(text: str) -> str:
    return " ".join(text.split())


# --- one way to fail --------------------------------------------------------------------------------

def _raises(exc: BaseException) -> typer.Typer:
    sub = console.App()

    @sub.command()
    def boom() -> None:
        raise exc

    @sub.command()
    def other() -> None:
        pass

    return sub


def _mistakes() -> list[tuple[BaseException, str]]:
    from chaos.experiment import ExperimentError
    from chaos.run import PlanError
    from dashboards.lint import DashboardInputError
    from dashboards.provisioning import BuildError
    from engines.orchestrator import FleetError
    from foundation.orchestrator import OrchestratorUnavailable
    from foundation.prometheus import PrometheusUnavailable
    from foundation.promtool import ToolMissing
    from slo.errors import DataSourceError, SpecError

    return [
        (SpecError("must be within (0, 1)", file="a.yaml", slo="x", field="objective"),
         "error: a.yaml: SLO 'x': objective: must be within (0, 1)"),
        (DataSourceError("http://127.0.0.1:1", "connection", "cannot connect"),
         "error: Prometheus at http://127.0.0.1:1: cannot connect"),
        (PrometheusUnavailable("http://p", "api", "bad query"), "error: Prometheus at http://p: bad query"),
        (OrchestratorUnavailable("http://o", "refused"), "error: orchestrator at http://o: refused"),
        (ToolMissing("promtool not found: install the Debian package 'prometheus'"), "error: promtool not found"),
        (runstate.NotRunning("no running stack"), "error: no running stack"),
        (runstate.AlreadyRunning("another enginewatch stack is running"), "error: another enginewatch stack"),
        (FleetError("fleet.yaml: engines[0].nodes: must be at least 1"), "error: fleet.yaml: engines[0].nodes"),
        (BuildError("x is not a directory"), "error: x is not a directory"),
        (DashboardInputError("d.json: not a Grafana dashboard"), "error: d.json: not a Grafana dashboard"),
        (FileNotFoundError(2, "No such file or directory", "missing.csv"), "error: missing.csv: no such file"),
        (ExperimentError("bad.yaml", ["method[0].at_s: 'x' is wrong", "load.qps: -1 is less"]),
         "error: invalid experiment: bad.yaml\nbad.yaml: method[0].at_s: 'x' is wrong\nbad.yaml: load.qps: -1 is less"),
        (PlanError("bad.yaml", ["method[0].target.engine: unknown engine 'nope'"]),
         "error: the experiment does not fit the platform: bad.yaml\n"
         "bad.yaml: method[0].target.engine: unknown engine 'nope'"),
    ]


@pytest.mark.parametrize("case", range(len(_mistakes())))
def test_every_user_mistake_is_one_error_line_and_exit_2(case: int) -> None:
    exc, expected = _mistakes()[case]
    result = runner.invoke(_raises(exc), ["boom"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(expected), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_bug_of_ours_keeps_its_stack_trace() -> None:
    result = runner.invoke(_raises(KeyError("bug")), ["boom"])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)


def test_the_refusal_table_names_real_exceptions() -> None:
    for module, name in console._MISTAKES + tuple((m, n) for m, n, _ in console._PROBLEM_LISTS):
        assert issubclass(getattr(importlib.import_module(module), name), Exception), (module, name)


def test_error_lines_are_never_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    long_path = "/a/very/long/path/" + "x" * 150 + "/spec.yaml"
    result = runner.invoke(_raises(FileNotFoundError(2, "gone", long_path)), ["boom"])
    assert result.stderr == f"error: {long_path}: no such file\n"


def test_markup_in_a_message_is_printed_as_written() -> None:
    result = runner.invoke(_raises(runstate.NotRunning("pods [sales-c1-n1] and [bold]x[/bold]")), ["boom"])
    assert result.stderr == "error: pods [sales-c1-n1] and [bold]x[/bold]\n"


def _apps(t: typer.Typer) -> Iterator[typer.Typer]:
    yield t
    for group in t.registered_groups:
        assert group.typer_instance is not None
        yield from _apps(group.typer_instance)


def test_every_command_of_every_sub_app_refuses_mistakes_the_one_way() -> None:
    apps = list(_apps(app))
    assert len(apps) >= 6  # engine, chaos, dashboards, alerts, slo and the root
    for sub in apps:
        assert isinstance(sub, console.App), sub.info.name
        for command in sub.registered_commands:
            assert command.callback is not None and hasattr(command.callback, "__wrapped__"), command.name


# --- every verb finds the running stack ---------------------------------------------------------------

NEEDS_A_STACK = [
    (["status"], "--orchestrator"),
    (["query", "SELECT 1", "--engine", "sales"], "--gateway"),
    (["load", "--duration", "1s", "--engine", "sales"], "--gateway"),
    (["load", "--duration", "1s", "--gateway", "http://127.0.0.1:1"], "--engine"),
    (["slo", "report"], "--prometheus"),
    (["slo", "serve", "--port", "0"], "--prometheus"),
    (["engine", "restart-pod", "sales-c1-n1", "--yes"], "--orchestrator and --token"),
    (["chaos", "run", str(EXPERIMENT)], "--boot"),
    (["queries", "--engine", "sales"], "--gateway and --token"),
    (["queries", "kill", "q1"], "--gateway and --token"),
]


@pytest.mark.parametrize(("args", "flag"), NEEDS_A_STACK, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_without_a_stack_or_flag_a_verb_says_to_start_one_or_pass_the_flag(no_stack: Path, args: list[str],
                                                                          flag: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    err = flat(result.stderr)
    assert err.startswith("error: no running stack") and "enginewatch up" in err and flag in err, err
    assert "Traceback" not in result.output


def test_verbs_use_the_running_stack_rather_than_a_default_url(dead_stack: str) -> None:
    report = runner.invoke(app, ["slo", "report"])
    assert report.exit_code == 2 and report.stderr.startswith(f"error: Prometheus at {dead_stack}"), report.output
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 1 and f"orchestrator at {dead_stack} unreachable" in flat(status.stderr)
    query = runner.invoke(app, ["query", "SELECT 1", "--engine", "sales"])
    assert query.exit_code == 1 and f"gateway at {dead_stack} unreachable" in flat(query.stderr)


def test_an_explicit_flag_wins_over_the_running_stack(dead_stack: str) -> None:
    other = f"http://127.0.0.1:{free_port()}"
    assert options.url(other, "prometheus", "--prometheus") == other
    assert options.url(None, "prometheus", "--prometheus") == dead_stack
    report = runner.invoke(app, ["slo", "report", "--prometheus", other])
    assert report.exit_code == 2 and report.stderr.startswith(f"error: Prometheus at {other}")


def test_a_stack_without_the_component_says_to_pass_the_flag(no_stack: Path) -> None:
    runstate.RunState(pid=os.getpid(), state_dir=str(no_stack), gateway="http://127.0.0.1:1").save()
    result = runner.invoke(app, ["slo", "report"])
    assert result.exit_code == 2 and "the running stack has no prometheus: pass --prometheus URL" in result.stderr


# --- durations: the one grammar ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [("1d", 86400.0), ("1h30m", 5400.0), ("30s", 30.0), ("500ms", 0.5),
                                               ("90", 90.0), ("2.5", 2.5)])
def test_duration_options_read_the_one_grammar(text: str, seconds: float) -> None:
    assert options.duration(text, "--duration") == seconds


class _FakeLedger:
    def write(self, path: Path) -> Path:
        return path


class _FakeGenerator:
    specs: list[Any] = []

    def __init__(self, url: str, spec: Any) -> None:
        self.specs.append(spec)
        self.ledger = _FakeLedger()


SUMMARY = {"queries": 600, "ok": 590, "errors": 10, "abandoned": 0,
           "errors_by_type": {"unavailable": 7, "timeout": 3}, "retried": 12, "p50_s": 0.012, "p99_s": 0.25,
           "elapsed_s": 61.0, "achieved_qps": 9.98}


def test_load_takes_a_day_as_86400_seconds_and_prints_a_summary_table(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import enginewatch.cli.progress as progress
    import loadgen.load

    _FakeGenerator.specs = []
    monkeypatch.setattr(loadgen.load, "LoadGenerator", _FakeGenerator)
    monkeypatch.setattr(progress, "run_with_progress", lambda gen: SUMMARY)  # no day of load, no load at all
    ledger = tmp_path / "ledger.parquet"
    result = runner.invoke(app, ["load", "--duration", "1d", "--qps", "10", "--gateway", "http://127.0.0.1:1",
                                 "--engine", "sales", "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    (spec,) = _FakeGenerator.specs
    assert spec.duration_s == 86400 and spec.engines == ("sales",)
    out = result.stdout
    assert "{" not in out  # no Python dict
    for figure in ("queries", "600", "ok", "590", "failed", "unavailable", "timeout", "latency p50", "12.0 ms",
                   "latency p99", "250.0 ms", "achieved rate", "10.0 queries/s (target 10)"):
        assert figure in out, figure
    assert out.rstrip().endswith(f"ledger: {ledger} (600 queries)")


@pytest.mark.parametrize(("args", "message"), [
    (["load", "--duration", "1x"], "error: invalid --duration: '1x' is not a duration like 30s, 5m, 1h30m, 1d"),
    (["load", "--duration", "0s"], "error: invalid --duration: a duration must be positive"),
    (["load", "--duration", "2d"], "error: invalid load: duration must be within (0, 24h]"),
    (["up", "--load-qps", "1", "--load-duration", "ten"], "error: invalid --load-duration: 'ten' is not a duration"),
    (["runbook", "EngineNodeDown", "--window", "10x"], "error: invalid --window: '10x' is not a duration"),
    (["runbook", "EngineNodeDown", "--window", "1500ms"], "error: invalid --window: '1500ms': durations below one"),
])
def test_bad_durations_exit_2_with_the_reason(no_stack: Path, args: list[str], message: str) -> None:
    if args[0] == "load":
        args = [*args, "--gateway", "http://127.0.0.1:1", "--engine", "sales"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr


def test_an_experiment_with_a_bad_duration_exits_2_naming_field_and_reason(tmp_path: Path, no_stack: Path) -> None:
    data = yaml.safe_load(EXPERIMENT.read_text())
    data["method"][0]["at_s"] = "6x"
    data["abort"] = {"conditions": [{"burn_rate": {"above": 10, "window": "1h30"}}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["chaos", "run", str(path), "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: invalid experiment: {path}"
    assert f"{path}: method[0].at_s: '6x' does not match the duration grammar: use e.g. 30s, 5m, 1h30m, 1d or 500ms" \
        in lines[1:]
    assert any(line.startswith(f"{path}: abort.conditions[0].burn_rate.window: '1h30' does not match")
               for line in lines[1:]), lines


# --- tables survive a pipe -----------------------------------------------------------------------------

LONG = "a-rather-long-engine-name-for-a-newcomer"
PODS = [{"pod": f"{LONG}-c{c}-n{n}", "engine": LONG, "cluster": f"c{c}", "version": "2024.11.3-rc1",
         "state": "READY", "ready": True, "pid": 123456 + n, "restarts": 0,
         "url": f"http://127.0.0.1:{40000 + 10 * c + n}/some/long/path"} for c in (1, 2) for n in (1, 2)]
ENGINES = [{"name": LONG, "state": "RUNNING", "type": "M", "version": "2024.11.3-rc1",
            "active_clusters": ["c1", "c2"], "ready_nodes": 4, "desired_nodes": 4}]


@pytest.fixture
def fake_orchestrator() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"/v1/engines": ENGINES, "/v1/pods": PODS}.get(self.path, {})).encode()
            self.send_response(200 if self.path in ("/v1/engines", "/v1/pods") else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _piped(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    return subprocess.run([sys.executable, "-m", "enginewatch.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_piped_status_keeps_pod_names_and_urls_whole(fake_orchestrator: str) -> None:
    run = _piped("status", "--orchestrator", fake_orchestrator)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for p in PODS:
        assert any(p["pod"] in line and p["url"] in line for line in lines), (p["pod"], run.stdout)
    assert "…" not in run.stdout


def test_summary_table_without_latency_or_rate() -> None:
    empty = {"queries": 0, "ok": 0, "errors": 0, "abandoned": 0, "errors_by_type": {}, "retried": 0,
             "p50_s": float("nan"), "p99_s": float("nan"), "achieved_qps": float("nan")}
    table = summary_table(empty)
    assert table.row_count == 7


# --- against the live stack -------------------------------------------------------------------------------

def test_live_piped_status_names_every_pod_in_full(stack: Any) -> None:
    run = _piped("status")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for pod in stack.orchestrator.pods():
        assert any(pod.pod in line and pod.url in line for line in lines), (pod.pod, run.stdout)


def test_live_slo_report_finds_the_stacks_prometheus(stack: Any) -> None:
    run = _piped("slo", "report", "--json")
    assert run.returncode == 0, run.stderr
    assert {r["slo"] for r in json.loads(run.stdout)}
