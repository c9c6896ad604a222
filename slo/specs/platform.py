"""The engine platform's own SLOs, built from the metric contract (never from copied metric names).

- gateway availability per engine: platform errors (user errors excluded) over all client requests;
- gateway latency per engine and query kind: successful interactive queries (every kind but scans)
  answered within 1 s, and successful scans within 10 s, from the histogram buckets. One threshold for
  both would burn budget on a healthy platform: a multi-second scan is slow against 1 s by design,
  and scans are rare enough that a few of them decide a window;
- gateway latency of the batch engines (``BATCH_ENGINES``, over a slow storage tier): successful
  queries of every kind answered within 10 s. Their lookups wait seconds on storage by design, so the
  interactive and scan SLOs leave these engines out;
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
#: Query kinds of the scan latency SLO; every other kind is interactive (lookups, dashboards' aggregates).
SCAN_KINDS: tuple[str, ...] = ("scan",)
INTERACTIVE_KINDS: tuple[str, ...] = tuple(k for k in c.QUERY_KINDS if k not in SCAN_KINDS)
INTERACTIVE_LATENCY_THRESHOLD = 1.0  # seconds; a bucket boundary of contract.QUERY_BUCKETS
SCAN_LATENCY_THRESHOLD = 10.0  # seconds; a bucket boundary too, and a third of the default deadline
#: Scans are about 1 % of the traffic: a stricter objective would let two slow scans in a minute page.
SCAN_LATENCY_OBJECTIVE = Fraction(95, 100)
ENGINE_START_THRESHOLD = 30.0  # seconds; a bucket boundary of contract.OPERATION_BUCKETS
#: Engines that serve reports over a slow storage tier, like the game day's ``reporting``
#: (engines/fleet.gameday.yaml, 2.5 s per object-storage read): a lookup there waits seconds on storage
#: by design, so their queries are judged by their own latency SLO (batch-latency) and the interactive
#: and scan SLOs leave them out.
BATCH_ENGINES: tuple[str, ...] = ("reporting",)
BATCH_LATENCY_THRESHOLD = SCAN_LATENCY_THRESHOLD  # seconds: a few storage reads, and a bucket boundary


def le(metric: c.Metric, seconds: float) -> Matcher:
    """The ``le`` matcher of a bucket, spelled exactly as the exporters' client library spells it."""
    if metric.buckets is None or seconds not in metric.buckets:
        raise ValueError(f"{seconds} s is not a bucket boundary of {metric.name}")
    return Matcher("le", "=", floatToGoString(seconds))


#: Gateway requests naming no known engine are client mistakes, kept out of every engine's SLO.
KNOWN_ENGINE = Matcher("engine", "!=", c.UNKNOWN_ENGINE)


def platform_errors(metric: c.Metric, *matchers: Matcher, types: str = c.PLATFORM_ERRORS_RE) -> Selector:
    return selector(metric, "", Matcher("error_type", "=~", types), *matchers)


def one_of(label: str, values: tuple[str, ...], *, exclude: bool = False) -> Matcher:
    """The matcher of ``label`` being one of ``values`` (``exclude``: none of them)."""
    if len(values) == 1:
        return Matcher(label, "!=" if exclude else "=", values[0])
    return Matcher(label, "!~" if exclude else "=~", c.promql_set(values))


def kinds(values: tuple[str, ...]) -> Matcher:
    """The ``kind`` matcher of a set of query kinds."""
    return one_of("kind", values)


#: The engines of the batch-latency SLO, and those of the other gateway latency SLOs.
BATCH_ENGINE = one_of("engine", BATCH_ENGINES)
NOT_BATCH_ENGINES: tuple[Matcher, ...] = (KNOWN_ENGINE, one_of("engine", BATCH_ENGINES, exclude=True))


def latency_slo(name: str, kind_values: tuple[str, ...], threshold_s: float, objective: Fraction, what: str,
                alerting: Alerting, engines: tuple[Matcher, ...] = NOT_BATCH_ENGINES) -> SLO:
    """A gateway latency SLO of the engines the ``engines`` matchers select (every kind: no ``kind`` matcher)."""
    every_kind = set(kind_values) == set(c.QUERY_KINDS)
    scope = (Matcher("status", "=", "ok"), *(() if every_kind else (kinds(kind_values),)), *engines)
    h = c.GATEWAY_REQUEST_DURATION
    return SLO(
        service="gateway", name=name, objective=objective,
        description=f"Successful {what} answered within {threshold_s:g} s.",
        sli=EventsSLI(total=SelectorQuery(selector(h, "count", *scope)),
                      good=SelectorQuery(selector(h, "bucket", *scope, le(h, threshold_s))),
                      group_by=("engine",)),
        labels=dict(OWNER), alerting=alerting,
    )


def platform_slos() -> list[SLO]:
    start = Matcher("operation", "=", "start")
    return [
        SLO(
            service="gateway", name="availability", objective=Fraction(999, 1000),
            description="Client queries answered without a platform error (user errors do not count).",
            sli=EventsSLI(total=SelectorQuery(selector(c.GATEWAY_REQUEST_DURATION, "count", KNOWN_ENGINE)),
                          bad=SelectorQuery(platform_errors(c.GATEWAY_ERRORS, KNOWN_ENGINE)), group_by=("engine",)),
            labels=dict(OWNER), alerting=Alerting(name="GatewayAvailabilityBudgetBurn"),
        ),
        latency_slo("interactive-latency", INTERACTIVE_KINDS, INTERACTIVE_LATENCY_THRESHOLD, Fraction(99, 100),
                    f"interactive client queries ({', '.join(INTERACTIVE_KINDS)})",
                    Alerting(name="GatewayInteractiveLatencyBudgetBurn")),
        # Scans may be absent for hours (a dashboard-only workload): no traffic is not missing data.
        latency_slo("scan-latency", SCAN_KINDS, SCAN_LATENCY_THRESHOLD, SCAN_LATENCY_OBJECTIVE, "scans",
                    Alerting(name="GatewayScanLatencyBudgetBurn", no_data=NoDataPolicy(zero_traffic=False))),
        # A batch engine idles between reports, and a fleet without one (engines/fleet.yaml) has none of
        # its series at all: neither is missing data, so no no-data alert (as for engine starts).
        latency_slo("batch-latency", c.QUERY_KINDS, BATCH_LATENCY_THRESHOLD, Fraction(99, 100),
                    f"queries of every kind on the batch engines ({', '.join(BATCH_ENGINES)})",
                    Alerting(name="GatewayBatchLatencyBudgetBurn", no_data=NoDataPolicy(enabled=False)),
                    engines=(BATCH_ENGINE,)),
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
