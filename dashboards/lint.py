"""The dashboard linter: the grafana/dashboard-linter rules that fit a Prometheus-only dashboard set.

It reads Grafana's JSON model, so it holds hand-written and imported dashboards to the same rules as
ours. Rules:

- template-datasource: a data source variable of type ``datasource`` for Prometheus, named
  ``datasource`` (or ``prometheus_datasource``) and labelled "Data source";
- panel-datasource: every data panel and every target uses that variable, in object form;
- panel-title-description: every panel has a title and a description;
- panel-units: every data panel has a valid Grafana unit;
- panel-no-targets: every data panel has at least one query;
- target-promql: every query parses (Prometheus' parser, through promtool), variables substituted;
- template-label-promql: every query variable's PromQL parses the same way;
- target-rate-interval: rate, irate and increase take ``$__rate_interval`` as their range;
- target-counter-agg: a counter (``_total``, ``_count``, ``_bucket``, ``_sum``) is only read through
  rate, irate or increase;
- dashboard-chaos-annotation (enginewatch's own): an enabled annotation query on ``chaos_fault_active``
  through the data source variable, titled from the fault's labels, whose PromQL parses, so that the
  faults of chaos experiments are drawn on every graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dashboards import walk
from dashboards.interpolate import UnknownVariable, render_expr
from exporters.contract import CHAOS_FAULT_ACTIVE
from foundation import promtool
from foundation.promql import PromQLSyntaxError, SelectorUse, selector_uses

RULES: tuple[str, ...] = (
    "template-datasource", "panel-datasource", "panel-title-description", "panel-units",
    "panel-no-targets", "target-promql", "template-label-promql", "target-rate-interval",
    "target-counter-agg", "dashboard-chaos-annotation",
)

RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})
RATE_INTERVALS = frozenset({"$__rate_interval", "${__rate_interval}"})
COUNTER_SUFFIXES = ("_total", "_count", "_bucket", "_sum")
# Panels that show no query results; every other panel type is a data panel.
_NON_DATA_PANELS = frozenset({"row", "text", "dashlist", "alertlist", "news", "annolist", "welcome",
                              "gettingstarted"})
# Grafana's unit ids (packages/grafana-data valueFormats), by category, those a Prometheus dashboard uses.
_UNIT_CATEGORIES = (
    "none string short percent percentunit humidity dB hex0x hex sci locale pixel",
    "bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes decgbytes tbytes dectbytes pbytes "
    "decpbytes",
    "pps binBps Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs Mbits GiBs Gibits GBs Gbits TiBs Tibits "
    "TBs Tbits PiBs Pibits PBs Pbits",
    "dateTimeAsIso dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday dateTimeAsLocal "
    "dateTimeAsLocalNoDateIfToday dateTimeAsSystem dateTimeFromNow",
    "hertz ns µs ms s m h d dtdurationms dtdurations dthms dtdhms timeticks clockms clocks",
    "cps ops reqps rps wps iops cpm opm rpm wpm",
    "bool bool_yes_no bool_on_off",
    "watt kwatt joule celsius kelvin",
)
VALID_UNITS = frozenset(unit for category in _UNIT_CATEGORIES for unit in category.split())
# Grafana's custom units, e.g. "suffix: rows".
_CUSTOM_UNIT = re.compile(r"^(suffix|prefix|si|count|currency|time):.+")
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((?P<selector>.*),\s*\w+\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\s*\((?P<selector>.*)\)\s*$", re.DOTALL)
_LEGEND_LABEL = re.compile(r"\{\{\s*\w+\s*\}\}")


@dataclass(frozen=True, order=True)
class Finding:
    rule: str
    dashboard: str
    panel: str  # empty for a finding about the dashboard itself
    message: str

    def __str__(self) -> str:
        where = f"{self.dashboard} / {self.panel}" if self.panel else self.dashboard
        return f"[{self.rule}] {where}: {self.message}"


class DashboardInputError(ValueError):
    """A path that does not hold readable dashboards: the user's mistake, not a finding."""


