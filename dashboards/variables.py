"""The template variables every dashboard has: the data source, then engine and cluster.

Panels and targets reference the data source in object form with the variable as uid, so a dashboard
follows whichever Prometheus the viewer picks and survives being imported into another Grafana.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafanalib.core import REFRESH_ON_TIME_RANGE_CHANGE, SORT_ALPHA_ASC, Template

from dashboards import promql as q
from exporters import contract as c

DATASOURCE_VAR = "datasource"
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": f"${{{DATASOURCE_VAR}}}"}


def datasource() -> Template:
    # Named and labelled as grafana/dashboard-linter expects of a dashboard's only data source.
    return Template(name=DATASOURCE_VAR, label="Data source", type="datasource", query="prometheus",
                    default="", refresh=1)


@dataclass(frozen=True)
class QueryVariable:
    """A multi-value Prometheus query variable that starts on "All".

    grafanalib writes a single-value ``current`` and no ``definition``; Grafana shows the definition
    in the editor and expects a list as the current value of a multi-value variable.
    """

    template: Template

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.template.to_json_data()
        data["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        data["definition"] = self.template.query
        return data


def label_values(label: str, selector: str) -> QueryVariable:
    """A variable named after the label it lists, as ``promql.SCOPE`` references it."""
    return QueryVariable(Template(
        name=label, label=label.capitalize(), query=f"label_values({selector}, {label})",
        dataSource=DATASOURCE, multi=True, includeAll=True, allValue=q.ALL,
        # Engines and clusters come and go (resize, blue-green): refresh with the time range.
        refresh=REFRESH_ON_TIME_RANGE_CHANGE, sort=SORT_ALPHA_ASC,
    ))


def engine() -> QueryVariable:
    # Query slots are exported by every node from its start, so every engine with a pod is listed.
    return label_values(q.ENGINE, q.sel(c.QUERY_SLOTS, scoped=False))


def cluster() -> QueryVariable:
    selector = q.sel(c.QUERY_SLOTS, scoped=False, match={q.ENGINE: q.Re(q.SCOPE[q.ENGINE])})
    return label_values(q.CLUSTER, selector)


def common() -> list[Template | QueryVariable]:
    return [datasource(), engine(), cluster()]
