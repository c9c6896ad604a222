"""PromQL selectors built from the metric contract, checked against it as they are built.

A label that a metric does not carry, or a value outside a bounded label's values, is a bug in the
alert, and would silently match nothing in Prometheus; here it fails at build time instead.
"""

from __future__ import annotations

from exporters import contract as c

#: Prometheus' own per-target series (not part of our contract, it exists for every scrape).
UP = "up"
JOB = "job"

# Node series get their topology labels from service discovery, not from the exporter.
_TARGET_LABELS: dict[str, tuple[str, ...]] = {
    "node": c.TOPOLOGY_LABELS,
    "gateway": (),
    "control_plane": (),
}


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matchers(**labels: str) -> str:
    """``{a="x",b=~"y|z"}`` from keyword arguments; a value starting with ``~`` or ``!`` picks the operator."""
    parts = []
    for name, value in labels.items():
        op, text = "=", value
        for prefix, operator in (("!~", "!~"), ("~", "=~"), ("!", "!=")):
            if value.startswith(prefix):
                op, text = operator, value[len(prefix):]
                break
        parts.append(f"{name}{op}{_quote(text)}")
    return "{" + ",".join(parts) + "}" if parts else ""


def sel(metric: c.Metric | str, series: str | None = None, **labels: str) -> str:
    """A selector of a contract metric (or of ``up``), e.g. ``sel(c.ENGINE_STATE, job=..., state=...)``.

    ``series`` names a derived series of a histogram (``metric.count``); labels are checked against the
    metric's own labels, its service-discovery labels and ``job``.
    """
    if isinstance(metric, str):
        if metric != UP:
            raise ValueError(f"{metric!r} is not in the metric contract; pass the Metric object")
        return metric + matchers(**labels)
    allowed = {*metric.labels, *_TARGET_LABELS[metric.component], JOB, "instance"}
    if metric.kind == "histogram" and series == metric.bucket:
        allowed.add("le")
    for name, value in labels.items():
        if name not in allowed:
            raise ValueError(f"{metric.name} has no label {name!r}; it has {sorted(allowed)}")
        bounded = metric.label_values.get(name)
        plain = value.lstrip("!~")
        if bounded and not value.startswith(("~", "!~")) and plain not in bounded:
            raise ValueError(f"{metric.name}{{{name}}} is never {plain!r}; values: {bounded}")
    return (series or metric.name) + matchers(**labels)


def by(*labels: str) -> str:
    return "by (" + ", ".join(labels) + ")"


def on(*labels: str) -> str:
    return "on (" + ", ".join(labels) + ")"