@dataclass(frozen=True)
class _Parse:
    """An expression waiting for promtool, and where a failure should be reported."""

    rule: str
    dashboard: str
    panel: str
    what: str
    expr: str


def _title(model: walk.Json) -> str:
    return str(model.get("title") or model.get("uid") or "<untitled dashboard>")


def _panel_title(panel: walk.Json) -> str:
    return str(panel.get("title") or f"<panel id {panel.get('id')}>")


def _is_data_panel(panel: walk.Json) -> bool:
    return panel.get("type") not in _NON_DATA_PANELS


def _datasource_variables(model: walk.Json) -> list[walk.Json]:
    return [v for v in walk.variables(model) if v.get("type") == "datasource"]


# --- dashboard rules ---------------------------------------------------------------------------------

def _template_datasource(model: walk.Json) -> list[str]:
    variables = _datasource_variables(model)
    if not variables:
        return ["has no data source variable (a template variable of type 'datasource')"]
    problems = []
    for var in variables:
        name, label, query = var.get("name"), var.get("label"), var.get("query")
        if query != "prometheus":
            problems.append(f"data source variable '{name}' selects '{query}' data sources, not 'prometheus'")
        names = {"prometheus_datasource"} | ({"datasource"} if len(variables) == 1 else set())
        if name not in names:
            problems.append(f"data source variable is named '{name}', should be {' or '.join(sorted(names))}")
        labels = {"Prometheus data source"} | ({"Data source"} if len(variables) == 1 else set())
        if label not in labels:
            problems.append(f"data source variable is labelled '{label}', should be "
                            f"{' or '.join(repr(x) for x in sorted(labels))}")
    return problems


# --- panel rules -------------------------------------------------------------------------------------

def _datasource_problem(datasource: Any, allowed: set[str], owner: str) -> str | None:
    if datasource is None:
        return f"{owner} has no data source; use {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}"
    if isinstance(datasource, str):
        return (f"{owner} names its data source in string form ('{datasource}'); "
                f"use the object form {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}")
    uid = datasource.get("uid") if isinstance(datasource, dict) else None
    if uid not in allowed:
        return f"{owner} does not use the data source variable, uses uid '{uid}'"
    return None


def _allowed_datasources(variables: list[walk.Json]) -> set[str]:
    return {f"${v.get('name')}" for v in variables} | {f"${{{v.get('name')}}}" for v in variables}


def _panel_datasource(panel: walk.Json, variables: list[walk.Json]) -> list[str]:
    allowed = _allowed_datasources(variables)
    problems = [_datasource_problem(panel.get("datasource"), allowed, "panel")]
    problems += [_datasource_problem(t.get("datasource"), allowed, f"target {t.get('refId', '?')}")
                 for t in walk.targets(panel)]
    return [p for p in problems if p]


def _units(panel: walk.Json) -> list[str]:
    field_config = panel.get("fieldConfig") or {}
    units = [(field_config.get("defaults") or {}).get("unit")]
    units += [prop.get("value") for override in field_config.get("overrides") or []
              for prop in override.get("properties") or [] if prop.get("id") == "unit"]
    return [str(u) for u in units if u]


def _panel_units(panel: walk.Json) -> list[str]:
    units = _units(panel)
    if not units:
        return ["has no unit (fieldConfig.defaults.unit)"]
    return [f"has an unknown unit '{u}'" for u in units if u not in VALID_UNITS and not _CUSTOM_UNIT.match(u)]


def _panel_no_targets(panel: walk.Json) -> list[str]:
    if not any(expr.strip() for _, expr in walk.expressions(panel)):
        return ["has no targets (no query with an expression)"]
    return []


# --- the chaos annotation --------------------------------------------------------------------------

