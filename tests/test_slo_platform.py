"""The platform's gateway latency SLOs: which engines and query kinds each one judges."""

from __future__ import annotations

from exporters import contract as c
from foundation.promql import Matcher, Selector
from slo.model import SLO, EventsSLI
from slo.promql import SelectorQuery
from slo.specs.platform import BATCH_ENGINES, SCAN_LATENCY_THRESHOLD, one_of, platform_slos

#: Engines of the default fleet (engines/fleet.yaml): never batch engines.
INTERACTIVE_ENGINES = ("sales", "analytics")


def _slo(name: str) -> SLO:
    (slo,) = [s for s in platform_slos() if s.service == "gateway" and s.name == name]
    return slo


def _selectors(slo: SLO) -> tuple[Selector, Selector]:
    """(total, good) selectors of a gateway latency SLO."""
    assert isinstance(slo.sli, EventsSLI)
    total, good = slo.sli.total, slo.sli.good
    assert isinstance(total, SelectorQuery) and isinstance(good, SelectorQuery)
    return total.selector, good.selector


def _le(selector: Selector) -> str:
    (le,) = [m.value for m in selector.matchers if m.name == "le"]
    return le


def _selects(selector: Selector, engine: str, kind: str) -> bool:
    labels = {"job": c.JOB_GATEWAY, "engine": engine, "kind": kind, "status": "ok"}
    if selector.metric.endswith("_bucket"):
        labels["le"] = _le(selector)
    return selector.matches(selector.metric, labels)


def test_the_interactive_and_scan_slos_leave_every_batch_engine_out() -> None:
    assert "reporting" in BATCH_ENGINES  # the game day's engine over its slow storage tier
    for name, kind in (("interactive-latency", "lookup"), ("scan-latency", "scan")):
        for selector in _selectors(_slo(name)):
            assert not any(_selects(selector, engine, kind) for engine in BATCH_ENGINES), (name, selector)
            assert all(_selects(selector, engine, kind) for engine in INTERACTIVE_ENGINES), (name, selector)
            assert not _selects(selector, c.UNKNOWN_ENGINE, kind), (name, selector)


def test_the_batch_latency_slo_judges_exactly_the_batch_engines_every_kind_within_10s() -> None:
    slo = _slo("batch-latency")
    total, good = _selectors(slo)
    for selector in (total, good):
        assert all(_selects(selector, engine, kind) for engine in BATCH_ENGINES for kind in c.QUERY_KINDS)
        assert not any(_selects(selector, engine, "lookup") for engine in (*INTERACTIVE_ENGINES, c.UNKNOWN_ENGINE))
    assert _le(good) == "10.0" and SCAN_LATENCY_THRESHOLD == 10.0
    assert [m for m in good.matchers if m.name == "status"] == [Matcher("status", "=", "ok")]
    assert slo.objective * 100 == 99 and slo.sli.group_by == ("engine",)
    assert slo.alerting is not None and slo.alerting.name == "GatewayBatchLatencyBudgetBurn"
    # It idles between reports, and a fleet without a batch engine has none of its series: no no-data alert.
    assert not slo.alerting.no_data.enabled


def test_one_of_spells_one_value_as_equality_and_more_as_a_regex() -> None:
    assert one_of("engine", ("reporting",)).promql() == 'engine="reporting"'
    assert one_of("engine", ("reporting",), exclude=True).promql() == 'engine!="reporting"'
    assert one_of("engine", ("a", "b")).promql() == 'engine=~"a|b"'
    assert one_of("engine", ("a", "b"), exclude=True).promql() == 'engine!~"a|b"'
