"""`enginewatch alerts ...`: prove the alerting configuration with the real promtool and amtool."""

from __future__ import annotations

import typer

from enginewatch.cli.console import App, console

app = App(help="Check the alert rules, their unit tests and Alertmanager routing.")


@app.command()
def check(verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the tools' output too")) -> None:
    """promtool check + test of every rule file, per-alert test coverage, amtool check-config."""
    from alerts.check import check_all

    results = check_all()
    for r in results:
        mark = "[green]ok[/]  " if r.ok else "[red]FAIL[/]"
        console.print(f"{mark} {r.name}")
        if verbose or not r.ok:
            for line in r.output.splitlines():
                console.print(f"      {line}", markup=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
