"""foundation.promql: one selector model, one contract-checked builder, one parser.

Quoting is done once and survives a round trip through the parser; every contract violation the
builder exists to catch fails at build time; the parser names what is wrong with a bad selector.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exporters import contract as c
from foundation.promql import (
    UP,
    Matcher,
    PromQLSyntaxError,
    Selector,
    SelectorUse,
    by,
    labels_of,
    matcher,
    on,
    parse_selector,
    sel,
    selector,
    selector_uses,
    tokenize,
)

# --- the model: quoting and matching ---------------------------------------------------------------

AWKWARD = ['plain', 'with "quotes"', "back\\slash", "new\nline", "tab\tstop", "single 'quote'", "", "ü ∑", "a\\\"b"]


@pytest.mark.parametrize("value", AWKWARD)
def test_values_round_trip_through_quoting_and_parsing(value: str) -> None:
    written = Selector("m", (Matcher("a", "=", value), Matcher("b", "!=", value)))
    assert parse_selector(written.promql()) == written
    assert parse_selector(written.promql(", ")) == written


def test_rendering_joins_matchers_and_omits_empty_braces() -> None:
    s = Selector("m", (Matcher("a", "=", "x"), Matcher("b", "=~", "y|z")))
    assert s.promql() == str(s) == 'm{a="x",b=~"y|z"}'
    assert s.promql(", ") == 'm{a="x", b=~"y|z"}'
    assert Selector("m").promql() == "m"
    assert Matcher("a", "=", 'say "hi"\n').promql() == 'a="say \\"hi\\"\\n"'


def test_one_series_notation_sorts_its_labels() -> None:
    assert Selector.series("m", {"b": "2", "a": "1"}).promql() == 'm{a="1",b="2"}'
    assert Selector.series("m", {}).promql() == "m"


def test_matching_has_prometheus_semantics() -> None:
    assert Matcher("a", "=", "").matches({}), "a missing label has the empty value"
    assert Matcher("a", "=~", "b|c").matches({"a": "c"})
    assert not Matcher("a", "=~", "b").matches({"a": "bb"}), "regexes are fully anchored"
    assert Matcher("a", "!~", "b.*").matches({"a": "cb"})
    assert Matcher("a", "!=", "b").matches({})
    s = Selector("m", (Matcher("a", "=", "x"),))
    assert s.matches("m", {"a": "x", "z": "1"}) and not s.matches("n", {"a": "x"})


# --- the builder: checked against the contract ----------------------------------------------------

def test_keyword_shorthand_picks_the_operator_from_a_prefix() -> None:
    assert matcher("a", "x") == Matcher("a", "=", "x")
    assert matcher("a", "~x|y") == Matcher("a", "=~", "x|y")
    assert matcher("a", "!x") == Matcher("a", "!=", "x")
    assert matcher("a", "!~x.*") == Matcher("a", "!~", "x.*")
    assert sel(c.ENGINE_POD_RESTARTS, job=c.JOB_ORCHESTRATOR, reason="!requested") == \
        'engine_pod_restarts_total{job="orchestrator",reason!="requested"}'


def test_series_carry_scrape_discovery_and_bucket_labels() -> None:
    node = labels_of(c.QUERY_DURATION)
    assert {"job", "instance", *c.TOPOLOGY_LABELS, *c.QUERY_DURATION.labels} == node
    assert "le" not in node and "le" in labels_of(c.QUERY_DURATION, "bucket")
    assert "cluster" not in labels_of(c.GATEWAY_REQUEST_DURATION), "the gateway is not discovered per node"
    assert selector(c.QUERY_DURATION, "bucket", Matcher("le", "=", "1.0"), Matcher("pod", "=", "p")) == \
        Selector(c.QUERY_DURATION.bucket, (Matcher("le", "=", "1.0"), Matcher("pod", "=", "p")))


@pytest.mark.parametrize(("build", "problem"), [
    (lambda: sel(c.ENGINE_STATE, pod="x"), "no label pod"),  # the orchestrator's series have no pod
    (lambda: sel(c.GATEWAY_REQUEST_DURATION, "count", cluster="c1"), "no label cluster"),
    (lambda: sel(c.QUERY_DURATION, "count", le="1.0"), "no label le"),  # le is on buckets only
    (lambda: sel(c.ENGINE_STATE, state="SLEEPING"), "never 'SLEEPING'"),  # a bounded label
    (lambda: sel(c.ENGINE_POD_RESTARTS, reason="!napping"), "never 'napping'"),
    (lambda: sel(c.ENGINE_STATE, job=c.JOB_NODE), "scraped by job 'orchestrator'"),
    (lambda: sel("engine_states"), "not in the metric contract"),
    (lambda: sel(UP, state="RUNNING"), "up has no label state"),
    (lambda: sel(c.QUERY_ERRORS, "bucket"), "no _bucket series"),  # a counter is not a histogram
])
def test_contract_violations_fail_at_build_time(build: Callable[[], str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build()


def test_regexes_on_bounded_labels_are_not_value_checked() -> None:
    # A regex may rightly match values the contract adds later; only equality can be checked.
    assert sel(c.ENGINE_STATE, state="~RUNNING|NEW") == 'engine_state{state=~"RUNNING|NEW"}'


def test_up_takes_target_labels() -> None:
    assert sel(UP, job=c.JOB_NODE, engine="sales") == 'up{job="engine-node",engine="sales"}'
    assert sel(UP) == "up"
    assert by("a", "b") == "by (a, b)" and on("pod") == "on (pod)"


# --- the parser -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("m", Selector("m")),
    ("m{}", Selector("m")),
    (' m { a = "b" , } ', Selector("m", (Matcher("a", "=", "b"),))),
    ('{__name__="m", a!~"x"}', Selector("m", (Matcher("a", "!~", "x"),))),
    ('m{__name__="other"}', Selector("m")),  # the name before the braces wins
    ("m:rate5m{a='it\\'s'}", Selector("m:rate5m", (Matcher("a", "=", "it's"),))),
    ("m{a=`raw\\d`}", Selector("m", (Matcher("a", "=", "raw\\d"),))),
    ('m{a=~"\\\\d+"}', Selector("m", (Matcher("a", "=~", "\\d+"),))),
    ('m{a="}{,"}', Selector("m", (Matcher("a", "=", "}{,"),))),  # brackets inside strings are text
])
def test_parses_selectors(text: str, expected: Selector) -> None:
    assert parse_selector(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ('{a="b"}', "has no metric name"),
    ('{__name__=~"m.*"}', "has no metric name"),  # a regex name is a matcher, not a name
    ("", "has no metric name"),
    ('m{a=~"("}', "bad regex"),
    ("m[5m]", "is not a vector selector"),
    ('m{a="b"} + 1', "is not a vector selector"),
    ("sum(m)", "is not a vector selector"),
    ('m{a="b"', "unclosed"),
    ('m{a="b" c="d"}', "cannot parse label matchers"),
    ('m{a="b",,c="d"}', "cannot parse label matchers"),
    ("m{a=b}", "cannot parse label matchers"),
    ('m{a=="b"}', "cannot parse label matchers"),
    ('m{a:b="c"}', "cannot parse label matchers"),
    ("m{a!x}", "unexpected character '!'"),
])
def test_bad_selectors_are_rejected_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(PromQLSyntaxError, match=problem):
        parse_selector(text)
    assert issubclass(PromQLSyntaxError, ValueError), "callers catch ValueError"


def test_built_selectors_parse_back() -> None:
    text = sel(c.GATEWAY_ERRORS, job=c.JOB_GATEWAY, error_type="~" + c.PLATFORM_ERRORS_RE, engine="!unknown")
    parsed = parse_selector(text)
    assert parsed.metric == c.GATEWAY_ERRORS.name and parsed.promql() == text


def test_expressions_list_the_selectors_they_use() -> None:
    expr = 'sum by (le) (rate(a_bucket{x="y"}[$__rate_interval])) / on (le) group_left b_total offset 5m'
    assert list(selector_uses(expr)) == [SelectorUse("a_bucket", "$__rate_interval", "rate"),
                                         SelectorUse("b_total", None, None)]
    assert [t.kind for t in tokenize('x{a="b"}[$__range]')] == [
        "identifier", "bracket", "identifier", "operator", "string", "bracket", "bracket", "variable", "bracket"]
