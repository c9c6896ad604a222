"""``enginewatch slo maintenance add | list | end``: maintenance windows through the SLO service's API.

The SLO service of the running stack (or ``--slo-service URL``) opens the window, creates its
Alertmanager silence and exports it to Prometheus; these commands only ask it. A refusal (bad
window, unknown SLO or ID, Alertmanager down) or no answer prints the service's sentence, exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.table import Table

from enginewatch.cli import options
from enginewatch.cli.console import App, fail, print_table
from foundation.maintenance import MaintenanceAPIError, MaintenanceClient

app = App(name="maintenance", help="Maintenance windows: no SLO budget burns inside, their alerts are silenced.")

ServiceOpt = typer.Option(None, "--slo-service", help="SLO service URL (default: the running stack's).")
JsonOpt = typer.Option(False, "--json", help="The service's JSON answer.")


@contextmanager
def _api(url: str | None) -> Iterator[MaintenanceClient]:
    with MaintenanceClient(options.url(url, "slo_service", "--slo-service")) as api:
        try:
            yield api
        except MaintenanceAPIError as e:
            fail(str(e))


def _show(windows: list[dict[str, Any]], as_json: bool, echo: Callable[[str], None] = typer.echo) -> None:
    if as_json:
        echo(json.dumps(windows if len(windows) != 1 else windows[0], indent=2))
        return
    t = Table("id", "state", "source", "slos", "engine", "start", "end", "reason", "silence")
    for w in windows:
        slos = w["slo"] or f"every SLO ({len(w['slos'])})"
        t.add_row(w["id"], w["state"], w["source"], slos, w["engine"] or "every engine", w["start"], w["end"],
                  w["reason"], w["silence_id"] or "-")
    print_table(t)


@app.command()
def add(
    reason: str = typer.Option(..., "--reason", help="Why: it goes into the silence's comment."),
    slo: str | None = typer.Option(None, "--slo", help="One SLO (default: every served SLO)."),
    engine: str | None = typer.Option(None, "--engine", help="Only this engine's series (SLOs split by engine)."),
    duration: str | None = typer.Option(None, "--duration", help="How long, e.g. 30m (or --end)."),
    end: str | None = typer.Option(None, "--end", help="RFC 3339 end, e.g. 2026-12-24T04:00:00Z."),
    start: str | None = typer.Option(None, "--start", help="RFC 3339 start (default: now)."),
    slo_service: str | None = ServiceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Open a window now (or from --start): its events count in no SLO, and its alerts are silenced."""
    if (duration is None) == (end is None):
        fail("give exactly one of --duration and --end")
    with _api(slo_service) as api:
        window = api.open(reason, slo=slo, engine=engine, start=start, end=end, duration=duration)
    _show([window], as_json)


@app.command("list")
def list_(slo_service: str | None = ServiceOpt, as_json: bool = JsonOpt) -> None:
    """Declared (specs) and runtime windows: scheduled, active and recently ended."""
    with _api(slo_service) as api:
        windows = api.windows()
    if as_json:
        typer.echo(json.dumps(windows, indent=2))
    elif windows:
        _show(windows, False)
    else:
        typer.echo("no maintenance windows")


@app.command("end")
def end_(window_id: str = typer.Argument(..., help="The window's id (see list)."),
         slo_service: str | None = ServiceOpt, as_json: bool = JsonOpt) -> None:
    """End a runtime window now: its silence expires and its events count again."""
    with _api(slo_service) as api:
        window = api.end(window_id)
    _show([window], as_json)
