"""`enginewatch chaos ...`: run one experiment against a running stack, or a stack it boots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from enginewatch.cli import options
from enginewatch.cli.console import App, console, err_console, fail

app = App(help="Chaos experiments: faults under load, verdicts from the per-query ledger.")

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def fleet_state(fleet_path: Path | None):  # noqa: ANN201 - (engines, pods) as the fleet would start them
    """Engines and pods as a fleet file would start them: what a dry run resolves targets against."""
    from chaos.backend import EngineInfo, PodInfo
    from engines.orchestrator import load_fleet
    from enginewatch.stack import DEFAULT_FLEET

    fleet = load_fleet(fleet_path or DEFAULT_FLEET)
    engines, pods = [], []
    for spec in fleet.engines:
        clusters = tuple(f"c{i}" for i in range(1, spec.clusters + 1))
        engines.append(EngineInfo(spec.name, "RUNNING", spec.version, clusters, clusters,
                                  spec.clusters * spec.nodes_per_cluster, spec.clusters * spec.nodes_per_cluster))
        pods += [PodInfo(f"{spec.name}-{c}-n{n}", spec.name, c, f"n{n}", spec.version, "READY", True, 0, None)
                 for c in clusters for n in range(1, spec.nodes_per_cluster + 1)]
    return engines, pods


@app.command("run")
def run(experiment: Annotated[Path, typer.Argument(help="Experiment YAML (see docs/chaos.md)")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be done; do nothing")] = False,
        out: Annotated[Path | None, typer.Option(help="Report directory (default: chaos-runs/NAME-TIME)")] = None,
        boot: Annotated[bool, typer.Option("--boot", help="Start a local stack for this run, stop it after")] = False,
        fleet: Annotated[Path | None, typer.Option(
            help="Fleet YAML for --boot and dry runs (default: the experiment's `fleet`, else engines/fleet.yaml)")]
        = None) -> None:
    """Run EXPERIMENT against the running stack (run.json), or one it boots with --boot."""
    from chaos.experiment import load_experiment

    # An invalid experiment (ExperimentError) or one that does not fit the platform (PlanError) is
    # refused with every problem listed, by the command's user_errors wrapper.
    exp = load_experiment(experiment)
    fleet = fleet or exp.fleet_path  # the fleet the experiment is written for, unless told otherwise
    if dry_run:
        _dry_run(exp, boot, fleet)
        return
    out_dir = out or Path("chaos-runs") / f"{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if boot:
        from enginewatch.stack import Stack, StackOptions

        options = StackOptions(fleet=fleet) if fleet else StackOptions()
        try:
            with Stack(options, on_step=lambda s: console.print(f"[dim]starting {s}[/]")) as stack:
                from chaos.backends import LocalBackend
                from chaos.run import Platform

                platform = Platform(LocalBackend.from_stack(stack), stack.gateway_url, stack.prometheus_url,
                                    stack.alertmanager.url if stack.alertmanager else None, stack.fleet.grace_period_s)
                code = _run(exp, platform, out_dir)
        except KeyboardInterrupt:
            err_console.print("interrupted: rollbacks ran, the stack is stopped")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        raise typer.Exit(code)
    platform = _running_platform()
    try:
        code = _run(exp, platform, out_dir)
    except KeyboardInterrupt:
        err_console.print("interrupted: rollbacks ran")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(code)


def _running_platform(quiet: bool = False):  # noqa: ANN202 - Platform, or None when quiet and none runs
    from chaos.backend import BackendError
    from chaos.backends import HttpBackend
    from chaos.backends._os import node_status
    from chaos.run import Platform
    from foundation import runstate

    if quiet:
        try:
            state = runstate.load()
        except runstate.NotRunning:
            return None
    else:
        state = options.running("use --boot to start a stack for this run")
    backend = HttpBackend(state.orchestrator, state.admin_token)
    try:
        pods = backend.pods()
    except BackendError as e:
        fail(str(e), code=EXIT_FAILED)
    grace = next((float(s["grace_s"]) for p in pods if (s := node_status(p.url)) and "grace_s" in s), 10.0)
    return Platform(backend, state.gateway, state.prometheus or None, state.alertmanager or None, grace)


def _dry_run(exp, boot: bool, fleet: Path | None) -> None:  # noqa: ANN001
    from chaos.run import plan, plan_against

    source = "the running stack"
    if boot:
        the_plan = plan_against(exp, *fleet_state(fleet))
        source = f"a stack booted from {fleet or 'engines/fleet.yaml'} (not started: dry run)"
    else:
        running = _running_platform(quiet=True)
        if running is not None:
            the_plan = plan(exp, running.backend)
        else:
            the_plan = plan_against(exp, *fleet_state(fleet))
            source = f"{fleet or 'the default fleet'} (no stack is running; targets resolve again at run time)"
    console.print(f"[bold]dry run[/] against {source}: nothing will be done")
    for line in the_plan.describe():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if the_plan.problems:
        fail("the experiment does not fit the platform", problems=the_plan.problems, source=exp.source)


def _run(exp, platform, out_dir: Path) -> int:  # noqa: ANN001
    from chaos.report import write_experiment_report
    from chaos.run import run_experiment
    from loadgen.ledger import read_ledger

    t0 = time.monotonic()

    def progress(message: str) -> None:
        console.print(Text(f"{time.monotonic() - t0:6.1f}s ", style="dim") + Text(message), highlight=False)

    journal = run_experiment(exp, platform, out_dir, on_progress=progress)
    df = read_ledger(Path(journal.artifacts["ledger"])) if "ledger" in journal.artifacts else None
    if df is not None:
        paths = write_experiment_report(journal, df, out_dir)
        console.print(f"report: {paths['markdown']} (json {paths['json'].name}, chart {paths['chart'].name})")
    style = "green" if journal.passed else "red"
    console.print(f"[bold {style}]{exp.name}: {journal.status.upper()}[/]")
    for reason in journal.reasons():
        console.print(f"  - {reason}", markup=False)
    return 0 if journal.passed else EXIT_FAILED


@app.command("cleanup")
def cleanup(all_: Annotated[bool, typer.Option("--all", help="Also what runs that are still running own")] = False,
            ) -> None:
    """Remove the cgroups and netfilter rules a crashed chaos run left behind, and say what was removed."""
    from chaos.cleanup import cleanup as clean_up

    report = clean_up(everything=all_)
    for line in report.removed:
        console.print(f"removed {line}", markup=False, highlight=False, soft_wrap=True)
    for line in report.kept:
        console.print(f"kept {line} (--all removes it)", markup=False, highlight=False, soft_wrap=True)
    for line in report.skipped:
        console.print(f"skipped {line}", markup=False, highlight=False, soft_wrap=True, style="dim")
    if report.problems:
        fail("chaos cleanup left something behind", code=EXIT_FAILED, problems=report.problems)
    if not report.removed:
        console.print("nothing to clean up: no cgroup or netfilter rule of a finished run is left")
