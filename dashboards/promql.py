"""PromQL for the dashboards, built from the metric contract and checked against it.

Every selector names a contract ``Metric`` and is scoped to its scrape job, and every label a panel
filters or groups on is checked against the labels that metric really carries. A panel that filters
the gateway's request histogram on ``cluster`` (which it does not have) shows "No data" in Grafana
and nothing anywhere else; here it fails when the dashboards are generated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from exporters import contract as c
from exporters.contract import Metric

Part = Literal["", "bucket", "count", "sum"]
Match = Mapping[str, str]  # label -> value; a Re value matches as a regex

RATE_INTERVAL = "$__rate_interval"
#: Grafana's "All" for our multi-value variables: also matches series that lack the label.
ALL = ".*"

_JOBS: dict[str, str] = {"node": c.JOB_NODE, "gateway": c.JOB_GATEWAY, "control_plane": c.JOB_ORCHESTRATOR}
_SCRAPE_LABELS = frozenset({"job", "instance"})


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
LE = "le"  # Prometheus' own histogram label, not the contract's

#: The dashboard variables that scope selectors, each named after its label: label -> reference.
SCOPE: dict[str, str] = {label: f"${label}" for label in (ENGINE, CLUSTER)}


class Re(str):
    """A matcher value to use with ``=~`` rather than ``=``."""


def labels_of(metric: Metric, part: Part = "") -> frozenset[str]:
    """The labels a series of ``metric`` carries in Prometheus."""
    labels = set(metric.labels) | _SCRAPE_LABELS
    if metric.component == "node":
        # Node targets come from service discovery, which attaches the topology labels.
        labels |= set(c.TOPOLOGY_LABELS)
    if part == "bucket":
        labels.add(LE)
    return frozenset(labels)


def _check_labels(metric: Metric, labels: Sequence[str], part: Part = "") -> None:
    missing = [label for label in labels if label not in labels_of(metric, part)]
    if missing:
        raise ValueError(f"{metric.name} has no label {', '.join(missing)}; "
                         f"it has {', '.join(sorted(labels_of(metric, part)))}")


def series(metric: Metric, part: Part = "") -> str:
    """The series name: the metric, or one of a histogram's ``_bucket``/``_count``/``_sum``."""
    return getattr(metric, part) if part else metric.name


def sel(metric: Metric, part: Part = "", *, match: Match | None = None, scoped: bool = True) -> str:
    """A selector such as ``engine_queued_queries{job="engine-node", engine=~"$engine", ...}``.

    ``scoped`` adds the engine and cluster variables for the labels the metric carries.
    """
    matchers = match or {}
    _check_labels(metric, list(matchers), part)
    parts = [f'job="{_JOBS[metric.component]}"']
    if scoped:
        parts += [f'{label}=~"{var}"' for label, var in SCOPE.items() if label in labels_of(metric)]
    for label, value in matchers.items():
        parts.append(f'{label}{"=~" if isinstance(value, Re) else "="}"{value}"')
    return f"{series(metric, part)}{{{', '.join(parts)}}}"


def sum_by(by: Sequence[str], expr: str, op: str = "sum") -> str:
    return f"{op} by ({', '.join(by)}) ({expr})" if by else f"{op}({expr})"


def rate(metric: Metric, by: Sequence[str] = (), part: Part = "", *, match: Match | None = None,
         fn: str = "rate") -> str:
    """``sum by (by) (rate(selector[$__rate_interval]))`` — the only way the dashboards read counters."""
    _check_labels(metric, by, part)
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
    _check_labels(metric, by)
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
    _check_labels(metric, (STATE, *by))
    terms = [f"{i} * ({sel(metric, match={STATE: s})} == 1)" for i, s in enumerate(states)]
    return sum_by(by, " or ".join(terms), "max")
