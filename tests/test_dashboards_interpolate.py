"""Grafana variable interpolation, as the linter and the live proof use it."""

from __future__ import annotations

import pytest

from dashboards import UnknownVariable, render_expr
from dashboards.interpolate import variables_in


def test_builtins_have_defaults_and_can_be_overridden() -> None:
    expr = "rate(x_total[$__rate_interval]) + rate(y_total[${__interval}]) + z[$__range]"
    assert render_expr(expr) == "rate(x_total[1m]) + rate(y_total[15s]) + z[1h]"
    assert render_expr("x[$__rate_interval]", {"__rate_interval": "4s"}) == "x[4s]"


def test_all_forms_of_a_variable() -> None:
    expr = 'x{a=~"$engine", b=~"${engine}", c=~"${engine:regex}", d=~"[[engine]]"}'
    assert render_expr(expr, {"engine": "sales"}) == 'x{a=~"sales", b=~"sales", c=~"sales", d=~"sales"}'


def test_a_list_renders_as_a_grafana_multi_value_selection() -> None:
    assert render_expr('x{c=~"$cluster"}', {"cluster": ["c1", "c2"]}) == 'x{c=~"(c1|c2)"}'
    assert render_expr('x{c=~"$cluster"}', {"cluster": ["c1"]}) == 'x{c=~"c1"}'
    # Regex metacharacters are escaped for a regex inside a double-quoted PromQL string.
    assert render_expr('x{c=~"$cluster"}', {"cluster": ["a.b", "c"]}) == 'x{c=~"(a\\\\.b|c)"}'


def test_a_string_is_inserted_as_is_so_all_can_be_a_regex() -> None:
    assert render_expr('x{e=~"$engine"}', {"engine": ".*"}) == 'x{e=~".*"}'


def test_unknown_variables_raise_and_back_references_stay() -> None:
    with pytest.raises(UnknownVariable) as e:
        render_expr('x{e=~"$engien"}', {"engine": "sales"})
    assert e.value.name == "engien" and "$engien" in str(e.value)
    assert render_expr('label_replace(x, "a", "$1", "b", "(.*)")') == 'label_replace(x, "a", "$1", "b", "(.*)")'


def test_variables_in() -> None:
    assert variables_in('x{a=~"$engine", b="${cluster:csv}"}[$__rate_interval] "$1"') == {
        "engine", "cluster", "__rate_interval"}
