"""The enginewatch dashboards, rendered to Grafana's JSON model, and the PromQL of every panel."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard

from dashboards import gateway, lifecycle, overview, query_core, slos, walk
from dashboards.settings import Settings

# In the order of an investigation: symptoms first, then where they come from.
BUILDERS: tuple[Callable[[Settings], Dashboard], ...] = tuple(
    m.build for m in (overview, query_core, gateway, lifecycle, slos))


class PanelTarget(NamedTuple):
    dashboard: str
    panel: str
    expr: str


def generate(settings: Settings | None = None) -> list[Dashboard]:
    return [build(settings or Settings()) for build in BUILDERS]


def to_json(dashboard: Dashboard) -> walk.Json:
    # Through the encoder and back: plain dicts and lists, as Grafana and the linter read them.
    data: walk.Json = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return data


def dump(model: walk.Json) -> str:
    """The file content for a dashboard: stable key order, so a rebuild without changes is no diff."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def filename(model: walk.Json) -> str:
    return f"{model['uid']}.json"


def models(settings: Settings | None = None) -> list[walk.Json]:
    return [to_json(d) for d in generate(settings)]


def targets(settings: Settings | None = None) -> list[PanelTarget]:
    """(dashboard title, panel title, PromQL with Grafana variables) of every panel target.

    Under ``enginewatch up`` pass ``Settings(slo_profile="local")``: the SLO panels must read the
    windows the running rules were generated with."""
    return [PanelTarget(model["title"], panel.get("title", ""), expr)
            for model in models(settings) for panel in walk.panels(model) for _, expr in walk.expressions(panel)]
