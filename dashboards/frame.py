"""What every enginewatch dashboard shares: variables, links, tags, the chaos annotation, time settings,
panel ids."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib.core import GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, Annotations, Dashboard, Templating, Time

from dashboards.annotations import chaos_faults
from dashboards.links import TAG, Links
from dashboards.panels import Row, layout
from dashboards.variables import QueryVariable, common

# Grafana 10's schema: older versions migrate it, and an older number would make Grafana re-migrate
# the panels grafanalib writes (and rewrite their data sources) on every load.
SCHEMA_VERSION = 39


def dashboard(*, uid: str, title: str, description: str, rows: Sequence[Row], links: Links,
              runbooks: Sequence[str], extra_variables: Sequence[QueryVariable] = ()) -> Dashboard:
    return Dashboard(
        uid=uid, title=title, description=description, tags=[TAG],
        templating=Templating(list=[*common(), *extra_variables]),
        annotations=Annotations(list=[chaos_faults()]),
        links=links.header(runbooks), panels=layout(rows),
        time=Time("now-1h", "now"), timezone="browser", refresh="30s", schemaVersion=SCHEMA_VERSION,
        graphTooltip=GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, editable=True,
    ).auto_panel_ids()
