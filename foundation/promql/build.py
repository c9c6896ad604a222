"""Selectors of contract metrics, checked against the contract as they are built.

A label that a series does not carry, or a value outside a bounded label's values, makes a selector
that silently matches nothing in Prometheus: a dashboard panel that says "No data", an alert that can
never fire. Alerts, dashboards, SLO specs and runbooks all build their selectors here, so each of those
mistakes fails when the artifact is generated instead.

A series carries more labels than its exporter sets: Prometheus adds ``job`` and ``instance`` to every
scraped series, service discovery adds the topology labels to node targets, and a histogram's bucket
series has ``le``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from exporters import contract as c
from exporters.contract import Component, Metric
from foundation.promql.model import Matcher, MatchOp, Selector

Part = Literal["", "bucket", "count", "sum"]

#: Prometheus' own per-target series: not in our contract, it exists for every scrape target.
UP = "up"
JOB = "job"
INSTANCE = "instance"
LE = "le"  # Prometheus' histogram bucket label, not the contract's
SCRAPE_LABELS: tuple[str, ...] = (JOB, INSTANCE)

#: The scrape job of each component, in the Prometheus configuration that `enginewatch up` writes.
JOBS: dict[Component, str] = {
    "node": c.JOB_NODE, "gateway": c.JOB_GATEWAY, "control_plane": c.JOB_ORCHESTRATOR,
    "slo_service": c.JOB_SLO_SERVICE, "chaos": c.JOB_CHAOS,
}
# Targets whose labels come from service discovery: node pods, found through file_sd (or Kubernetes SD).
_DISCOVERED: frozenset[Component] = frozenset({"node"})
# ``up`` exists for every target, so it may carry any target label.
_UP_LABELS = frozenset({*SCRAPE_LABELS, *c.TOPOLOGY_LABELS})

# The keyword shorthand of ``sel``: a value's prefix picks the operator; longest prefix first.
_PREFIX_OPS: tuple[tuple[str, MatchOp], ...] = (("!~", "!~"), ("~", "=~"), ("!", "!="))


def series_name(metric: Metric, part: Part = "") -> str:
    """The series name: the metric, or one of a histogram's ``_bucket``/``_count``/``_sum``."""
    return str(getattr(metric, part)) if part else metric.name


def labels_of(metric: Metric, part: Part = "") -> frozenset[str]:
    """The labels a series of ``metric`` carries in Prometheus."""
    labels = {*metric.labels, *SCRAPE_LABELS}
    if metric.component in _DISCOVERED:
        labels.update(c.TOPOLOGY_LABELS)
    if part == "bucket":
        labels.add(LE)
    return frozenset(labels)


def check_labels(metric: Metric, labels: Iterable[str], part: Part = "") -> None:
    """``ValueError`` unless a series of ``metric`` carries every one of ``labels`` (to group or match on)."""
    have = labels_of(metric, part)
    missing = [label for label in labels if label not in have]
    if missing:
        raise ValueError(f"{series_name(metric, part)} has no label {', '.join(missing)}; "
                         f"it has {', '.join(sorted(have))}")


def _check_value(metric: Metric, m: Matcher) -> None:
    if m.is_regex:
        return  # a regex may rightly match values that do not exist yet; only equality is checkable
    if m.name == JOB and m.value != JOBS[metric.component]:
        raise ValueError(f"{metric.name} is scraped by job {JOBS[metric.component]!r}, never {m.value!r}")
    bounded = metric.label_values.get(m.name)
    if bounded and m.value not in bounded:
        raise ValueError(f"{metric.name}{{{m.name}}} is never {m.value!r}; values: {bounded}")


def selector(metric: Metric, part: Part = "", *matchers: Matcher) -> Selector:
    """A selector of ``metric`` (or of one of its histogram series), its matchers checked against the contract."""
    check_labels(metric, (m.name for m in matchers), part)
    for m in matchers:
        _check_value(metric, m)
    return Selector(series_name(metric, part), matchers)


def up(*matchers: Matcher) -> Selector:
    """A selector of ``up``, on the labels a scrape target can have."""
    unknown = [m.name for m in matchers if m.name not in _UP_LABELS]
    if unknown:
        raise ValueError(f"{UP} has no label {', '.join(unknown)}; it has {', '.join(sorted(_UP_LABELS))}")
    return Selector(UP, matchers)


def matcher(name: str, value: str) -> Matcher:
    """``name="value"``; a value starting with ``~``, ``!`` or ``!~`` picks ``=~``, ``!=`` or ``!~``."""
    for prefix, op in _PREFIX_OPS:
        if value.startswith(prefix):
            return Matcher(name, op, value[len(prefix):])
    return Matcher(name, "=", value)


def sel(metric: Metric | str, part: Part = "", **labels: str) -> str:
    """A checked selector as PromQL, e.g. ``sel(c.ENGINE_STATE, job=c.JOB_ORCHESTRATOR, state="~RUNNING|DRAINING")``.

    The keyword form of ``selector``: see ``matcher`` for the operator prefixes. ``metric`` is a
    contract ``Metric``, or ``UP``.
    """
    matchers = tuple(matcher(name, value) for name, value in labels.items())
    if isinstance(metric, str):
        if metric != UP:
            raise ValueError(f"{metric!r} is not in the metric contract; pass the Metric object")
        if part:
            raise ValueError(f"{UP} has no {part} series")
        return up(*matchers).promql()
    return selector(metric, part, *matchers).promql()


def by(*labels: str) -> str:
    return "by (" + ", ".join(labels) + ")"


def on(*labels: str) -> str:
    return "on (" + ", ".join(labels) + ")"
