"""The dashboard linter: a small clean dashboard passes, and each rule fires on one deliberate break.

Every rule in RULES must be broken here at least once (test_every_rule_is_proven_to_fire), so none
of them can be a check that cannot fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dashboards import RULES, Finding, lint_dashboards
from foundation.promql import PromQLSyntaxError, SelectorUse, selector_uses

DS = {"type": "prometheus", "uid": "${datasource}"}
GOOD_EXPR = 'sum by (engine) (rate(foo_requests_total{engine=~"$engine"}[$__rate_interval]))'
CHAOS_EXPR = "max by (action, pod) (max_over_time(chaos_fault_active[$__interval])) > 0"


def clean() -> dict[str, Any]:
    """The smallest dashboard that follows every rule."""
    return {
        "title": "Tiny", "uid": "tiny",
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus"},
            {"type": "query", "name": "engine", "datasource": DS, "includeAll": True, "allValue": ".*",
             "query": 'label_values(foo_up{job="x"}, engine)'},
        ]},
        "panels": [
            {"type": "row", "title": "A row", "panels": []},
            {"type": "timeseries", "title": "Requests", "description": "Requests per second.",
             "datasource": DS, "fieldConfig": {"defaults": {"unit": "reqps"}, "overrides": []},
             "targets": [{"refId": "A", "datasource": DS, "expr": GOOD_EXPR}]},
        ],
        "annotations": {"list": [
            {"name": "Chaos", "datasource": DS, "enable": True, "titleFormat": "{{action}} on {{pod}}",
             "target": {"refId": "Anno", "expr": CHAOS_EXPR}},
        ]},
    }


Mutation = Callable[[dict[str, Any]], None]


def _panel(d: dict[str, Any]) -> dict[str, Any]:
    panel: dict[str, Any] = d["panels"][1]
    return panel


def _expr(expr: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        _panel(d)["targets"][0]["expr"] = expr
    return mutate


def _set(path: str, value: Any) -> Mutation:
    """Set a key of the panel (``a.b.c``); a value of ... deletes it."""
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = _panel(d)
        for key in parents:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return mutate


def _no_ds_variable(d: dict[str, Any]) -> None:
    d["templating"]["list"] = d["templating"]["list"][1:]


def _ds_variable(**fields: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d["templating"]["list"][0].update(fields)
    return mutate


def _target_ds(value: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        _panel(d)["targets"][0]["datasource"] = value
    return mutate


def _annotation(**fields: Any) -> Mutation:
    """Change the chaos annotation; a value of ... deletes the field, ``annotations=...`` the list."""
    def mutate(d: dict[str, Any]) -> None:
        if fields.get("annotations") is ...:
            del d["annotations"]
            return
        annotation = d["annotations"]["list"][0]
        for key, value in fields.items():
            if value is ...:
                del annotation[key]
            else:
                annotation[key] = value
    return mutate


def _variable_query(query: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d["templating"]["list"][1]["query"] = query
    return mutate


BREAKS: list[tuple[str, str, Mutation]] = [
    ("template-datasource", "no data source variable", _no_ds_variable),
    ("template-datasource", "for Loki data sources", _ds_variable(query="loki")),
    ("template-datasource", "badly named", _ds_variable(name="ds")),
    ("template-datasource", "badly labelled", _ds_variable(label="Source")),
    ("panel-datasource", "panel without data source", _set("datasource", ...)),
    ("panel-datasource", "panel data source in string form", _set("datasource", "$datasource")),
    ("panel-datasource", "panel with a fixed data source", _set("datasource", {"type": "prometheus", "uid": "P1"})),
    ("panel-datasource", "target data source in string form", _target_ds("${datasource}")),
    ("panel-datasource", "target without data source", _target_ds(None)),
    ("panel-title-description", "no description", _set("description", "")),
    ("panel-title-description", "no title", _set("title", ...)),
    ("panel-units", "no unit", _set("fieldConfig.defaults.unit", ...)),
    ("panel-units", "unknown unit", _set("fieldConfig.defaults.unit", "requests")),
    ("panel-no-targets", "no targets", _set("targets", [])),
    ("panel-no-targets", "only an empty expression", _expr("")),
    ("target-promql", "unclosed parenthesis", _expr("sum(rate(foo_total[$__rate_interval])")),
    ("target-promql", "aggregation without parentheses", _expr("sum by (le) rate(foo_total[$__rate_interval])")),
    ("target-promql", "invalid regex", _expr('foo_up{engine=~"(a|b"}')),
    ("target-promql", "unknown variable", _expr('foo_up{engine=~"$engnie"}')),
    ("template-label-promql", "variable query does not parse", _variable_query("label_values(foo_up{job=}, engine)")),
    ("target-rate-interval", "fixed range in rate", _expr("rate(foo_total[5m])")),
    ("target-rate-interval", "fixed range in irate", _expr("irate(foo_total[1m])")),
    ("target-rate-interval", "$__interval in increase", _expr("increase(foo_total[$__interval])")),
    ("target-counter-agg", "raw counter", _expr('sum(foo_total{engine=~"$engine"})')),
    ("target-counter-agg", "raw histogram count", _expr("foo_seconds_count")),
    ("target-counter-agg", "bucket in max_over_time", _expr("max_over_time(foo_seconds_bucket[$__rate_interval])")),
    ("target-counter-agg", "sum series compared raw", _expr("foo_seconds_sum > 3")),
    ("target-counter-agg", "counter in a subquery", _expr("rate(foo_total[$__rate_interval:])")),
    ("dashboard-chaos-annotation", "no annotations at all", _annotation(annotations=...)),
    ("dashboard-chaos-annotation", "an annotation on another metric",
     _annotation(target={"refId": "Anno", "expr": "changes(foo_version[$__interval]) > 0"})),
    ("dashboard-chaos-annotation", "disabled", _annotation(enable=False)),
    ("dashboard-chaos-annotation", "fixed data source", _annotation(datasource={"type": "prometheus", "uid": "P1"})),
    ("dashboard-chaos-annotation", "untitled", _annotation(titleFormat="chaos")),
    ("dashboard-chaos-annotation", "does not parse",
     _annotation(target={"refId": "Anno", "expr": "max by (pod) (chaos_fault_active > 0"})),
    ("dashboard-chaos-annotation", "unknown variable",
     _annotation(target={"refId": "Anno", "expr": 'chaos_fault_active{engine=~"$engnie"}'})),
]


def lint_one(d: dict[str, Any]) -> list[Finding]:
    return lint_dashboards([d])


def test_the_clean_dashboard_passes() -> None:
    assert lint_one(clean()) == []


@pytest.mark.parametrize(("rule", "mutate"), [(r, m) for r, _, m in BREAKS],
                         ids=[f"{r}: {why}" for r, why, _ in BREAKS])
def test_rule_fires_on_its_break(rule: str, mutate: Mutation) -> None:
    d = copy.deepcopy(clean())
    mutate(d)
    findings = lint_one(d)
    assert rule in {f.rule for f in findings}, findings
    for f in findings:
        assert f.dashboard == "Tiny" and f.message
        if f.rule.startswith(("panel-", "target-")):
            assert f.panel in ("Requests", "<panel id None>")


def test_every_rule_is_proven_to_fire() -> None:
    assert {rule for rule, _, _ in BREAKS} == set(RULES)


def test_a_promql_finding_names_the_target_and_prometheus_message() -> None:
    d = clean()
    _expr("sum(rate(foo_total[$__rate_interval])")(d)
    [finding] = lint_one(d)
    assert finding.rule == "target-promql" and finding.panel == "Requests"
    assert "target A" in finding.message and "unclosed left parenthesis" in finding.message
    assert str(finding).startswith("[target-promql] Tiny / Requests: ")


def test_many_dashboards_are_checked_in_one_go_and_errors_map_back() -> None:
    good, bad = clean(), clean()
    bad["title"] = "Broken"
    _expr("rate(foo_total[$__rate_interval]) +")(bad)
    findings = lint_dashboards([good, bad, clean()])
    assert [(f.rule, f.dashboard) for f in findings] == [("target-promql", "Broken")]


@pytest.mark.parametrize("expr", [
    "rate(foo_total[${__rate_interval}])",
    'histogram_quantile(0.9, sum by (le) (rate(foo_seconds_bucket{a="[5m]"}[$__rate_interval])))',
    "sum(rate(foo_seconds_sum[$__rate_interval])) / sum(rate(foo_seconds_count[$__rate_interval]))",
    "max_over_time(foo_up[1h])",  # a range outside rate/irate/increase is fine
    "rate(foo_total[$__rate_interval] offset 1h)",
    "label_replace(foo_up, \"x\", \"$1\", \"instance\", \"(.*):.*\")",
    "sum without (instance) (foo_up) / on (engine) group_left () bar_info",
])
def test_good_expressions_pass(expr: str) -> None:
    d = clean()
    _expr(expr)(d)
    assert lint_one(d) == []


def test_collapsed_rows_are_linted_too() -> None:
    d = clean()
    inner = copy.deepcopy(d["panels"][1])
    inner["fieldConfig"]["defaults"]["unit"] = "furlongs"
    d["panels"][0]["panels"] = [inner]
    assert [f.rule for f in lint_one(d)] == ["panel-units"]


# --- the PromQL structure the structural rules rely on -----------------------------------------------

def test_selectors_know_their_range_and_function() -> None:
    expr = ('histogram_quantile(0.9, sum by (le, kind) (rate(a_bucket{x=~"$v", y="{"}[$__rate_interval])))'
            " / on (kind) group_left max(b_total) + c_gauge offset 5m")
    assert list(selector_uses(expr)) == [
        SelectorUse("a_bucket", "$__rate_interval", "rate"),
        SelectorUse("b_total", None, "max"),
        SelectorUse("c_gauge", None, None),
    ]


def test_subqueries_and_keywords_are_not_selectors() -> None:
    expr = "max_over_time((sum(rate(x_total[1m])) > bool 2)[1h:5m]) or vector(0) unless on() y"
    assert [(s.metric, s.range, s.function) for s in selector_uses(expr)] == [
        ("x_total", "1m", "rate"), ("y", None, None)]


def test_unbalanced_expressions_are_a_syntax_error() -> None:
    for bad in ("rate(x[1m]", "x{a='b'", "x]", "x ~ y"):
        with pytest.raises(PromQLSyntaxError):
            list(selector_uses(bad))


def test_a_dashboard_without_the_chaos_annotation_is_named() -> None:
    d = clean()
    _annotation(annotations=...)(d)
    [finding] = lint_one(d)
    assert (finding.rule, finding.dashboard, finding.panel) == ("dashboard-chaos-annotation", "Tiny", "")
    assert "chaos_fault_active" in finding.message


def test_the_chaos_annotation_in_the_legacy_top_level_form_passes() -> None:
    d = clean()
    _annotation(target=..., expr=CHAOS_EXPR, step="15s")(d)
    assert lint_one(d) == []
