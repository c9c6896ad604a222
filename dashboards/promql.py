"""PromQL for the dashboards: Grafana's scoping and the rate/quantile shapes of the panels, around
selectors built by the contract-checked builder (foundation.promql).

Every selector names a contract ``Metric`` and is scoped to its scrape job, and every label a panel
filters or groups on is checked against the labels that metric really carries. A panel that filters
the gateway's request histogram on ``cluster`` (which it does not have) shows "No data" in Grafana
and nothing anywhere else; here it fails when the dashboards are generated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from exporters import contract as c
from exporters.contract import Metric
from foundation.promql import JOB, JOBS, LE, Matcher, Part, check_labels, labels_of, selector

Match = Mapping[str, str]  # label -> value; a Re value matches as a regex

RATE_INTERVAL = "$__rate_interval"
#: Grafana's "All" for our multi-value variables: also matches series that lack the label.
ALL = ".*"
# Grafana shows queries as written; a space after each comma keeps long selectors readable there.
_SEPARATOR = ", "


def _declared(name: str) -> str:
    """A label name, provided the contract declares it somewhere (catches typos at import)."""
    declared = set(c.TOPOLOGY_LABELS).union(*(m.labels for m in c.ALL))
    if name not in declared:
        raise ValueError(f"label {name!r} is not declared by exporters.contract")
    return name


ENGINE = _declared("engine")
CLUSTER = _declared("cluster")
NODE = _declared("node")
POD = _declared("pod")
ERROR_TYPE = _declared("error_type")
KIND = _declared("kind")
STATUS = _declared("status")
STATE = _declared("state")
OPERATION = _declared("operation")
OUTCOME = _declared("outcome")
REASON = _declared("reason")
TYPE = _declared("type")

#: The dashboard variables that scope selectors, each named after its label: label -> reference.
SCOPE: dict[str, str] = {label: f"${label}" for label in (ENGINE, CLUSTER)}


class Re(str):
    """A matcher value to use with ``=~`` rather than ``=``."""


def sel(metric: Metric, part: Part = "", *, match: Match | None = None, scoped: bool = True) -> str:
    """A selector such as ``engine_queued_queries{job="engine-node", engine=~"$engine", ...}``.

    ``scoped`` adds the engine and cluster variables for the labels the metric carries.
    """
    matchers = [Matcher(JOB, "=", JOBS[metric.component])]
    if scoped:
        matchers += [Matcher(label, "=~", var) for label, var in SCOPE.items() if label in labels_of(metric)]
    matchers += [Matcher(label, "=~" if isinstance(value, Re) else "=", value)
                 for label, value in (match or {}).items()]
    return selector(metric, part, *matchers).promql(_SEPARATOR)


def sum_by(by: Sequence[str], expr: str, op: str = "sum") -> str:
    return f"{op} by ({', '.join(by)}) ({expr})" if by else f"{op}({expr})"


def rate(metric: Metric, by: Sequence[str] = (), part: Part = "", *, match: Match | None = None,
         fn: str = "rate") -> str:
    """``sum by (by) (rate(selector[$__rate_interval]))`` — the only way the dashboards read counters."""
    check_labels(metric, by, part)
    if metric.kind == "gauge":
        raise ValueError(f"{metric.name} is a gauge: rate() of it means nothing")
    if metric.kind == "histogram" and not part:
        raise ValueError(f"{metric.name} is a histogram: rate one of its bucket/count/sum series")
    return sum_by(by, f"{fn}({sel(metric, part, match=match)}[{RATE_INTERVAL}])")


def increase(metric: Metric, by: Sequence[str] = (), part: Part = "", *, match: Match | None = None) -> str:
    """Events per rate interval: small counts (restarts, drains) read better as integers than rates."""
    return rate(metric, by, part, match=match, fn="increase")


def gauge(metric: Metric, by: Sequence[str] | None = None, op: str = "sum", *, match: Match | None = None) -> str:
    """A gauge as is (``by=None``) or aggregated with ``op`` by ``by``."""
    if metric.kind != "gauge":
        raise ValueError(f"{metric.name} is a {metric.kind}: aggregate it with rate()")
    if by is None:
        return sel(metric, match=match)
    check_labels(metric, by)
    return sum_by(by, sel(metric, match=match), op)


def quantile(q: float, metric: Metric, by: Sequence[str] = (), *, match: Match | None = None) -> str:
    """``histogram_quantile`` over the rate of buckets summed by ``le`` and ``by`` (never per series)."""
    if metric.kind != "histogram":
        raise ValueError(f"{metric.name} is a {metric.kind}, not a histogram")
    return f"histogram_quantile({q:g}, {rate(metric, (LE, *by), 'bucket', match=match)})"


def mean(metric: Metric, by: Sequence[str] = (), *, match: Match | None = None) -> str:
    """Mean of a histogram's observations over the rate interval: rate of sum over rate of count."""
    return f"{rate(metric, by, 'sum', match=match)} / {rate(metric, by, 'count', match=match)}"


def ratio(numerator: str, denominator: str) -> str:
    return f"({numerator}) / ({denominator})"


def state_index(metric: Metric, states: Sequence[str], by: Sequence[str]) -> str:
    """One series per ``by`` group whose value is the index of the current state in ``states``.

    The contract's state gauges are 1 for the current state and 0 for the others, one series per
    state; a state timeline wants one series per thing whose value says which state it is in.
    """
    check_labels(metric, (STATE, *by))
    terms = [f"{i} * ({sel(metric, match={STATE: s})} == 1)" for i, s in enumerate(states)]
    return sum_by(by, " or ".join(terms), "max")
