"""The enginewatch dashboards: they pass the linter and keep the house rules that the linter does not
know about (contract metric names only, topology variables, stable uids, links)."""

from __future__ import annotations

import re
from typing import Any

import pytest

import dashboards
from dashboards import links, slo_series, walk
from dashboards.variables import DATASOURCE
from exporters import contract as c
from foundation.promql import selector_uses

MODELS = dashboards.models()
EXPECTED_UIDS = {links.OVERVIEW_UID, links.QUERY_CORE_UID, links.GATEWAY_UID, links.LIFECYCLE_UID,
                 links.SLOS_UID}
EXPECTED_TITLES = {"Engines overview", "Query core", "Gateway and failover", "Engine lifecycle", "SLOs"}


def _data_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in walk.panels(model) if not walk.is_row(p)]


def _exprs(model: dict[str, Any]) -> list[str]:
    return [expr for p in _data_panels(model) for _, expr in walk.expressions(p)]


def _ids(models: list[dict[str, Any]]) -> list[str]:
    return [m["uid"] for m in models]


def test_every_dashboard_passes_the_linter() -> None:
    assert dashboards.lint_dashboards(MODELS) == []


def test_the_five_dashboards_with_stable_uids() -> None:
    assert set(_ids(MODELS)) == EXPECTED_UIDS
    assert {m["title"].removeprefix("Enginewatch / ") for m in MODELS} == EXPECTED_TITLES
    # Grafana caps uids at 40 characters; ids of a provisioned dashboard must be left to Grafana.
    assert all(len(m["uid"]) <= 40 and m["id"] is None for m in MODELS)


def test_generation_is_deterministic() -> None:
    assert [dashboards.catalog.dump(m) for m in dashboards.models()] == [dashboards.catalog.dump(m)
                                                                           for m in MODELS]


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_datasource_variable_in_object_form_everywhere(model: dict[str, Any]) -> None:
    variables = walk.variables(model)
    assert variables[0]["type"] == "datasource" and variables[0]["query"] == "prometheus"
    for var in variables[1:]:
        assert var["datasource"] == DATASOURCE
    for panel in _data_panels(model):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in walk.targets(panel)), panel["title"]


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_engine_and_cluster_variables_from_the_contract(model: dict[str, Any]) -> None:
    by_name = {v["name"]: v for v in walk.variables(model)}
    engine, cluster = by_name["engine"], by_name["cluster"]
    assert engine["query"] == f'label_values({c.QUERY_SLOTS.name}{{job="{c.JOB_NODE}"}}, engine)'
    assert cluster["query"] == (f'label_values({c.QUERY_SLOTS.name}{{job="{c.JOB_NODE}", '
                                f'engine=~"$engine"}}, cluster)')
    for var in (engine, cluster):
        assert var["multi"] and var["includeAll"] and var["allValue"] == ".*"
    # Both variables actually narrow something on every dashboard.
    exprs = _exprs(model)
    assert any('engine=~"$engine"' in e for e in exprs)
    assert any('cluster=~"$cluster"' in e for e in exprs)


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_every_panel_has_a_unit_and_a_description(model: dict[str, Any]) -> None:
    for panel in _data_panels(model):
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_every_range_is_the_rate_interval_or_an_slo_window(model: dict[str, Any]) -> None:
    # Stricter than the linter: no other range at all, except the SLO rules' own tier windows.
    windows = {slo_series.window(w) for v in slo_series.views() for t in v.tiers
               for w in (t.long_window, t.short_window)}
    for expr in _exprs(model):
        ranges = set(re.findall(r"\[([^\]]*)\]", expr))
        assert ranges <= {"$__rate_interval"} | (windows if model["uid"] == links.SLOS_UID else set()), expr


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_quantiles_come_from_histograms_summed_by_le(model: dict[str, Any]) -> None:
    for expr in _exprs(model):
        for match in re.finditer(r"histogram_quantile\(", expr):
            assert re.match(r"histogram_quantile\([0-9.]+, sum by \(le[,)]", expr[match.start():]), expr


