"""Renders docs/metrics.md from the metric contract, so the documentation can never drift from it."""

from __future__ import annotations

from pathlib import Path

from exporters import contract as c

_COMPONENTS = {
    "node": f"Engine node — the query core (job `{c.JOB_NODE}`; topology labels from service discovery)",
    "gateway": f"Gateway — the client's view (job `{c.JOB_GATEWAY}`)",
    "control_plane": f"Control plane — the engine-state exporter of the orchestrator (job `{c.JOB_ORCHESTRATOR}`)",
    "slo_service": f"SLO service — its own golden signals (job `{c.JOB_SLO_SERVICE}`)",
    "chaos": f"Chaos runner — the faults of experiments and game days (job `{c.JOB_CHAOS}`: the running "
             "process on loopback, found through file_sd)",
}

_HEADER = """# Metric contract

Generated from `exporters/contract.py` by `python -m exporters.contract_doc`; a test fails when this
file is stale. Dashboards, alerts, SLO specs and runbooks build their PromQL from that module.

Conventions: base units (seconds, bytes, ratios 0–1), `_total` on counters, histograms for latency
(never in-process quantiles), no query text or ids in labels, and every label's values bounded: the
values listed below are the only ones an exporter emits; `engine`, `cluster`, `node` and `pod` are
bounded by the fleet definition.

Node series carry no topology labels of their own: Prometheus attaches
{topology} from service discovery (file_sd locally, Kubernetes SD in production).

## Error types

`error_type` separates user errors from platform errors; availability SLOs count platform errors only.

| class | values |
|---|---|
| user | {user} |
| platform | {platform} |

Of the platform errors, {admission} are refusals before admission (a draining node, a full queue):
they are not in the node's duration count and the gateway retries them elsewhere, so the query-core
SLO counts only {execution}, the failures of admitted queries.
"""


def _labels(m: c.Metric) -> str:
    if not m.labels:
        return "—"
    parts = []
    for label in m.labels:
        values = m.label_values.get(label)
        parts.append(f"`{label}`" + (f" ({', '.join(values)})" if values else ""))
    return "; ".join(parts)


def render() -> str:
    out = [_HEADER.format(
        topology=", ".join(f"`{t}`" for t in c.TOPOLOGY_LABELS),
        user=", ".join(f"`{v}`" for v in c.USER_ERROR_TYPES),
        platform=", ".join(f"`{v}`" for v in c.PLATFORM_ERROR_TYPES),
        admission=", ".join(f"`{v}`" for v in c.ADMISSION_ERROR_TYPES),
        execution=", ".join(f"`{v}`" for v in c.EXECUTION_ERROR_TYPES),
    )]
    for component, title in _COMPONENTS.items():
        out.append(f"\n## {title}\n")
        out.append("| metric | type | unit | signal | labels | meaning |")
        out.append("|---|---|---|---|---|---|")
        for m in c.ALL:
            if m.component == component:
                out.append(f"| `{m.name}` | {m.kind} | {m.unit} | {m.signal} | {_labels(m)} | {m.help} |")
    out.append("\n## Histogram buckets (seconds)\n")
    out.append(f"- queries: {', '.join(map(str, c.QUERY_BUCKETS))}")
    out.append(f"- queue: {', '.join(map(str, c.QUEUE_BUCKETS))}")
    out.append(f"- operations: {', '.join(map(str, c.OPERATION_BUCKETS))}")
    out.append(f"- gateway health checks: {', '.join(map(str, c.PROBE_BUCKETS))}")
    return "\n".join(out) + "\n"


DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"

if __name__ == "__main__":
    DOC_PATH.write_text(render())
    print(f"wrote {DOC_PATH}")
