"""Gray failures: which node is slow, and why — CPU throttled, partitioned, OOM-killed or slow storage.

A slow node is named by the gateway (latency ejections, health-check latency against its cluster's
fastest node) and by its own lookups. The cause comes from evidence each cause leaves and the others
do not:

- throttled: the node's cgroup keeps throttling it (``engine_cpu_throttled_seconds_total`` rising);
- partitioned: the gateway cannot reach the node (ejected as unresponsive or refused, scrapes fail)
  while the orchestrator reports its process running;
- OOM-killed: the orchestrator restarted it with reason ``oom`` (the kernel's OOM killer);
- slow storage: its lookups are far slower than its peers' while its CPU is not throttled and its
  health checks are not slow (a query-path delay: object-storage reads).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from alerts.profiles import PROFILES
from exporters import contract as c
from foundation.prometheus import Sample
from foundation.promql import UP, by, on, sel
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding
from runbooks.diagnosis.words import count, pct, times

OUTLIERS = "Latency outliers at the gateway: ejections and health-check latency per node"
CAUSE = "Why the node is slow: CPU throttling, OOM kills, storage, starvation"
PARTITION = "Pods the gateway cannot reach while their process runs (a partition)"

NODE = ("engine", "cluster", "node", "pod")
CLUSTER = ("engine", "cluster")
#: The alert's own bounds, so that the diagnosis calls an outlier what the alert fires on.
RATIO = PROFILES["production"].outlier_ratio
PROBE_FLOOR_S = PROFILES["production"].outlier_probe_floor
LOOKUP_FLOOR_S = PROFILES["production"].outlier_lookup_floor
#: "Rising now": the last minute, whatever the window of the diagnosis.
RECENT = "1m"
#: Throttled this long within the last minute, or in the alert's share of its periods: the quota is
#: what slows the node (a node the gateway ejected is idle and throttled little, but not nothing).
THROTTLED_RECENT_S = 1.0
THROTTLED_SHARE = PROFILES["production"].outlier_throttled_ratio
#: Pod states of a process that has started and not been told to stop (a starting one is not cut off yet).
_ALIVE_STATES = frozenset({"READY", "UNREADY"})


def _mean(ctx: Context, metric: c.Metric, window: str, **labels: str) -> str:
    total = f"sum {by(*NODE)} (rate({ctx.sel(metric, 'sum', **labels)}[{window}]))"
    n = f"sum {by(*NODE)} (rate({ctx.sel(metric, 'count', **labels)}[{window}]))"
    return f"{total} / {n}"


def _against_fastest(mean: str) -> str:
    """Each node's mean over its cluster's fastest node's (1 for the fastest, NaN without traffic)."""
    return f"{mean} / {on(*CLUSTER)} group_left () min {by(*CLUSTER)} ({mean})"


def _pod(s: Sample) -> str:
    return s.labels.get("pod", "")


def _where(s: Sample) -> str:
    return f"pod {_pod(s)} (cluster {s.labels.get('cluster')} of {s.labels.get('engine')})"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else f"{seconds * 1000:.2f} ms"


def _outliers(ctx: Context) -> list[Finding]:
    w = ctx.scope.window
    ejections = ctx.promql(f"sum {by(*NODE, 'reason')} (increase({ctx.sel(c.GATEWAY_EJECTIONS, job=c.JOB_GATEWAY)}"
                           f"[{w}])) > 0.5")
    ejected = ctx.promql(f"{ctx.sel(c.GATEWAY_UPSTREAM_EJECTED, job=c.JOB_GATEWAY)} == 1")
    probe = _mean(ctx, c.GATEWAY_PROBE_DURATION, RECENT, job=c.JOB_GATEWAY)
    means = {_pod(s): s.value for s in ctx.promql(probe)}
    ratios = ctx.promql(_against_fastest(probe))
    found = []
    by_pod: dict[str, dict[str, int]] = defaultdict(dict)
    where: dict[str, Sample] = {}
    for s in ejections:
        by_pod[_pod(s)][s.labels.get("reason", "?")] = count(s.value)
        where[_pod(s)] = s
    now = {_pod(s): s.labels.get("reason", "?") for s in ejected}
    for pod, reasons in sorted(by_pod.items(), key=lambda kv: -sum(kv[1].values())):
        s = where[pod]
        what = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        state = f"; ejected now ({now[pod]})" if pod in now else "; routable now"
        found.append(Finding("problem", f"the gateway ejected {_where(s)} {times(sum(reasons.values()))} in "
                                        f"{ctx.scope.window_text} ({what}){state}", OUTLIERS,
                             s.labels.get("engine"), s.labels.get("cluster"), pod))
        if "latency" in reasons:
            ctx.facts.suggest("pod", pod)
    for s in sorted(ratios, key=lambda s: -s.value if not math.isnan(s.value) else 0):
        mean = means.get(_pod(s), math.nan)
        if not math.isnan(s.value) and s.value > RATIO and mean > PROBE_FLOOR_S:
            found.append(Finding("problem", f"{_where(s)} answers the gateway's health checks in {_ms(mean)} on "
                                            f"average over the last minute, {s.value:.0f} times its cluster's fastest "
                                            "node", OUTLIERS, s.labels.get("engine"), s.labels.get("cluster"),
                                 _pod(s)))
            ctx.facts.suggest("pod", _pod(s))
    if not found:
        slowest = max(means.items(), key=lambda kv: kv[1] if not math.isnan(kv[1]) else -1, default=None)
        tail = f"; slowest health checks: {slowest[0]} at {_ms(slowest[1])}" if slowest else ""
        found.append(Finding("ok", f"the gateway ejected no node in {ctx.scope.window_text} and no node's health "
                                   f"checks are an outlier in its cluster{tail}", OUTLIERS))
    return found


