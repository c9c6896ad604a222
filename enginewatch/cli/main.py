"""The `enginewatch` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.table import Table

from enginewatch.cli import options
from enginewatch.cli.chaos import app as chaos_app
from enginewatch.cli.console import App, console, fail, print_table
from enginewatch.cli.engine import engine_app
from enginewatch.cli.gameday import gameday
from enginewatch.cli.runbook import runbook
from foundation.orchestrator import OrchestratorAPIError, OrchestratorClient, OrchestratorUnavailable

app = App(help="Observability and SRE toolkit for cloud data-warehouse engines.")

GatewayOpt = Annotated[str | None, typer.Option("--gateway", help="Gateway URL (default: the running stack's)")]
OrchestratorOpt = Annotated[str | None, typer.Option("--orchestrator",
                                                     help="Orchestrator URL (default: the running stack's)")]


@app.command()
def status(orchestrator: OrchestratorOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
    """Engines, clusters and pods with their states."""
    url = options.url(orchestrator, "orchestrator", "--orchestrator")
    try:
        with OrchestratorClient(url, client=httpx.Client(timeout=5)) as api:
            engines, pods = api.engines(), api.pods()
    except OrchestratorUnavailable as e:
        fail(f"orchestrator at {url} unreachable: {e.reason}", code=1)
    except OrchestratorAPIError as e:
        fail(str(e), code=1)
    if as_json:
        console.print_json(json.dumps({"engines": engines, "pods": pods}))
        return
    _print_status(engines, pods)


def _print_status(engines: list[dict], pods: list[dict]) -> None:
    table = Table(title="engines")
    for col in ("engine", "state", "type", "version", "active clusters", "ready / desired"):
        table.add_column(col)
    for e in engines:
        table.add_row(e["name"], e["state"], e.get("type", ""), e.get("version", ""),
                      ",".join(e.get("active_clusters", [])),
                      f"{e.get('ready_nodes', '?')} / {e.get('desired_nodes', '?')}")
    print_table(table)
    ptable = Table(title="pods")
    for col in ("pod", "engine", "cluster", "version", "state", "ready", "pid", "restarts", "url"):
        # Names and URLs are copied into the next command: on a narrow terminal they fold onto a
        # second line rather than end in an ellipsis.
        ptable.add_column(col, overflow="fold" if col in ("pod", "url") else "ellipsis")
    for p in pods:
        ptable.add_row(p["pod"], p["engine"], p["cluster"], p.get("version", ""), p.get("state", ""),
                       "yes" if p.get("ready") else "no", str(p.get("pid") or ""), str(p.get("restarts", 0)),
                       p.get("url", ""))
    print_table(ptable)


@app.command()
def query(sql: Annotated[str, typer.Argument(help="The SQL statement")],
          engine: Annotated[str, typer.Option("--engine", "-e", help="Engine to run it on")],
          gateway: GatewayOpt = None,
          idempotency_key: Annotated[str | None, typer.Option(help="Allows retries of a write")] = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run one query through the gateway and print its rows and where it ran."""
    url = options.url(gateway, "gateway", "--gateway")
    body: dict[str, object] = {"engine": engine, "sql": sql}
    if idempotency_key:
        body["idempotency_key"] = idempotency_key
    try:
        resp = httpx.post(f"{url}/query", json=body, timeout=60)
    except httpx.HTTPError as e:
        fail(f"gateway at {url} unreachable: {e}", code=1)
    data = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if as_json:
        console.print_json(json.dumps(data))
    if resp.status_code != 200:
        fail(f"{resp.status_code} {data.get('error_type', '')}: {data.get('error', resp.text)}",
             code=2 if resp.status_code < 500 else 1)
    if as_json:
        return
    table = Table(caption=(f"{data.get('row_count')} rows in {data.get('elapsed_s', 0) * 1000:.1f} ms on "
                           f"{data.get('engine')}/{data.get('cluster')}/{data.get('node')} "
                           f"after {data.get('attempts')} attempt(s)"))
    for col in data.get("columns", []):
        table.add_column(str(col))
    for row in data.get("rows", [])[:50]:
        table.add_row(*(str(v) for v in row))
    print_table(table)


