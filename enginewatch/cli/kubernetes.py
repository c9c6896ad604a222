"""``enginewatch kubernetes render | check``: the manifests users deploy, from the project's own sources.

Mistakes (a bad URL or image, an unknown profile, a fleet that does not validate) exit 2 naming the
option or the file and field; a stale deploy/kubernetes exits 1 listing the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from enginewatch.cli.console import App, fail
from enginewatch.kubernetes import kustomize, manifests

app = App(help="Kubernetes: render the kustomize base and overlays, check they are current.")


def _parse_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--monitor-label: {pair!r} is not KEY=VALUE")
        labels[key] = value
    return labels


@app.command()
def render(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into")] = kustomize.DEFAULT_OUT,
    fleet: Annotated[Path | None, typer.Option(help="Fleet YAML (default: engines/fleet.yaml)")] = None,
    image: Annotated[str, typer.Option(help="Container image of every component")] = manifests.DEFAULT_IMAGE,
    prometheus_url: Annotated[str, typer.Option(help="Prometheus the SLO service queries")]
        = manifests.DEFAULT_PROMETHEUS_URL,
    page_url: Annotated[str, typer.Option(help="Webhook of the pager (Alertmanager Secret)")]
        = manifests.DEFAULT_PAGE_URL,
    ticket_url: Annotated[str, typer.Option(help="Webhook of the ticket queue")] = manifests.DEFAULT_TICKET_URL,
    gateway_replicas: Annotated[int, typer.Option(help="Gateway pods in the base")] = 2,
    monitor_label: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE on monitors and rules, for the Prometheus that selects them (repeatable)")] = None,
) -> None:
    """Write the base, the overlays and a kubernetes_sd prometheus.yml."""
    from engines.orchestrator.fleet import load_fleet

    options = manifests.Options(image=image, prometheus_url=prometheus_url, page_url=page_url, ticket_url=ticket_url,
                                gateway_replicas=gateway_replicas, monitor_labels=_parse_labels(monitor_label or []))
    options.validate()
    try:
        files = kustomize.write(out, load_fleet(fleet) if fleet else None, options)
    except OSError as e:
        fail(f"cannot write into {out}: {e.strerror or e}")
    for path in files:
        typer.echo(str(path))


@app.command()
def check(out: Annotated[Path, typer.Option("--out", "-o", help="The rendered directory")] = kustomize.DEFAULT_OUT
          ) -> None:
    """Exit 1 when the committed manifests differ from what the sources render now."""
    stale = kustomize.stale(out)
    for path in stale:
        typer.echo(f"stale: {path}")
    if stale:
        typer.echo("run `enginewatch kubernetes render` and commit the result", err=True)
        raise typer.Exit(1)
    typer.echo(f"{out}: up to date")