@dataclass
class _Evidence:
    engine: str
    cluster: str
    pod: str
    throttled_recent_s: float = 0.0
    throttled_share: float = math.nan
    throttled_total_s: float = 0.0
    oom_kills: int = 0
    unreachable: str | None = None  # the gateway holds it out as refused or unresponsive
    lookup_s: float = math.nan
    lookup_ratio: float = math.nan
    probe_slow: bool = False


def _cause(ctx: Context) -> list[Finding]:
    w = ctx.scope.window
    evidence: dict[str, _Evidence] = {}

    def of(s: Sample) -> _Evidence:
        pod = _pod(s)
        if pod not in evidence:
            evidence[pod] = _Evidence(s.labels.get("engine", ""), s.labels.get("cluster", ""), pod)
        return evidence[pod]

    throttled = ctx.sel(c.CPU_THROTTLED, job=c.JOB_NODE)
    for s in ctx.promql(f"sum {by(*NODE)} (increase({throttled}[{RECENT}]))"):
        of(s).throttled_recent_s = s.value
    for s in ctx.promql(f"sum {by(*NODE)} (increase({throttled}[{w}])) > 0"):
        of(s).throttled_total_s = s.value
    share = (f"sum {by(*NODE)} (rate({ctx.sel(c.CPU_THROTTLED_PERIODS, job=c.JOB_NODE)}[{RECENT}])) / "
             f"sum {by(*NODE)} (rate({ctx.sel(c.CPU_PERIODS, job=c.JOB_NODE)}[{RECENT}]))")
    for s in ctx.promql(share):
        of(s).throttled_share = s.value
    oom = ctx.sel(c.ENGINE_POD_RESTARTS, job=c.JOB_ORCHESTRATOR, reason="oom")
    for s in ctx.promql(f"sum {by('engine', 'cluster', 'pod')} (increase({oom}[{w}])) > 0.5"):
        of(s).oom_kills = count(s.value)
    for s in _cut_off(ctx):
        of(s).unreachable = s.labels.get("reason")
    lookups = _mean(ctx, c.QUERY_DURATION, RECENT, job=c.JOB_NODE, kind="lookup", status="ok")
    for s in ctx.promql(lookups):
        of(s).lookup_s = s.value
    for s in ctx.promql(_against_fastest(lookups)):
        of(s).lookup_ratio = s.value
    probe = _mean(ctx, c.GATEWAY_PROBE_DURATION, RECENT, job=c.JOB_GATEWAY)
    probe_means = {_pod(s): s.value for s in ctx.promql(probe)}
    for s in ctx.promql(_against_fastest(probe)):
        if s.value > RATIO and probe_means.get(_pod(s), 0.0) > PROBE_FLOOR_S:
            of(s).probe_slow = True
    found: list[Finding] = []
    suspect = ctx.facts.get("pod")
    for _, e in sorted(evidence.items(), key=lambda kv: (kv[0] != suspect, kv[0])):
        found.extend(_verdicts(ctx, e))
    if not found:
        about = f" of pod {suspect}" if suspect else ""
        found.append(Finding("ok", f"no cause found{about}: no node is CPU throttled, OOM-killed in "
                                   f"{ctx.scope.window_text}, slow at its lookups or starved (a partition is the "
                                   "next step's)", CAUSE))
    return found