@app.command()
def load(qps: Annotated[float, typer.Option(help="Arrival rate, queries per second (open loop)")] = 10.0,
         duration: Annotated[str, typer.Option(help="How long, e.g. 30s, 2m, 1h30m, 1d")] = "30s",
         engine: Annotated[list[str] | None, typer.Option("--engine", "-e", help="Engines (default: all)")] = None,
         ledger: Annotated[Path, typer.Option(help="Where to write the per-query ledger (Parquet)")] = Path(
             "ledger.parquet"),
         seed: int = 42,
         gateway: GatewayOpt = None) -> None:
    """Open-loop load with a realistic query mix, writing a per-query ledger."""
    from enginewatch.cli.progress import run_with_progress, summary_table
    from loadgen.load import LoadGenerator, LoadSpec

    seconds = options.duration(duration, "--duration")
    if qps <= 0 or qps > 2000:
        fail("--qps must be within (0, 2000]")
    url = options.url(gateway, "gateway", "--gateway")
    engines = tuple(engine or options.running("pass --engine NAME").engines)
    if not engines:
        fail("no engine given and the running stack lists none")
    try:
        spec = LoadSpec(qps=qps, duration_s=seconds, engines=engines, seed=seed,
                        max_queries=int(qps * seconds * 1.5) + 10)
    except ValueError as e:  # the generator's own bounds (a day at most)
        fail(f"invalid load: {e}")
    gen = LoadGenerator(url, spec)
    summary = run_with_progress(gen)
    print_table(summary_table(summary, qps))
    gen.ledger.write(ledger)
    # A path to copy: never wrapped, never read as markup.
    console.print(f"ledger: {ledger} ({summary['queries']} queries)", markup=False, soft_wrap=True)


@app.command()
def up(fleet: Annotated[Path | None, typer.Option(help="Fleet YAML (default: engines/fleet.yaml)")] = None,
       load_qps: Annotated[float, typer.Option(help="Also run an open-loop load at this rate (0: none)")] = 0.0,
       load_duration: Annotated[str, typer.Option(help="How long the load runs")] = "60s",
       exit_after_load: Annotated[bool, typer.Option(help="Stop the stack when the load ends")] = False,
       state_dir: Annotated[Path | None, typer.Option(help="Keep logs, TSDB and ledger here")] = None) -> None:
    """Start the local platform, gateway and Prometheus; print the URLs; run until Ctrl-C."""
    from enginewatch.cli.up import run_up

    seconds = options.duration(load_duration, "--load-duration") if load_qps > 0 else 0.0
    run_up(fleet=fleet, load_qps=load_qps, load_duration_s=seconds, exit_after_load=exit_after_load,
           state_dir=state_dir)


app.add_typer(engine_app, name="engine")
app.command()(runbook)
app.add_typer(chaos_app, name="chaos")
app.command()(gameday)


def _mount_subcommands() -> None:
    from enginewatch.cli.alerts import app as alerts_app
    from enginewatch.cli.dashboards import app as dashboards_app
    from enginewatch.cli.kubernetes import app as kubernetes_app
    from enginewatch.cli.queries import app as queries_app
    from enginewatch.cli.slo import app as slo_app

    app.add_typer(dashboards_app, name="dashboards", help="Build and lint the Grafana dashboards.")
    app.add_typer(queries_app, name="queries")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(kubernetes_app, name="kubernetes")
    app.add_typer(slo_app, name="slo", help="SLO specs, rules, live error budgets and backtests.")

    @slo_app.command("serve")
    def slo_serve(
        prometheus: Annotated[str | None, typer.Option(help="Prometheus URL (default: the running stack's)")] = None,
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one)")] = 8080,
        profile: Annotated[str | None, typer.Option(help="Window profile (default: the loaded rules' own)")] = None,
        alertmanager: Annotated[str | None, typer.Option(help="Alertmanager URL (maintenance silences)")] = None,
    ) -> None:
        """The SLO service: JSON API with OpenAPI schema, HTML status page, its own /metrics."""
        from slo.service.__main__ import main as serve_main

        argv = ["--port", str(port), "--prometheus", options.url(prometheus, "prometheus", "--prometheus")]
        if profile:
            argv += ["--profile", profile]
        if alertmanager:
            argv += ["--alertmanager", alertmanager]
        raise typer.Exit(serve_main(argv))


_mount_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
