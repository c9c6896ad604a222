"""`enginewatch engine ...`: the runbooks' mitigations, through the orchestrator's HTTP API.

Every command checks its target against what the orchestrator knows before it changes anything
(unknown engines, clusters and pods are refused with exit code 2 and the known ones listed), says what
it will do, and asks for confirmation unless ``--yes``. Exit codes: 0 done, 1 the operation failed or
the orchestrator could not be reached (or the user said no), 2 refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from enginewatch.cli import options
from enginewatch.cli.console import App, console, fail
from foundation.orchestrator import OrchestratorClient, OrchestratorRefused, OrchestratorUnavailable

engine_app = App(help="Mitigations: drain, restart, fail over, scale, upgrade and roll back engines.")

OrchestratorOpt = Annotated[str | None, typer.Option("--orchestrator", help="Orchestrator URL (default: run.json)")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="ENGINEWATCH_ADMIN_TOKEN",
                                              help="Admin token (default: the running stack's)")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (automation)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the operation's result as JSON")]


def _client(orchestrator: str | None, token: str | None) -> OrchestratorClient:
    if not (orchestrator and token):
        state = options.running("give --orchestrator and --token")
        orchestrator, token = orchestrator or state.orchestrator, token or state.admin_token
    if not orchestrator:
        fail("the running stack has no orchestrator: give --orchestrator and --token")
    return OrchestratorClient(orchestrator, token)


def _read(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except OrchestratorUnavailable as e:
        fail(f"{e}: nothing was changed", code=1)
    except OrchestratorRefused as e:
        fail(f"the orchestrator refused to list its state ({e.status}): {e}", code=1)


def _engine(client: OrchestratorClient, name: str) -> dict[str, Any]:
    engines = _read(client.engines)
    for e in engines:
        if e["name"] == name:
            return dict(e)
    fail(f"unknown engine {name!r}; known engines: {', '.join(e['name'] for e in engines) or 'none'}")


def _pod(client: OrchestratorClient, name: str) -> dict[str, Any]:
    pods = _read(client.pods)
    for p in pods:
        if p["pod"] == name:
            return dict(p)
    fail(f"unknown pod {name!r}; known pods: {', '.join(p['pod'] for p in pods) or 'none'}")


def _confirm(plan: str, yes: bool) -> None:
    console.print(plan, markup=False, highlight=False)
    if not yes and not typer.confirm("Proceed?", default=False):
        console.print("aborted: nothing was changed")
        raise typer.Exit(1)


def _apply(action: Callable[[], dict[str, Any]], as_json: bool) -> None:
    try:
        result = action()
    except OrchestratorUnavailable as e:
        fail(f"{e}: the operation may not have run; check `enginewatch status`", code=1)
    except OrchestratorRefused as e:
        if e.status < 500:
            fail(f"refused by the orchestrator: {e}")
        detail = e.body.get("result")
        if as_json and detail:
            typer.echo(json.dumps(detail, indent=2))
        fail(f"the operation failed: {e}", code=1)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console.print(f"{result.get('operation')} on {result.get('engine')}: {result.get('outcome')} in "
                  f"{result.get('seconds', 0):.1f}s", markup=False, highlight=False)
    for key, value in (result.get("detail") or {}).items():
        if key != "drains":
            console.print(f"  {key}: {value}", markup=False, highlight=False)


@engine_app.command("drain-node")
def drain_node(pod: Annotated[str, typer.Argument(help="Pod to drain and replace")],
               orchestrator: OrchestratorOpt = None, token: TokenOpt = None, yes: YesOpt = False,
               as_json: JsonOpt = False) -> None:
    """Stop routing to POD, let its queries finish (grace period), and replace it with a fresh pod."""
    client = _client(orchestrator, token)
    p = _pod(client, pod)
    _confirm(f"Drain pod {pod} (engine {p['engine']}, cluster {p['cluster']}, {p['state']}): the gateway stops "
             "routing to it, its queries finish within the grace period, then a new pod replaces it.", yes)
    _apply(lambda: client.drain_node(pod), as_json)


@engine_app.command("restart-pod")
def restart_pod(pod: Annotated[str, typer.Argument(help="Pod to restart")],
                orchestrator: OrchestratorOpt = None, token: TokenOpt = None, yes: YesOpt = False,
                as_json: JsonOpt = False) -> None:
    """End POD's process gracefully (SIGTERM, grace period) and start it again under the same name."""
    client = _client(orchestrator, token)
    p = _pod(client, pod)
    _confirm(f"Restart pod {pod} (engine {p['engine']}, cluster {p['cluster']}, {p['state']}, "
             f"{p.get('restarts', 0)} restarts so far): its process gets SIGTERM, finishes its queries, and "
             "starts again.", yes)
    _apply(lambda: client.restart_pod(pod), as_json)


