"""`enginewatch gameday`: the whole game day (enginewatch/gameday.py), with its progress on the console.

Exit codes: 0 every experiment and goal passed, 1 something failed, 2 bad suite or another game day (or
`enginewatch up`) running, 130 interrupted (rollbacks ran, every process is stopped).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from enginewatch import gameday as day
from enginewatch.cli.console import console, err_console, fail

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def gameday(out: Annotated[Path, typer.Option(help="Report directory")] = Path("gameday-report"),
            suite: Annotated[str, typer.Option(
                help="default (six experiments), short, or gray (the gray faults alone)")] = "default",
            fleet: Annotated[Path | None, typer.Option(
                help="Fleet YAML (default: the suite's; engines/fleet.gameday.yaml for default)")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; start nothing")] = False) -> None:
    """Boot the platform, run the chaos suite under load, write the game day report, tear down."""
    from chaos.experiment import ExperimentError
    from foundation import runstate

    try:
        experiments = day.load_suite(suite)
    except KeyError as e:
        fail(str(e.args[0]))
    except ExperimentError as e:
        fail("invalid experiment in the suite", problems=e.problems, source=e.source)
    if dry_run:
        from chaos.run import plan_against
        from enginewatch.cli.chaos import fleet_state

        rules, config, notes = day.alerting_files()
        fleet = day.suite_fleet(suite, fleet)
        console.print(f"[bold]dry run[/]: would boot {fleet or 'engines/fleet.yaml'} with Prometheus, "
                      f"{'Alertmanager' if config else 'no Alertmanager'}, rules "
                      f"{', '.join(p.name for p in rules) or 'none'}; nothing is started")
        for n in notes:
            console.print(f"note: {n}")
        for exp in experiments:
            for line in plan_against(exp, *fleet_state(fleet)).describe():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        console.print(f"then write {out}/gameday.md, gameday.json and one directory per experiment; stop everything")
        return
    t0 = time.monotonic()

    def say(message: str) -> None:
        console.print(Text(f"{time.monotonic() - t0:6.1f}s ", style="dim") + Text(message), highlight=False)

    try:
        doc = day.run_gameday(out, suite, fleet, say)
    except runstate.AlreadyRunning as e:
        fail(f"a game day (or `enginewatch up`) is already running: {e}")
    except KeyboardInterrupt:
        err_console.print(f"interrupted: rollbacks ran, every process is stopped; partial report in {out}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    style = "green" if doc["status"] == "passed" else "red"
    for g in doc["goals"].values():
        mark = ("[green]PASS[/]" if g["ok"] else "[yellow]NOT MET (evidence)[/]" if g.get("evidence")
                else "[red]FAIL[/]")
        console.print(f"{mark} {g['description']}: {g['measured']} (limit {g['comparison']} {g['limit']})")
    console.print(f"[bold {style}]game day {doc['status'].upper()}[/] in {doc['seconds']:.0f}s: {out / 'gameday.md'}")
    if doc["status"] != "passed":
        raise typer.Exit(EXIT_FAILED)