def _known_series() -> set[str]:
    names = {m.name for m in c.ALL}
    names |= {getattr(m, part) for m in c.ALL if m.kind == "histogram" for part in ("bucket", "count", "sum")}
    return names | set(slo_series.SERIES)


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_every_series_is_a_contract_metric_or_an_slo_series(model: dict[str, Any]) -> None:
    known = _known_series()
    for expr in _exprs(model):
        for selector in selector_uses(expr):
            assert selector.metric in known, (selector.metric, expr)


def test_every_dashboard_links_to_the_others_and_to_runbooks() -> None:
    for model in MODELS:
        kinds = {(link["type"], tuple(link["tags"])) for link in model["links"]}
        assert ("dashboards", (links.TAG,)) in kinds
        assert links.TAG in model["tags"]
        runbooks = [link["url"] for link in model["links"] if link["type"] == "link"]
        assert runbooks and all(u.startswith(links.DEFAULT_RUNBOOK_BASE_URL) for u in runbooks)
    # Panel links to another dashboard go by uid, to one that exists.
    panel_urls = [link["url"] for m in MODELS for p in _data_panels(m) for link in p["links"]]
    uids = {u.split("?")[0].removeprefix("/d/") for u in panel_urls if u.startswith("/d/")}
    assert uids and uids <= EXPECTED_UIDS
    assert any(u.endswith(".md") for u in panel_urls)


def test_the_runbook_base_url_is_configurable() -> None:
    base = "https://runbooks.example.org/enginewatch"
    settings = dashboards.Settings(runbook_base_url=base)
    urls = [link["url"] for m in dashboards.models(settings) for link in m["links"] if link["type"] == "link"]
    assert urls and all(re.fullmatch(re.escape(base) + r"/[A-Z][A-Za-z]+\.md", u) for u in urls)


def test_targets_list_every_panel_query_with_its_variables() -> None:
    targets = dashboards.targets()
    assert len(targets) == sum(len(_exprs(m)) for m in MODELS)
    dashboard, panel, expr = targets[0]
    assert (dashboard, panel) == ("Enginewatch / Engines overview", "Queries per second by engine")
    assert "$__rate_interval" in expr and "$engine" in expr
    assert {t.dashboard for t in targets} == {m["title"] for m in MODELS}
    assert all(t.panel and t.expr for t in targets)


def test_rendered_targets_hold_no_variables() -> None:
    values = {"engine": "sales", "cluster": ["c1", "c2"], "slo": ".*"}
    for target in dashboards.targets():
        rendered = dashboards.render_expr(target.expr, values)
        assert "$" not in rendered, rendered


def test_slo_rows_follow_the_slo_rules() -> None:
    [model] = [m for m in MODELS if m["uid"] == links.SLOS_UID]
    by_title = {p["title"]: p for p in walk.panels(model)}
    for view in slo_series.views():
        assert view.describe() in by_title  # one row per SLO
        burning = by_title[f"{view.id}: burn-rate tiers"]
        assert len(burning["targets"]) == len(view.tiers)
        for tier in view.tiers:
            [panel] = [p for t, p in by_title.items() if t.startswith(f"{view.id}: {tier.name} burn rate")]
            # The dashed threshold is the alert's own factor.
            assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == view.factor(tier)


def test_slo_panels_use_the_profile_the_rules_were_generated_with() -> None:
    local = dashboards.models(dashboards.Settings(slo_profile="local"))
    assert dashboards.lint_dashboards(local) == []
    [slos] = [m for m in local if m["uid"] == links.SLOS_UID]
    ranges = {r for e in _exprs(slos) for r in re.findall(r"\[([^\]]*)\]", e)}
    assert {"1m", "5s"} <= ranges and "1h" not in ranges  # the local profile's page-fast windows