def _annotations(model: walk.Json) -> list[walk.Json]:
    return [a for a in (model.get("annotations") or {}).get("list") or [] if isinstance(a, dict)]


def _annotation_expr(annotation: walk.Json) -> str:
    target = annotation.get("target")
    expr = target.get("expr") if isinstance(target, dict) else None
    return str(expr or annotation.get("expr") or "")


def _reads_chaos_gauge(expr: str) -> bool:
    uses = _selectors(expr)
    if uses is None:  # it does not parse: promtool says why, under this rule
        return CHAOS_FAULT_ACTIVE.name in expr
    return any(s.metric == CHAOS_FAULT_ACTIVE.name for s in uses)


def _chaos_annotations(model: walk.Json) -> list[walk.Json]:
    return [a for a in _annotations(model) if _reads_chaos_gauge(_annotation_expr(a))]


def _chaos_annotation_problems(annotation: walk.Json, variables: list[walk.Json]) -> list[str]:
    name = f"annotation '{annotation.get('name') or '<unnamed>'}'"
    problems = [_datasource_problem(annotation.get("datasource"), _allowed_datasources(variables), name)]
    if annotation.get("enable") is not True:
        problems.append(f"{name} is not enabled")
    if not _LEGEND_LABEL.search(str(annotation.get("titleFormat") or "")):
        problems.append(f"{name} has no title naming the fault (titleFormat with {{{{label}}}}s)")
    return [p for p in problems if p]


# --- target rules ------------------------------------------------------------------------------------

def _selectors(expr: str) -> list[SelectorUse] | None:
    try:
        return list(selector_uses(expr))
    except PromQLSyntaxError:
        return None  # target-promql reports it, with Prometheus' own message


def _rate_interval(expr: str) -> list[str]:
    return [f"{s.function}({s.metric}[{s.range}]) should use $__rate_interval as its range"
            for s in _selectors(expr) or [] if s.function in RATE_FUNCTIONS and s.range not in RATE_INTERVALS]


def _counter_agg(expr: str) -> list[str]:
    return [f"counter {s.metric} is not read through rate, irate or increase"
            for s in _selectors(expr) or []
            if s.metric.endswith(COUNTER_SUFFIXES) and not (s.range is not None and s.function in RATE_FUNCTIONS)]


# --- values for substitution -------------------------------------------------------------------------

def _variable_value(var: walk.Json) -> str:
    """A value that keeps the expression's syntax: what Grafana would send for the default choice."""
    if var.get("includeAll"):
        return str(var.get("allValue") or ".*")
    current = (var.get("current") or {}).get("value")
    if isinstance(current, list):
        current = current[0] if current else None
    if current and current != "$__all":
        return str(current)
    options = [o.get("value") for o in var.get("options") or [] if o.get("value")]
    if options:
        return str(options[0])
    if var.get("type") in ("constant", "textbox") and var.get("query"):
        return str(var["query"])
    return str(var.get("name"))


def _values(model: walk.Json) -> dict[str, str]:
    return {str(v["name"]): _variable_value(v) for v in walk.variables(model) if v.get("name")}


def _variable_query(var: walk.Json) -> str:
    query = var.get("query")
    if isinstance(query, dict):  # newer Grafana stores {"query": "...", "refId": ...}
        query = query.get("query")
    return str(query or "")


# --- the run -----------------------------------------------------------------------------------------