def _cut_off(ctx: Context) -> list[Sample]:
    """Nodes the gateway holds out because it cannot reach them (not for their latency)."""
    cut_off = ctx.sel(c.GATEWAY_UPSTREAM_EJECTED, job=c.JOB_GATEWAY, reason="~refused|unresponsive")
    return ctx.promql(f"max {by(*NODE, 'reason')} ({cut_off}) == 1")


def _partition(ctx: Context) -> list[Finding]:
    cut_off = _cut_off(ctx)
    scope = {k: v for k, v in (("engine", ctx.scope.engine), ("cluster", ctx.scope.cluster)) if v}
    unscraped = {_pod(s) for s in ctx.promql(f"{sel(UP, job=c.JOB_NODE, **scope)} == 0")}
    alive = {p["pod"]: p for p in ctx.pods() if p.get("pid") and p.get("state") in _ALIVE_STATES}
    found = []
    for s in sorted(cut_off, key=_pod):
        pod, reason = _pod(s), s.labels.get("reason", "?")
        process = alive.get(pod)
        how = "its health checks time out" if reason == "unresponsive" else "its connections are refused"
        if process is None:
            found.append(Finding("info", f"the gateway cannot reach {_where(s)} ({how}): its process is not running "
                                         "(restarting or gone), no partition", PARTITION, s.labels.get("engine"),
                                 s.labels.get("cluster"), pod))
            continue
        scrape = "; Prometheus cannot scrape it either" if pod in unscraped else ""
        found.append(Finding("problem", f"{_where(s)} is partitioned from the gateway: ejected as {reason} ({how}) "
                                        f"while the orchestrator reports its process running (pid {process['pid']}, "
                                        f"{process['state']}){scrape}: the network drops or rejects its traffic, or "
                                        "the process is hung", PARTITION, s.labels.get("engine"),
                             s.labels.get("cluster"), pod))
        ctx.facts.suggest("pod", pod)
    return found or [Finding("ok", "the gateway reaches every node whose process runs: no partition", PARTITION)]


def _verdicts(ctx: Context, e: _Evidence) -> list[Finding]:
    where = f"pod {e.pod} (cluster {e.cluster} of {e.engine})"
    found = []

    def problem(text: str) -> None:
        found.append(Finding("problem", f"{where} {text}", CAUSE, e.engine, e.cluster, e.pod))
        ctx.facts.suggest("pod", e.pod)

    share_known = not math.isnan(e.throttled_share)
    throttled_now = e.throttled_recent_s >= THROTTLED_RECENT_S or (share_known and e.throttled_share > THROTTLED_SHARE)
    if throttled_now:
        share = f", in {pct(e.throttled_share)} of its CPU periods" if share_known else ""
        problem(f"is CPU throttled: its cgroup's CPU quota held it back {e.throttled_recent_s:.1f} s in the last "
                f"minute{share} ({e.throttled_total_s:.0f} s in {ctx.scope.window_text}): a CPU limit too low for "
                "its load makes every query on it slow")
    elif e.throttled_total_s >= 1:
        found.append(Finding("info", f"{where} was CPU throttled earlier ({e.throttled_total_s:.0f} s in "
                                     f"{ctx.scope.window_text}), not in the last minute", CAUSE, e.engine, e.cluster,
                             e.pod))
    if e.oom_kills:
        problem(f"was OOM-killed {times(e.oom_kills)} in {ctx.scope.window_text}: the kernel's OOM killer ended it "
                "in its memory cgroup (restart reason oom), failing or retrying its in-flight queries")
    slow_lookups = (not math.isnan(e.lookup_ratio) and e.lookup_ratio > RATIO and e.lookup_s > LOOKUP_FLOOR_S)
    if slow_lookups and not throttled_now and not e.probe_slow:
        problem(f"reads storage slowly: its lookups take {_ms(e.lookup_s)} on average over the last minute, "
                f"{e.lookup_ratio:.0f} times its cluster's fastest node, while its CPU is not throttled and it "
                "answers health checks as fast as its peers: slow storage (object-store reads)")
    elif slow_lookups:
        found.append(Finding("info", f"{where}: lookups take {_ms(e.lookup_s)}, {e.lookup_ratio:.0f} times its "
                                     "cluster's fastest node", CAUSE, e.engine, e.cluster, e.pod))
    if e.probe_slow and not throttled_now and not e.unreachable:
        problem("answers health checks far more slowly than its peers without being throttled or cut off: it is "
                "starved (CPU contention from a noisy neighbor, swapping) — see its CPU use")
    return found


outliers = Check(OUTLIERS, "prometheus", _outliers)
cause = Check(CAUSE, "prometheus", _cause)
partition = Check(PARTITION, "orchestrator", _partition)
