"""The platform alerts, built from the metric contract, and their rendered rule files.

Each alert is a function of the profile (local or production): the thresholds and ``for:`` bounds
change with the scrape cadence, the expressions do not. ``python -m alerts`` writes
alerts/platform.rules.yml (local) and alerts/platform.production.rules.yml; a test fails when they are
stale.
"""

from __future__ import annotations

from pathlib import Path

from alerts import meta
from alerts.profiles import TRANSITION_STATES, AlertProfile, get_profile
from alerts.rule import AlertRule, RuleGroup, Severity
from alerts.yamlfmt import dump
from exporters import contract as c
from foundation import deployment as dash
from foundation.deployment import Links
from foundation.durations import format_duration as d
from foundation.promql import UP, by, on, sel

HERE = Path(__file__).resolve().parent
RULE_FILES: dict[str, Path] = {
    "local": HERE / "platform.rules.yml",
    "production": HERE / "platform.production.rules.yml",
}
HEADER = "# Generated from alerts/platform.py by `python -m alerts`. DO NOT EDIT.\n"

NODE = c.JOB_NODE
GATEWAY = c.JOB_GATEWAY
ORCHESTRATOR = c.JOB_ORCHESTRATOR
POD_SCOPE = ("engine", "cluster", "pod")

ENGINE_NODE_DOWN = "EngineNodeDown"
ENGINE_POD_CRASH_LOOPING = "EnginePodCrashLooping"
GATEWAY_NO_HEALTHY_UPSTREAM = "GatewayNoHealthyUpstream"
GATEWAY_FAILOVER_STORM = "GatewayFailoverStorm"
ENGINE_QUERY_SLOTS_SATURATED = "EngineQuerySlotsSaturated"
ENGINE_QUEUE_GROWING = "EngineQueueGrowing"
ENGINE_MEMORY_SATURATION = "EngineMemorySaturation"
ENGINE_NODE_LATENCY_OUTLIER = "EngineNodeLatencyOutlier"
EXPORTER_TARGET_ABSENT = "ExporterTargetAbsent"
ENGINE_QUERY_RUNNING_TOO_LONG = "EngineQueryRunningTooLong"


def stuck_alert_name(state: str) -> str:
    return f"EngineStuck{state.capitalize()}"


ENGINE_STUCK: dict[str, str] = {state: stuck_alert_name(state) for state in TRANSITION_STATES}

#: Scrape jobs whose absence blinds alerts, and how loud that is. The SLO service only reports.
ABSENT_SEVERITY: dict[str, Severity] = {NODE: "critical", GATEWAY: "critical", ORCHESTRATOR: "critical",
                                   c.JOB_SLO_SERVICE: "info"}


# --- nodes and pods -----------------------------------------------------------------------------------

def engine_node_down(p: AlertProfile) -> AlertRule:
    # The orchestrator's list of pods is the truth of what should run; a pod without a successful scrape
    # is down (no target: killed, in restart backoff) or hung (target, but up == 0).
    should_run = f"max {by(*POD_SCOPE)} ({sel(c.ENGINE_POD_READY, job=ORCHESTRATOR)})"
    scraped = f"max {by(*POD_SCOPE)} ({sel(UP, job=NODE)} == 1)"
    return AlertRule(
        ENGINE_NODE_DOWN, f"{should_run}\nunless {on(*POD_SCOPE)}\n{scraped}", "warning",
        "An engine node that should run cannot be scraped.",
        "Pod {{ $labels.pod }} of engine {{ $labels.engine }}, cluster {{ $labels.cluster }}, runs according to "
        f"the orchestrator but its node has not answered a scrape for {d(p.node_down_for)}: it is down, hung "
        "or restarting, and its cluster serves with one node less.",
        dash.LIFECYCLE, POD_SCOPE, p.node_down_for,
    )


def engine_pod_crash_looping(p: AlertProfile) -> AlertRule:
    # Restarts someone asked for (restart-pod) are not a crash loop. ">=": increase() extrapolates to the
    # window's edges, so 2 restarts read as ~2.03 and 3 as ~3.05; a whole-number bound separates them.
    restarts = sel(c.ENGINE_POD_RESTARTS, job=ORCHESTRATOR, reason="!requested")
    expr = f"sum {by(*POD_SCOPE)} (increase({restarts}[{d(p.crashloop_window)}])) >= {p.crashloop_restarts}"
    return AlertRule(
        ENGINE_POD_CRASH_LOOPING, expr, "warning",
        "An engine pod keeps restarting.",
        "Pod {{ $labels.pod }} of engine {{ $labels.engine }}, cluster {{ $labels.cluster }}, was restarted "
        f'{{{{ $value | printf "%.0f" }}}} times in the last {d(p.crashloop_window)}: it crashes, is killed or '
        "fails its liveness probe, and each restart fails its in-flight queries.",
        dash.LIFECYCLE, POD_SCOPE, p.crashloop_for,
    )


