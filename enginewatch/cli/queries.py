"""`enginewatch queries`: the fleet's query history and live queries, and `queries kill ID`.

Both go through the gateway's admin API with the running stack's admin token (run.json), or the
``--gateway``/``--token`` flags. Exit codes: 0 done, 1 the gateway could not be reached or failed,
2 refused (bad flags, unknown engine, no such live query).
"""

from __future__ import annotations

import datetime
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from enginewatch.cli import options
from enginewatch.cli.console import App, console, fail, print_table
from foundation.gateway import GatewayAdminClient, GatewayRefused, GatewayUnavailable

app = App(help="Query history and live queries across the fleet; kill a query.", no_args_is_help=False,
          invoke_without_command=True)

GatewayOpt = Annotated[str | None, typer.Option("--gateway", help="Gateway URL (default: the running stack's)")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="ENGINEWATCH_ADMIN_TOKEN",
                                              help="Admin token (default: the running stack's)")]
EngineOpt = Annotated[str | None, typer.Option("--engine", "-e", help="Engine (default: every engine)")]
SQL_COLUMN_CHARS = 60


def _client(gateway: str | None, token: str | None) -> GatewayAdminClient:
    if not (gateway and token):
        state = options.running("give --gateway and --token")
        gateway, token = gateway or state.gateway, token or state.admin_token
    if not gateway:
        fail("the running stack has no gateway: give --gateway and --token")
    return GatewayAdminClient(gateway, token or "")


def _call(action: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = action()
        return result
    except GatewayUnavailable as e:
        fail(str(e), code=1)
    except GatewayRefused as e:
        fail(f"refused by the gateway ({e.status}): {e}", code=2 if e.status < 500 else 1)


def _when(epoch: Any) -> str:
    try:
        return datetime.datetime.fromtimestamp(float(epoch)).strftime("%H:%M:%S")
    except (TypeError, ValueError):
        return ""


def _seconds(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, int | float) else ""


def _sql(text: Any) -> str:
    one_line = " ".join(str(text or "").split())
    return one_line if len(one_line) <= SQL_COLUMN_CHARS else one_line[: SQL_COLUMN_CHARS - 1] + "…"


def _table(records: list[dict[str, Any]], running: bool, title: str) -> Table:
    table = Table(title=title)
    if running:
        columns = ("query id", "pod", "kind", "status", "running s", "queue s", "started", "trace id", "sql")
    else:
        columns = ("query id", "pod", "kind", "status", "error type", "duration s", "queue s", "rows scanned",
                   "bytes scanned", "peak memory", "started", "trace id", "sql")
    for col in columns:
        # Ids are copied into the next command (kill, a trace search): fold them, never cut them.
        table.add_column(col, overflow="fold" if col in ("query id", "trace id", "pod") else "ellipsis")
    for r in records:
        if running:
            table.add_row(str(r.get("query_id")), str(r.get("pod", "")), str(r.get("kind", "")),
                          str(r.get("status", "")), _seconds(r.get("running_s")), _seconds(r.get("queue_s")),
                          _when(r.get("started_at")), str(r.get("trace_id") or ""), _sql(r.get("sql")))
        else:
            table.add_row(str(r.get("query_id")), str(r.get("pod", "")), str(r.get("kind", "")),
                          str(r.get("status", "")), str(r.get("error_type") or ""), _seconds(r.get("duration_s")),
                          _seconds(r.get("queue_s")), str(r.get("scanned_rows", "")),
                          str(r.get("scanned_bytes", "")), str(r.get("peak_memory_bytes", "")),
                          _when(r.get("started_at")), str(r.get("trace_id") or ""), _sql(r.get("sql")))
    return table


@app.callback()
def queries(
    ctx: typer.Context,
    engine: EngineOpt = None,
    running: Annotated[bool, typer.Option("--running", help="Live queries (queued or running) instead")] = False,
    slowest: Annotated[int | None, typer.Option("--slowest", min=1, max=10_000,
                                                help="The N longest finished queries")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Finished queries that failed or were canceled")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many rows")] = 50,
    gateway: GatewayOpt = None, token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Newest finished queries of ENGINE's nodes (or --running, --slowest N, --failed), merged by the gateway."""
    if ctx.invoked_subcommand is not None:
        return
    if running and (slowest is not None or failed):
        fail("--running lists live queries; --slowest and --failed select finished ones: use one or the other")
    with _client(gateway, token) as client:
        answer = _call(lambda: client.queries(engine, running=running, slowest=slowest, failed=failed,
                                              limit=None if running or slowest else limit))
    records: list[dict[str, Any]] = answer.get("queries", [])
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    what = "live queries" if running else f"{slowest} slowest queries" if slowest else \
        "failed queries" if failed else "queries"
    print_table(_table(records, running, f"{what} of {engine or 'every engine'} ({len(records)})"))
    for problem in answer.get("errors", []):
        console.print(f"not answered: {problem.get('pod')}: {problem.get('error')}", markup=False, soft_wrap=True)
    if answer.get("errors"):
        raise typer.Exit(1)  # a partial history must not look like a whole one


@app.command("kill")
def kill(
    query_id: Annotated[str, typer.Argument(help="Id of the query to cancel (from `enginewatch queries --running`)")],
    engine: EngineOpt = None, gateway: GatewayOpt = None, token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Cancel a live query wherever it runs; print the outcome its node recorded (status canceled)."""
    with _client(gateway, token) as client:
        answer = _call(lambda: client.kill(query_id, engine))
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    for r in answer.get("killed", []):
        console.print(f"query {r.get('query_id')} on {r.get('pod')}: {r.get('status')} "
                      f"({r.get('error_type')}) after {float(r.get('duration_s') or 0):.2f}s",
                      markup=False, soft_wrap=True)
    for pod in answer.get("still_running", []):
        console.print(f"query {query_id} on {pod}: asked to stop, still running", markup=False, soft_wrap=True)
