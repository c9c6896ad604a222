"""``enginewatch slo ...``: validate, generate, report and backtest, as a typer sub-app.

The main CLI mounts ``app``. A user mistake (bad spec, unsupported feature, unreachable Prometheus,
unreadable history) prints one line naming file, SLO, field and reason, and exits 2 (the App's
user_errors wrapper); there is never a stack trace.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from enginewatch.cli import maintenance, options
from enginewatch.cli.console import App
from slo.errors import SpecError

app = App(name="slo", help="SLO specs, rules, live error budgets and backtests.")
app.add_typer(maintenance.app, name="maintenance")


def _load(paths: list[Path] | None) -> list[Any]:
    from slo.loaders import load_paths
    from slo.specs import platform_slos

    if not paths:
        return platform_slos()
    for p in paths:
        if not p.exists():
            raise SpecError("no such file or directory", file=str(p))
    return load_paths(paths)


SpecPaths = typer.Argument(None, help="Spec files or directories (default: the platform SLOs).")
ProfileOpt = typer.Option(None, "--profile", help="Window profile for every SLO: google-30d, google-28d, local.")


@app.command()
def validate(paths: list[Path] = SpecPaths, profile: str | None = ProfileOpt) -> None:
    """Load specs, resolve their alert tiers and say what would be generated."""
    from foundation.durations import format_duration
    from slo import rules

    generated = rules.generate(_load(paths), rules.Options(profile=profile))
    for g in generated:
        tiers = ", ".join(t.describe(g.slo.period) for t in g.tiers) or "no alerts"
        over = f"per calendar {g.slo.calendar.unit}, budget basis " if g.slo.calendar else "over "
        typer.echo(f"{g.slo.id}: objective {float(g.slo.objective * 100):g}% {over}"
                   f"{format_duration(g.slo.period)} ({g.profile.name}); {tiers}")
    typer.echo(f"{len(generated)} SLOs valid")


@app.command()
def generate(
    paths: list[Path] = SpecPaths,
    out: Path | None = typer.Option(None, "--out", "-o", help="Rule file to write (default: stdout)."),
    profile: str | None = ProfileOpt,
    runbook_base: str = typer.Option(None, help="Base URL of runbooks; alerts link <base>/<Alert>.md."),
    grafana_url: str = typer.Option(None, help="Grafana base URL; alerts link its SLOs dashboard."),
    prometheus_rule: bool = typer.Option(False, "--prometheus-rule", help="Write a PrometheusRule object."),
    name: str = typer.Option("enginewatch-slos", help="PrometheusRule name."),
    namespace: str | None = typer.Option(None, help="PrometheusRule namespace."),
    tests: bool = typer.Option(True, help="With --out, also write <out>.test.yml for promtool."),
    platform: bool = typer.Option(False, "--platform", help="Regenerate the committed platform artifacts."),
    check: bool = typer.Option(False, "--check", help="With --platform: only report stale artifacts (exit 1)."),
) -> None:
    """Generate Prometheus rules (and promtool tests) from SLO specs."""
    from slo import artifacts, promtest, rules

    if platform:
        arts = artifacts.platform_artifacts()
        if check:
            stale = artifacts.stale(arts)
            for p in stale:
                typer.echo(f"stale: {p}", err=True)
            raise typer.Exit(1 if stale else 0)
        for p in artifacts.write(arts):
            typer.echo(f"wrote {p}")
        return
    links = {k: v for k, v in (("runbook_base", runbook_base), ("grafana_url", grafana_url)) if v}
    options = rules.Options(profile=profile, **links)
    slos = _load(paths)
    generated = rules.generate(slos, options)
    document = (rules.prometheus_rule(generated, name, namespace) if prometheus_rule
                else rules.rule_file(generated))
    text = rules.dump(document)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text)
    typer.echo(f"wrote {out} ({sum(g.recording_rules for g in generated)} recording, "
               f"{sum(g.alerting_rules for g in generated)} alerting rules for {len(generated)} SLOs)")
    if tests and not prometheus_rule:
        test_path = out.with_name(out.name.removesuffix(".yml").removesuffix(".rules") + ".test.yml")
        test = promtest.generate(slos, out.name, options)
        test_path.write_text(promtest.dump(test))
        typer.echo(f"wrote {test_path} ({len(test.document['tests'])} promtool tests)")
        for reason in test.skipped:
            typer.echo(f"  no test: {reason}")
        for note in test.notes:
            typer.echo(f"  note: {note}")


@app.command()
def report(
    paths: list[Path] = SpecPaths,
    prometheus: str | None = typer.Option(None, help="Prometheus base URL (default: the running stack's)."),
    profile: str | None = ProfileOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Live error budgets from Prometheus: SLI, burn rate per window, budget left, tiers firing."""
    from slo import evaluate

    slos = _load(paths)  # a bad spec is refused before anything asks where Prometheus is
    reports = evaluate.evaluate_all(slos, options.url(prometheus, "prometheus", "--prometheus"), profile=profile)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2))
        return
    for r in reports:
        typer.echo(r.render())