# --- engine lifecycle ---------------------------------------------------------------------------------

_STUCK_WHY = {
    "STARTING": "its pods may never become ready (bad version, storage, ports)",
    "RESIZING": "new clusters or nodes may never become ready, or an upgrade's green clusters hang",
    "DRAINING": "in-flight queries or a pod that ignores SIGTERM may hold the drain",
}


def engine_stuck(p: AlertProfile, state: str) -> AlertRule:
    expr = f"max {by('engine')} ({sel(c.ENGINE_STATE, job=ORCHESTRATOR, state=state)}) == 1"
    return AlertRule(
        ENGINE_STUCK[state], expr, "warning",
        f"An engine has been {state} for longer than expected.",
        f"Engine {{{{ $labels.engine }}}} has been {state} for more than {d(p.stuck_for[state])}: "
        f"{_STUCK_WHY[state]}; no other operation can run on it until this one ends.",
        dash.LIFECYCLE, ("engine",), p.stuck_for[state],
    )


# --- gateway ------------------------------------------------------------------------------------------

def gateway_no_healthy_upstream(p: AlertProfile) -> AlertRule:
    upstreams = sel(c.GATEWAY_UPSTREAM_UP, job=GATEWAY)
    # An engine that should serve but has no upstream series at all (gateway lost it, or every pod is
    # gone) is just as unavailable as one whose upstreams are all down.
    serving = sel(c.ENGINE_STATE, job=ORCHESTRATOR, state="~RUNNING|RESIZING|DRAINING")
    expr = (f"sum {by('engine')} ({upstreams}) == 0\n"
            f"or {on('engine')}\n"
            f"(\n  0 * max {by('engine')} ({serving} == 1)\n"
            f"  unless {on('engine')}\n  max {by('engine')} ({upstreams})\n)")
    return AlertRule(
        GATEWAY_NO_HEALTHY_UPSTREAM, expr, "critical",
        "The gateway has no healthy node for an engine.",
        "The gateway has had no healthy upstream node for engine {{ $labels.engine }} for "
        f"{d(p.no_upstream_for)}: every query to it fails with 503 unavailable.",
        dash.GATEWAY, ("engine",), p.no_upstream_for,
    )


def gateway_failover_storm(p: AlertProfile) -> AlertRule:
    failovers = sel(c.GATEWAY_FAILOVERS, job=GATEWAY)
    expr = f"sum {by('engine')} (rate({failovers}[{d(p.failover_window)}])) > {p.failover_rate:g}"
    return AlertRule(
        GATEWAY_FAILOVER_STORM, expr, "warning",
        "The gateway keeps failing queries over to other nodes.",
        "The gateway failed over {{ $value | humanize }} queries per second of engine {{ $labels.engine }} "
        f"in the last {d(p.failover_window)} (bound {p.failover_rate:g}/s): nodes fail queries or are ejected, "
        "and clients see retries and higher latency.",
        dash.GATEWAY, ("engine",), p.failover_for,
    )


# --- saturation ---------------------------------------------------------------------------------------

def engine_query_slots_saturated(p: AlertProfile) -> AlertRule:
    scope = ("engine", "cluster")
    running = f"sum {by(*scope)} ({sel(c.RUNNING_QUERIES, job=NODE)})"
    slots = f"sum {by(*scope)} ({sel(c.QUERY_SLOTS, job=NODE)})"
    return AlertRule(
        ENGINE_QUERY_SLOTS_SATURATED, f"{running}\n/\n{slots}\n>= {p.slots_ratio:g}", "warning",
        "An engine cluster runs out of query slots.",
        "Cluster {{ $labels.cluster }} of engine {{ $labels.engine }} has used {{ $value | humanizePercentage }} "
        f"of its query slots for {d(p.slots_for)}: new queries wait in the queue, then fail as overloaded.",
        dash.QUERY_CORE, scope, p.slots_for,
    )