@engine_app.command()
def failover(engine: Annotated[str, typer.Argument(help="Engine to switch")],
             to: Annotated[str, typer.Option("--to", help="Clusters to route to, comma-separated: c1,c2")],
             orchestrator: OrchestratorOpt = None, token: TokenOpt = None, yes: YesOpt = False,
             as_json: JsonOpt = False) -> None:
    """Route ENGINE's queries to the given clusters only (atomically, at the gateway)."""
    client = _client(orchestrator, token)
    e = _engine(client, engine)
    wanted = [c.strip() for c in to.split(",") if c.strip()]
    known = [c["name"] for c in e["clusters"]]
    unknown = [c for c in wanted if c not in known]
    if not wanted or unknown:
        fail(f"unknown cluster(s) {', '.join(unknown) or '(none given)'} of engine {engine}; known clusters: "
             f"{', '.join(known) or 'none'}")
    _confirm(f"Fail over engine {engine}: route its queries to {', '.join(wanted)} "
             f"(now: {', '.join(e.get('active_clusters', [])) or 'none'}).", yes)
    _apply(lambda: client.failover(engine, wanted), as_json)


@engine_app.command()
def scale(engine: Annotated[str, typer.Argument(help="Engine to resize")],
          clusters: Annotated[int | None, typer.Option("--clusters", help="Clusters wanted")] = None,
          nodes: Annotated[int | None, typer.Option("--nodes", help="Nodes per cluster wanted")] = None,
          orchestrator: OrchestratorOpt = None, token: TokenOpt = None, yes: YesOpt = False,
          as_json: JsonOpt = False) -> None:
    """Add or remove clusters and nodes of ENGINE: new capacity first, then drains of what goes."""
    if clusters is None and nodes is None:
        fail("give --clusters and/or --nodes")
    client = _client(orchestrator, token)
    e = _engine(client, engine)
    if clusters is not None and not e["min_clusters"] <= clusters <= e["max_clusters"]:
        fail(f"engine {engine} allows {e['min_clusters']} to {e['max_clusters']} clusters, not {clusters}")
    if nodes is not None and nodes < 1:
        fail(f"--nodes must be at least 1, not {nodes}")
    now = f"{e['desired_clusters']} clusters x {e['nodes_per_cluster']} nodes"
    then = f"{clusters or e['desired_clusters']} clusters x {nodes or e['nodes_per_cluster']} nodes"
    _confirm(f"Scale engine {engine} from {now} to {then}.", yes)
    _apply(lambda: client.scale(engine, clusters, nodes), as_json)


@engine_app.command()
def upgrade(engine: Annotated[str, typer.Argument(help="Engine to upgrade")],
            version: Annotated[str, typer.Argument(help="Version to run, e.g. v2")],
            override_budget_gate: Annotated[bool, typer.Option(
                "--override-budget-gate", help="Upgrade although the error-budget gate denies it or cannot be "
                                               "asked (recorded in the operation's events)")] = False,
            orchestrator: OrchestratorOpt = None, token: TokenOpt = None, yes: YesOpt = False,
            as_json: JsonOpt = False) -> None:
    """Upgrade ENGINE to VERSION, blue-green: new clusters start, queries switch once they are ready, the old
    clusters drain. The orchestrator first asks the SLO service's error-budget gate; a spent budget refuses it."""
    client = _client(orchestrator, token)
    e = _engine(client, engine)
    if version == e["version"]:
        fail(f"engine {engine} already runs {version}: nothing to upgrade")
    gate = " The error-budget gate is overridden." if override_budget_gate else ""
    _confirm(f"Upgrade engine {engine} from {e['version']} to {version}: new clusters at {version} start, queries "
             f"switch to them once ready, the {e['version']} clusters drain.{gate}", yes)
    _apply(lambda: client.upgrade(engine, version, override_budget_gate=override_budget_gate), as_json)


@engine_app.command("rollback-upgrade")
def rollback_upgrade(engine: Annotated[str, typer.Argument(help="Engine to roll back")],
                     to_version: Annotated[str | None, typer.Option(
                         "--to-version", help="Version to go back to (default: the one before the upgrade)")] = None,
                     orchestrator: OrchestratorOpt = None, token: TokenOpt = None, yes: YesOpt = False,
                     as_json: JsonOpt = False) -> None:
    """Go back to an earlier version of ENGINE, blue-green: start it, switch to it, drain the current one."""
    client = _client(orchestrator, token)
    e = _engine(client, engine)
    target = to_version or e.get("previous_version")
    if not target:
        fail(f"engine {engine} runs {e['version']} and was never upgraded: give --to-version")
    if target == e["version"]:
        fail(f"engine {engine} already runs {target}: nothing to roll back")
    _confirm(f"Roll engine {engine} back from {e['version']} to {target}: new clusters at {target} start, "
             f"queries switch to them once ready, the {e['version']} clusters drain.", yes)
    _apply(lambda: client.upgrade(engine, target), as_json)
