"""``enginewatch dashboards build | lint``: a typer sub-app that the main command line mounts.

Mistakes (a path that holds no dashboards, a malformed URL, no promtool) exit 2 with one plain
sentence (the App's user_errors wrapper); lint findings exit 1; a clean run exits 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboards import catalog, provisioning
from dashboards import lint as linter
from dashboards.links import DEFAULT_RUNBOOK_BASE_URL
from enginewatch.cli.console import App, fail

app = App(help="Grafana dashboards: build them with their provisioning files, lint them.")


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into (created if missing)")],
    prometheus_url: Annotated[str, typer.Option(help="URL of the Prometheus the data source queries")]
        = provisioning.DEFAULT_PROMETHEUS_URL,
    runbook_base_url: Annotated[str, typer.Option(help="URL the runbooks/<AlertName>.md links start with")]
        = DEFAULT_RUNBOOK_BASE_URL,
    scrape_interval: Annotated[str, typer.Option(help="Prometheus' scrape interval (sets $__rate_interval)")]
        = provisioning.DEFAULT_SCRAPE_INTERVAL,
    dashboards_path: Annotated[str | None, typer.Option(
        help="Where Grafana reads the dashboard JSON, if not OUT/dashboards (e.g. a container mount)")] = None,
    slo_profile: Annotated[str | None, typer.Option(
        help="SLO window profile the SLO rules were generated with (local under `enginewatch up`)")] = None,
    json_only: Annotated[bool, typer.Option("--json-only", help="Only the dashboard JSON, straight into OUT")]
        = False,
) -> None:
    """Write the dashboard JSON and Grafana provisioning files (data source, dashboard provider)."""
    options = provisioning.Options(prometheus_url, runbook_base_url, scrape_interval, dashboards_path,
                                   slo_profile)
    try:
        options.validate()
        if json_only:
            if out.exists() and not out.is_dir():
                raise provisioning.BuildError(f"{out} exists and is not a directory")
            files = provisioning.write_json(out, options.settings)
        else:
            files = provisioning.build(out, options)
    except OSError as e:
        fail(f"cannot write into {out}: {e.strerror or e}")
    for path in files:
        typer.echo(str(path))


@app.command()
def lint(
    path: Annotated[Path | None, typer.Argument(
        help="A dashboard JSON file or a directory of them; default: the built-in dashboards")] = None,
) -> None:
    """Check dashboards against the linter's rules; exit 1 when anything is found."""
    models = linter.load_dashboards(path) if path is not None else catalog.models()
    findings = linter.lint_dashboards(models)
    for finding in findings:
        typer.echo(str(finding))
    typer.echo(f"{len(models)} dashboards, {len(findings)} findings", err=bool(findings))
    if findings:
        raise typer.Exit(1)