def engine_queue_growing(p: AlertProfile) -> AlertRule:
    scope = ("engine", "cluster")
    queued = sel(c.QUEUED_QUERIES, job=NODE)
    expr = (f"sum {by(*scope)} ({queued}) > 0\n"
            f"and {on(*scope)}\n"
            f"sum {by(*scope)} (deriv({queued}[{d(p.queue_window)}])) > 0")
    return AlertRule(
        ENGINE_QUEUE_GROWING, expr, "warning",
        "Queries pile up in an engine cluster's queue.",
        "{{ $value | humanize }} queries wait for a slot in cluster {{ $labels.cluster }} of engine "
        f"{{{{ $labels.engine }}}}, and the queue has kept growing for {d(p.queue_for)}: arrivals outpace "
        "the slots, and once the queue is full queries fail as overloaded.",
        dash.QUERY_CORE, scope, p.queue_for,
    )


def engine_memory_saturation(p: AlertProfile) -> AlertRule:
    scope = ("engine", "cluster", "node", "pod")
    ratio = f"{sel(c.MEMORY_USED, job=NODE)}\n  /\n  {sel(c.MEMORY_LIMIT, job=NODE)}"
    return AlertRule(
        ENGINE_MEMORY_SATURATION, f"max {by(*scope)} (\n  {ratio}\n) > {p.memory_ratio:g}", "warning",
        "An engine node is close to its memory limit.",
        "Node {{ $labels.pod }} of engine {{ $labels.engine }} has used {{ $value | humanizePercentage }} of its "
        f"memory limit for {d(p.memory_for)}: its queries spill to disk or fail with oom.",
        dash.QUERY_CORE, scope, p.memory_for,
    )


# --- gray failures -------------------------------------------------------------------------------------

NODE_SCOPE = ("engine", "cluster", "node", "pod")


def _mean(metric: c.Metric, window: int, **labels: str) -> str:
    """Mean of a histogram per node over the window: sum / count of its rates."""
    total = f"sum {by(*NODE_SCOPE)} (rate({sel(metric, 'sum', **labels)}[{d(window)}]))"
    count = f"sum {by(*NODE_SCOPE)} (rate({sel(metric, 'count', **labels)}[{d(window)}]))"
    return f"{total}\n  /\n  {count}"


def _outlier(mean: str, ratio: float, floor: float) -> str:
    """A node whose mean exceeds ``ratio`` times its cluster's fastest node, and ``floor``.

    The fastest node, not the median: in a cluster of two the median is half the slow node itself.
    A cluster of one has no peer, and its node is never an outlier (it is its own minimum).
    """
    return (f"(\n  {mean}\n)\n> {on('engine', 'cluster')} group_left ()\nclamp_min(\n"
            f"  {ratio:g} * min {by('engine', 'cluster')} (\n  {mean}\n  ),\n  {floor:g}\n)")


def engine_node_latency_outlier(p: AlertProfile) -> AlertRule:
    # Four views of one gray failure, any of which is enough:
    # - the gateway holds the node out as a latency outlier for most of the window: the signal that
    #   persists once traffic has moved away (an ejected node has no load, so it looks fast again);
    # - its health checks at the gateway take far longer than its peers' (starved, swapping, a partition
    #   that drops packets), also where the gateway may not eject (its max share of a cluster);
    # - its lookups take far longer than its peers' (slow storage reads, which health checks never touch);
    # - its cgroup's CPU quota throttled it in most periods at some moment of the window: slow by
    #   construction, and on a machine whose every node is starved for CPU the one signal that still tells
    #   the throttled node from its peers. At some moment, not on average: once ejected the node is idle,
    #   and the unthrottled periods of its health checks would dilute the ratio of its loaded ones.
    w = p.outlier_window
    ejected = sel(c.GATEWAY_UPSTREAM_EJECTED, job=GATEWAY, reason="latency")
    held_out = f"max {by(*NODE_SCOPE)} (avg_over_time({ejected}[{d(w)}])) >= {p.outlier_ejected_share:g}"
    probes = _outlier(_mean(c.GATEWAY_PROBE_DURATION, w, job=GATEWAY), p.outlier_ratio, p.outlier_probe_floor)
    lookups = _outlier(_mean(c.QUERY_DURATION, w, job=NODE, kind="lookup", status="ok"), p.outlier_ratio,
                       p.outlier_lookup_floor)
    r = d(p.outlier_throttled_range)
    ratio = f"rate({sel(c.CPU_THROTTLED_PERIODS, job=NODE)}[{r}])\n    /\n    rate({sel(c.CPU_PERIODS, job=NODE)}[{r}])"
    throttled = (f"max {by(*NODE_SCOPE)} (\n  max_over_time((\n    {ratio}\n  )[{d(w)}:{d(p.interval)}])\n)"
                 f" > {p.outlier_throttled_ratio:g}")
    expr = f"{held_out}\nor\n{probes}\nor\n{lookups}\nor\n{throttled}"
    return AlertRule(
        ENGINE_NODE_LATENCY_OUTLIER, expr, "warning",
        "An engine node answers far more slowly than its cluster peers.",
        "Node {{ $labels.pod }} of engine {{ $labels.engine }}, cluster {{ $labels.cluster }}, has answered far "
        f"more slowly than its cluster peers for {d(p.outlier_for)}: the gateway holds it out of routing as a "
        f"latency outlier, its health checks or lookups take over {p.outlier_ratio:g} times those of the "
        f"fastest peer, or its CPU quota throttled it in over {p.outlier_throttled_ratio:.0%} of its periods. Its "
        "cluster serves with less capacity and its queries are slow: it may be CPU throttled, starved, "
        "partitioned or reading slow storage.",
        dash.GATEWAY, NODE_SCOPE, p.outlier_for, keep_firing_for=p.outlier_keep_firing_for,
    )


