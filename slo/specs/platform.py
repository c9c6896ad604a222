"""The engine platform's own SLOs, built from the metric contract (never from copied metric names).

- gateway availability per engine: platform errors (user errors excluded) over all client requests;
- gateway latency per engine: successful queries answered within 1 s, from the histogram bucket;
- query-core availability per engine: queries the nodes admitted that then failed for a platform
  reason, over all admitted queries (``engine`` comes from service discovery target labels); refusals
  before admission (draining, full queue) are retried by the gateway and count in its SLO instead;
- engine start latency: starts that succeeded within 30 s (rare events, so a looser objective).
"""

from __future__ import annotations

from fractions import Fraction

from prometheus_client.utils import floatToGoString

from exporters import contract as c
from foundation.promql import Matcher, Selector, selector
from slo.model import SLO, Alerting, EventsSLI, NoDataPolicy
from slo.promql import SelectorQuery

OWNER = {"team": "engines"}
GATEWAY_LATENCY_THRESHOLD = 1.0  # seconds; a bucket boundary of contract.QUERY_BUCKETS
ENGINE_START_THRESHOLD = 30.0  # seconds; a bucket boundary of contract.OPERATION_BUCKETS


def le(metric: c.Metric, seconds: float) -> Matcher:
    """The ``le`` matcher of a bucket, spelled exactly as the exporters' client library spells it."""
    if metric.buckets is None or seconds not in metric.buckets:
        raise ValueError(f"{seconds} s is not a bucket boundary of {metric.name}")
    return Matcher("le", "=", floatToGoString(seconds))


#: Gateway requests naming no known engine are client mistakes, kept out of every engine's SLO.
KNOWN_ENGINE = Matcher("engine", "!=", c.UNKNOWN_ENGINE)


def platform_errors(metric: c.Metric, *matchers: Matcher, types: str = c.PLATFORM_ERRORS_RE) -> Selector:
    return selector(metric, "", Matcher("error_type", "=~", types), *matchers)


def platform_slos() -> list[SLO]:
    ok = Matcher("status", "=", "ok")
    start = Matcher("operation", "=", "start")
    return [
        SLO(
            service="gateway", name="availability", objective=Fraction(999, 1000),
            description="Client queries answered without a platform error (user errors do not count).",
            sli=EventsSLI(total=SelectorQuery(selector(c.GATEWAY_REQUEST_DURATION, "count", KNOWN_ENGINE)),
                          bad=SelectorQuery(platform_errors(c.GATEWAY_ERRORS, KNOWN_ENGINE)), group_by=("engine",)),
            labels=dict(OWNER), alerting=Alerting(name="GatewayAvailabilityBudgetBurn"),
        ),
        SLO(
            service="gateway", name="latency", objective=Fraction(99, 100),
            description=f"Successful client queries answered within {GATEWAY_LATENCY_THRESHOLD:g} s.",
            sli=EventsSLI(
                total=SelectorQuery(selector(c.GATEWAY_REQUEST_DURATION, "count", ok, KNOWN_ENGINE)),
                good=SelectorQuery(selector(c.GATEWAY_REQUEST_DURATION, "bucket", ok, KNOWN_ENGINE,
                                            le(c.GATEWAY_REQUEST_DURATION, GATEWAY_LATENCY_THRESHOLD))),
                group_by=("engine",)),
            labels=dict(OWNER), alerting=Alerting(name="GatewayLatencyBudgetBurn"),
        ),
        SLO(
            service="query-core", name="availability", objective=Fraction(999, 1000),
            description="Queries admitted by engine nodes that finish without a platform error.",
            sli=EventsSLI(total=SelectorQuery(selector(c.QUERY_DURATION, "count")),
                          bad=SelectorQuery(platform_errors(c.QUERY_ERRORS, types=c.EXECUTION_ERRORS_RE)),
                          group_by=("engine",)),
            labels=dict(OWNER), alerting=Alerting(name="QueryCoreAvailabilityBudgetBurn"),
        ),
        SLO(
            service="control-plane", name="engine-start-latency", objective=Fraction(95, 100),
            description=f"Engine starts that succeed within {ENGINE_START_THRESHOLD:g} s.",
            sli=EventsSLI(
                total=SelectorQuery(selector(c.ENGINE_OPERATION_DURATION, "count", start)),
                good=SelectorQuery(selector(c.ENGINE_OPERATION_DURATION, "bucket", start,
                                            Matcher("outcome", "=", "success"),
                                            le(c.ENGINE_OPERATION_DURATION, ENGINE_START_THRESHOLD)))),
            labels=dict(OWNER),
            # Starts are rare: an idle control plane is normal, not missing data.
            alerting=Alerting(name="EngineStartLatencyBudgetBurn", no_data=NoDataPolicy(enabled=False)),
        ),
    ]
