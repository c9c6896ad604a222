"""Walking the Grafana dashboard JSON model: panels (rows' collapsed panels included) and targets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Json = dict[str, Any]


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, row headers included; a collapsed row keeps its panels inside itself."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def is_row(panel: Json) -> bool:
    return panel.get("type") == "row"


def targets(panel: Json) -> list[Json]:
    return [t for t in panel.get("targets") or [] if isinstance(t, dict)]


def expressions(panel: Json) -> Iterator[tuple[Json, str]]:
    """(target, PromQL) of every target that is not hidden."""
    for target in targets(panel):
        if not target.get("hide"):
            yield target, str(target.get("expr") or "")


def variables(dashboard: Json) -> list[Json]:
    return list((dashboard.get("templating") or {}).get("list") or [])