# --- queries ------------------------------------------------------------------------------------------

def engine_query_running_too_long(p: AlertProfile) -> AlertRule:
    # Per node, not per query: a query id is no label. The node's history names the query
    # (GET /queries/running), and the runbook reads it from there.
    scope = ("engine", "cluster", "node", "pod")
    oldest = f"max {by(*scope)} ({sel(c.OLDEST_RUNNING_QUERY, job=NODE)})"
    return AlertRule(
        ENGINE_QUERY_RUNNING_TOO_LONG, f"{oldest} > {p.long_query_s:g}", "warning",
        "A query has been running on an engine node for longer than expected.",
        "The longest query on node {{ $labels.pod }} of engine {{ $labels.engine }}, cluster {{ $labels.cluster }}, "
        f'has been executing for {{{{ $value | printf "%.0f" }}}}s (bound {p.long_query_s:g}s): it holds a query '
        "slot that other queries queue for. `enginewatch queries --engine {{ $labels.engine }} --running` names "
        "it; `enginewatch queries kill ID` cancels it.",
        dash.QUERY_CORE, scope, p.long_query_for,
    )


# --- monitoring itself --------------------------------------------------------------------------------

def exporter_target_absents(p: AlertProfile) -> tuple[AlertRule, ...]:
    """One rule per severity (not per job): rules of one alert with equal labels would be duplicates."""
    rules = []
    for severity in dict.fromkeys(ABSENT_SEVERITY.values()):
        jobs = [job for job, s in ABSENT_SEVERITY.items() if s == severity]
        expr = "\nor ".join(f"absent({sel(UP, job=job)})" for job in jobs)
        rules.append(AlertRule(
            EXPORTER_TARGET_ABSENT, expr, severity,
            "Prometheus has no target for a scrape job.",
            "Prometheus has had no scrape target for job {{ $labels.job }} for "
            f"{d(p.absent_for)}: every alert and dashboard built on its metrics is blind.",
            dash.OVERVIEW, ("job",), p.absent_for,
        ))
    return tuple(rules)


# --- the rule file ------------------------------------------------------------------------------------

def groups(profile: AlertProfile) -> list[RuleGroup]:
    p = profile
    return [
        RuleGroup("enginewatch-nodes", (engine_node_down(p), engine_pod_crash_looping(p))),
        RuleGroup("enginewatch-lifecycle", tuple(engine_stuck(p, s) for s in TRANSITION_STATES)),
        RuleGroup("enginewatch-gateway", (gateway_no_healthy_upstream(p), gateway_failover_storm(p))),
        RuleGroup("enginewatch-saturation", (engine_query_slots_saturated(p), engine_queue_growing(p),
                                             engine_memory_saturation(p))),
        RuleGroup("enginewatch-gray-failures", (engine_node_latency_outlier(p),)),
        RuleGroup("enginewatch-queries", (engine_query_running_too_long(p),)),
        RuleGroup("enginewatch-targets", exporter_target_absents(p)),
        RuleGroup("enginewatch-meta", meta.rules(p)),
    ]


def rules(profile: str | AlertProfile = "local") -> list[AlertRule]:
    p = get_profile(profile) if isinstance(profile, str) else profile
    return [r for g in groups(p) for r in g.rules]


def alert_names() -> list[str]:
    """Every platform alert name, once, in rule file order."""
    return list(dict.fromkeys(r.name for r in rules("local")))


def render(profile: str = "local", links: Links | None = None) -> str:
    links = links or Links()
    document = {"groups": [g.to_dict(links) for g in groups(get_profile(profile))]}
    return dump(document, HEADER)