class _Run:
    """Findings so far, and the expressions left for one promtool call at the end."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.pending: list[_Parse] = []

    def add(self, rule: str, dashboard: str, panel: str, messages: Iterable[str]) -> None:
        self.findings.extend(Finding(rule, dashboard, panel, m) for m in messages)

    def parse_later(self, parse: _Parse, values: dict[str, str]) -> None:
        try:
            self.pending.append(replace(parse, expr=render_expr(parse.expr, values)))
        except UnknownVariable as e:
            self.add(parse.rule, parse.dashboard, parse.panel,
                     [f"{parse.what} references ${e.name}, which is not a variable of this dashboard"])

    def parse_pending(self) -> None:
        errors = promtool.parse_errors([p.expr for p in self.pending])
        for i, p in enumerate(self.pending):
            if i in errors:
                self.add(p.rule, p.dashboard, p.panel, [f"{p.what} does not parse: {errors[i]}"])

    def dashboard(self, model: walk.Json) -> None:
        title, values, ds_vars = _title(model), _values(model), _datasource_variables(model)
        self.add("template-datasource", title, "", _template_datasource(model))
        for var in walk.variables(model):
            match = _LABEL_VALUES.match(_variable_query(var)) or _QUERY_RESULT.match(_variable_query(var))
            if var.get("type") == "query" and match:
                self.parse_later(_Parse("template-label-promql", title, "", f"variable ${var.get('name')}",
                                        match.group("selector")), values)
        for panel in walk.panels(model):
            if not walk.is_row(panel):
                self.panel(title, panel, values, ds_vars)
        self.chaos_annotation(title, model, values, ds_vars)

    def chaos_annotation(self, title: str, model: walk.Json, values: dict[str, str],
                         ds_vars: list[walk.Json]) -> None:
        rule = "dashboard-chaos-annotation"
        found = _chaos_annotations(model)
        if not found:
            self.add(rule, title, "", [f"has no annotation query on {CHAOS_FAULT_ACTIVE.name}: the faults of chaos "
                                       "experiments are not drawn on its graphs"])
        for annotation in found:
            self.add(rule, title, "", _chaos_annotation_problems(annotation, ds_vars))
            self.parse_later(_Parse(rule, title, "", f"annotation '{annotation.get('name') or '<unnamed>'}'",
                                    _annotation_expr(annotation)), values)

    def panel(self, title: str, panel: walk.Json, values: dict[str, str], ds_vars: list[walk.Json]) -> None:
        name = _panel_title(panel)
        missing = [key for key in ("title", "description") if not str(panel.get(key) or "").strip()]
        self.add("panel-title-description", title, name, [f"has no {' and no '.join(missing)}"] if missing else [])
        if not _is_data_panel(panel):
            return
        self.add("panel-datasource", title, name, _panel_datasource(panel, ds_vars))
        self.add("panel-units", title, name, _panel_units(panel))
        self.add("panel-no-targets", title, name, _panel_no_targets(panel))
        for target, expr in walk.expressions(panel):
            if not expr.strip():
                continue
            ref = f"target {target.get('refId', '?')}"
            self.add("target-rate-interval", title, name, (f"{ref}: {m}" for m in _rate_interval(expr)))
            self.add("target-counter-agg", title, name, (f"{ref}: {m}" for m in _counter_agg(expr)))
            self.parse_later(_Parse("target-promql", title, name, ref, expr), values)


def lint_dashboards(models: Iterable[walk.Json]) -> list[Finding]:
    """Every finding of every rule over the dashboards, sorted. Raises ``promtool.ToolMissing``
    when expressions cannot be parsed because promtool is missing or broken."""
    run = _Run()
    for model in models:
        run.dashboard(model)
    run.parse_pending()
    return sorted(run.findings)


def load_dashboards(path: Path) -> list[walk.Json]:
    """The dashboards in a JSON file, or in every ``*.json`` under a directory that is a dashboard
    (Grafana provisioning files and other JSON are skipped)."""
    if not path.exists():
        raise DashboardInputError(f"{path}: no such file or directory")
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    models = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DashboardInputError(f"{file}: not a readable JSON file ({e})") from e
        if isinstance(data, dict) and "panels" in data:
            models.append(data)
        elif not path.is_dir():
            raise DashboardInputError(f"{file}: not a Grafana dashboard (no 'panels')")
    if not models:
        raise DashboardInputError(f"{path}: no Grafana dashboard JSON found")
    return models
