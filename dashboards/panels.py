"""Panel factories with the house rules built in, and the grid layout of rows of panels.

A factory cannot make a panel without a title, a description and a unit, and every panel and target
reads from the dashboard's data source variable. The linter checks the same rules on the JSON, so a
panel written by hand (or imported) is held to them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib.core import GridPos, Panel, RowPanel, Stat, Target, TimeSeries

from dashboards.variables import DATASOURCE

GRID_WIDTH = 24
Thresholds = Sequence[tuple[str, float | None]]  # (color, lower bound); the first bound is None
Mappings = Mapping[int, tuple[str, str]]  # value -> (text, color)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel] = field(default_factory=tuple)


def _targets(queries: Sequence[Query]) -> list[Target]:
    # intervalFactor 1: grafanalib's default of 2 halves the resolution of every graph.
    return [Target(expr=qy.expr, legendFormat=qy.legend, refId=chr(ord("A") + i), datasource=DATASOURCE,
                   intervalFactor=1)
            for i, qy in enumerate(queries)]


def _steps(thresholds: Thresholds) -> list[dict[str, Any]]:
    return [{"color": color, "value": value} for color, value in thresholds]


def _value_mappings(mappings: Mappings) -> list[dict[str, Any]]:
    options = {str(value): {"text": text, "color": color, "index": i}
               for i, (value, (text, color)) in enumerate(sorted(mappings.items()))}
    return [{"type": "value", "options": options}]


def _common(queries: Sequence[Query], width: int, height: int, links: Sequence[Any]) -> dict[str, Any]:
    return {
        "targets": _targets(queries), "dataSource": DATASOURCE, "links": list(links),
        "gridPos": GridPos(h=height, w=width, x=0, y=0),  # placed by layout()
        # Left to Grafana (the panel's width in pixels): grafanalib's 100 points coarsen every graph.
        "maxDataPoints": None,
    }


def timeseries(title: str, description: str, unit: str, queries: Sequence[Query], *,
               width: int = 12, height: int = 8, stacked: bool = False, max_value: int | None = None,
               thresholds: Thresholds | None = None, links: Sequence[Any] = (),
               no_value: str | None = None) -> TimeSeries:
    """A time series. ``no_value`` is what to show when the query has no series: "0" for counters of
    rare events, whose series may not exist before the first one."""
    extra: dict[str, Any] = {"fieldConfig": {"defaults": {"noValue": no_value}}} if no_value else {}
    return TimeSeries(
        title=title, description=description, unit=unit, **_common(queries, width, height, links),
        valueMin=0 if unit != "none" else None,
        valueMax=max_value, stacking={"mode": "normal", "group": "A"} if stacked else {},
        fillOpacity=20 if stacked else 0, legendDisplayMode="table", legendPlacement="bottom",
        legendCalcs=["lastNotNull", "max"], tooltipMode="multi", tooltipSort="desc",
        thresholds=_steps(thresholds or [("green", None)]),
        thresholdsStyleMode="dashed" if thresholds else "off", extraJson=extra or None,
    )


def stat(title: str, description: str, unit: str, queries: Sequence[Query], *, width: int = 6,
         height: int = 5, thresholds: Thresholds | None = None, decimals: int | None = None,
         links: Sequence[Any] = ()) -> Stat:
    return Stat(
        title=title, description=description, format=unit, **_common(queries, width, height, links),
        reduceCalc="lastNotNull", decimals=decimals,
        colorMode="background" if thresholds else "value", graphMode="area", textMode="value_and_name",
        thresholds=_steps(thresholds or [("green", None)]), noValue="no data",
    )


@attr.s
class StateTimeline(Panel):
    """Grafana's state timeline, which grafanalib 0.7 lacks: one band per series, coloured by state."""

    unit: str = attr.ib(default="none")
    mappings: list[dict[str, Any]] = attr.ib(factory=list)

    def to_json_data(self) -> dict[str, Any]:
        result: dict[str, Any] = self.panel_json({
            "fieldConfig": {
                "defaults": {"unit": self.unit, "mappings": self.mappings, "color": {"mode": "thresholds"},
                             "custom": {"fillOpacity": 80, "lineWidth": 0}},
                "overrides": [],
            },
            "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.9, "alignValue": "left",
                        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "single", "sort": "none"}},
            "type": "state-timeline",
        })
        return result


def state_timeline(title: str, description: str, queries: Sequence[Query], mappings: Mappings, *,
                   width: int = 12, height: int = 8, links: Sequence[Any] = ()) -> StateTimeline:
    # The unit is "none": the mappings turn each value into the name of its state.
    fields: dict[str, Any] = {"title": title, "description": description, "thresholds": _steps([("green", None)]),
                              **_common(queries, width, height, links)}
    return StateTimeline(mappings=_value_mappings(mappings), **fields)


def layout(rows: Sequence[Row]) -> list[Panel]:
    """Rows of panels, left to right and wrapping at the grid's width; each row starts with a header."""
    placed: list[Panel] = []
    y = 0
    for row in rows:
        placed.append(RowPanel(title=row.title, gridPos=GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            w, h = panel.gridPos.w, panel.gridPos.h
            if x + w > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            placed.append(attr.evolve(panel, gridPos=GridPos(h=h, w=w, x=x, y=y)))
            x, line_height = x + w, max(line_height, h)
        y += line_height
    return placed