@app.command()
def backtest(
    history: Path = typer.Argument(
        ..., help="CSV or Parquet of per-interval counts (timestamp, slo, errors|good, total)."),
    paths: list[Path] = typer.Option(None, "--spec", help="Spec files (default: the platform SLOs)."),
    policy: str = typer.Option("google-30d", help="Window profile to replay."),
    compare: str | None = typer.Option(None, help="Second profile to compare against (e.g. workbook-30d, pyrra-30d)."),
    incidents: Path | None = typer.Option(None, help="CSV of known incidents (slo, start, end)."),
) -> None:
    """Replay an alert policy on history: alerts, precision, recall, detection and reset times."""
    from slo import backtest as bt
    from slo import history as hist

    slos = _load(paths)
    data = hist.read_counts(history)
    known = hist.read_incidents(incidents) if incidents else None
    policies = [policy, *([compare] if compare else [])]
    table = bt.compare(data, slos, policies, incidents=known)
    typer.echo(table.to_string())


@app.command()
def compliance(
    slo: str = typer.Argument(..., help="SLO id (service-name), e.g. gateway-availability."),
    period: str | None = typer.Option(None, "--period", help="month or week (default: the SLO's own, else month)."),
    count: int = typer.Option(6, "--count", help="How many periods, the running one last."),
    fmt: str = typer.Option("table", "--format", help="table, csv or markdown."),
    at: str | None = typer.Option(None, "--at", help="As of this time (RFC 3339 or Unix seconds); default now."),
    paths: list[Path] = typer.Option(None, "--spec", help="Spec files (default: the platform SLOs)."),
    prometheus: str | None = typer.Option(None, help="Prometheus base URL (default: the running stack's)."),
) -> None:
    """Per calendar month or ISO week: attainment, budget spent, objective met, incidents."""
    from datetime import UTC, datetime

    from enginewatch.cli.console import fail
    from foundation.prometheus import PrometheusClient
    from slo import compliance as comp
    from slo.calendar import UNITS, parse_instant

    if period is not None and period not in UNITS:
        fail(f"invalid --period: {period!r}; use month or week")
    if not 1 <= count <= comp.MAX_COUNT:
        fail(f"invalid --count: {count} is outside 1..{comp.MAX_COUNT}")
    if fmt not in comp.FORMATS:
        fail(f"invalid --format: {fmt!r}; use {', '.join(comp.FORMATS)}")
    try:
        now = parse_instant(at) if at else datetime.now(UTC)
    except ValueError as exc:
        fail(f"invalid --at: {exc}")
    by_id = {s.id: s for s in _load(paths)}
    if slo not in by_id:
        fail(f"unknown SLO {slo!r}; known: {', '.join(sorted(by_id))}")
    spec = by_id[slo]
    with PrometheusClient(options.url(prometheus, "prometheus", "--prometheus")) as prom:
        tiers, step = comp.deployed(prom, spec, now)
        history = comp.history(prom, spec, tiers, step, comp.calendar_for(spec, period), count, now)
    sys.stdout.write(comp.RENDER[fmt](history))
