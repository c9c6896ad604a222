"""promtool unit-test cases of the platform alerts: for every alert, a case where it fires and one where
it must stay silent, written against either profile's timing.

Inputs are realistic series (the labels service discovery and the exporters really attach); expected
descriptions are written out here by hand, so a test proves what on-call will read, not merely that
the template renders to itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from alerts import platform as pl
from alerts.profiles import TRANSITION_STATES, AlertProfile
from exporters import contract as c
from foundation.deployment import Links
from foundation.durations import format_duration as d
from foundation.promql import UP, Selector

ORCH = {"job": c.JOB_ORCHESTRATOR, "instance": "127.0.0.1:9101"}
GW = {"job": c.JOB_GATEWAY, "instance": "127.0.0.1:9102"}


def node(engine: str, cluster: str, n: str, port: int) -> dict[str, str]:
    """A node target's labels, as file_sd attaches them."""
    return {"job": c.JOB_NODE, "instance": f"127.0.0.1:{port}", "engine": engine, "cluster": cluster,
            "node": n, "pod": f"{engine}-{cluster}-{n}", "version": "v1"}


def series(metric: c.Metric | str, labels: dict[str, str], values: str) -> dict[str, str]:
    name = metric if isinstance(metric, str) else metric.name
    return {"series": Selector.series(name, labels).promql(), "values": values}


def hold(value: float | str, samples: int) -> str:
    """``samples`` samples of ``value`` in promtool's expanding notation."""
    return str(value) if samples == 1 else f"{value}x{samples - 1}"


def ramp(start: float, step: float, samples: int) -> str:
    return f"{start:g}+{step:g}x{samples - 1}"


@dataclass(frozen=True)
class Expected:
    labels: dict[str, str]
    description: str
    severity: str | None = None  # None: the rule's (one rule per alert); set where rules of one alert differ


@dataclass(frozen=True)
class Case:
    alert: str
    title: str
    input_series: list[dict[str, str]]
    eval_at: int  # seconds
    expected: list[Expected] = field(default_factory=list)
    # When the condition has held for one interval less than ``for:``: nothing may fire yet.
    quiet_at: int | None = None

    @property
    def fires(self) -> bool:
        return bool(self.expected)


CaseBuilder = Callable[[AlertProfile], list[Case]]


def node_down(p: AlertProfile) -> list[Case]:
    i, k = p.interval, p.node_down_for // p.interval
    down_at = 5  # samples of health before the fault
    total = down_at + k + 10
    eval_at = (down_at + k + 2) * i
    ready = [series(c.ENGINE_POD_READY, {**ORCH, "engine": "sales", "cluster": cl, "pod": f"sales-{cl}-{n}"},
                    hold(1, total)) for cl, n in (("c1", "n1"), ("c1", "n2"), ("c2", "n1"))]
    fire = Case(pl.ENGINE_NODE_DOWN, "one node hung (scrapes fail), one killed (its target is gone)", [
        *ready,
        series(UP, node("sales", "c1", "n1", 9001), f"{hold(1, down_at)} {hold(0, total - down_at)}"),
        series(UP, node("sales", "c1", "n2", 9002), hold(1, total)),
        series(UP, node("sales", "c2", "n1", 9003), f"{hold(1, down_at)} stale"),
    ], eval_at, [
        Expected({"engine": "sales", "cluster": "c1", "pod": "sales-c1-n1"}, _node_down_text(p, "sales-c1-n1", "c1")),
        Expected({"engine": "sales", "cluster": "c2", "pod": "sales-c2-n1"}, _node_down_text(p, "sales-c2-n1", "c2")),
    ], quiet_at=(down_at + k - 1) * i)
    short = k - 1  # failed scrapes in a row: fewer than the bound
    silent = Case(pl.ENGINE_NODE_DOWN, "a scrape hiccup shorter than the bound; a drained pod is gone for good", [
        ready[0], ready[1],
        series(c.ENGINE_POD_READY, {**ORCH, "engine": "sales", "cluster": "c2", "pod": "sales-c2-n1"},
               f"{hold(1, down_at)} stale"),
        series(UP, node("sales", "c1", "n1", 9001),
               f"{hold(1, down_at)} {hold(0, short)} {hold(1, total - down_at - short)}"),
        series(UP, node("sales", "c1", "n2", 9002), hold(1, total)),
        series(UP, node("sales", "c2", "n1", 9003), f"{hold(1, down_at)} stale"),
    ], eval_at)
    return [fire, silent]


def _node_down_text(p: AlertProfile, pod: str, cluster: str) -> str:
    return (f"Pod {pod} of engine sales, cluster {cluster}, runs according to the orchestrator but its node has "
            f"not answered a scrape for {d(p.node_down_for)}: it is down, hung or restarting, and its cluster "
            "serves with one node less.")


def crash_looping(p: AlertProfile) -> list[Case]:
    i = p.interval
    before = p.crashloop_window // i + 5  # zeros for more than a window: the counter existed before
    after = (p.crashloop_for + p.crashloop_window) // i
    eval_at = (before + 3 + p.crashloop_for // i + 1) * i

    def restarts(pod: str, reason: str, values: str) -> dict[str, str]:
        return series(c.ENGINE_POD_RESTARTS, {**ORCH, "engine": "sales", "cluster": "c1", "pod": pod,
                                              "reason": reason}, values)

    def stepping(count: int) -> str:
        steps = " ".join(str(n) for n in range(1, count + 1))
        return f"{hold(0, before)} {steps} {hold(count, after)}"

    requested = restarts("sales-c1-n2", "requested", stepping(5))
    fire = Case(pl.ENGINE_POD_CRASH_LOOPING, "killed three times in a row; restarts on request do not count", [
        restarts("sales-c1-n1", "killed", stepping(3)), requested,
    ], eval_at, [Expected(
        {"engine": "sales", "cluster": "c1", "pod": "sales-c1-n1"},
        f"Pod sales-c1-n1 of engine sales, cluster c1, was restarted 3 times in the last {d(p.crashloop_window)}: "
        "it crashes, is killed or fails its liveness probe, and each restart fails its in-flight queries.")],
        quiet_at=(before + 2) * i + p.crashloop_for - i if p.crashloop_for else None)
    silent = Case(pl.ENGINE_POD_CRASH_LOOPING, "two restarts are not a loop; five requested restarts are not either",
                  [restarts("sales-c1-n1", "killed", stepping(2)), requested], eval_at)
    return [fire, silent]


_STUCK_TEXT = {
    "STARTING": "its pods may never become ready (bad version, storage, ports)",
    "RESIZING": "new clusters or nodes may never become ready, or an upgrade's green clusters hang",
    "DRAINING": "in-flight queries or a pod that ignores SIGTERM may hold the drain",
}


def stuck(state: str) -> CaseBuilder:
    def build(p: AlertProfile) -> list[Case]:
        i, k = p.interval, p.stuck_for[state] // p.interval
        total = k + 10
        eval_at = (k + 2) * i

        def state_series(engine: str, values: str) -> dict[str, str]:
            return series(c.ENGINE_STATE, {**ORCH, "engine": engine, "state": state}, values)

        short = f"{hold(1, k - 1)} {hold(0, total - k + 1)}"  # left the state just before the bound
        name = pl.ENGINE_STUCK[state]
        fire = Case(name, f"sales stays {state}; analytics leaves it in time", [
            state_series("sales", hold(1, total)), state_series("analytics", short),
        ], eval_at, [Expected({"engine": "sales"}, (
            f"Engine sales has been {state} for more than {d(p.stuck_for[state])}: {_STUCK_TEXT[state]}; "
            "no other operation can run on it until this one ends."))], quiet_at=(k - 1) * i)
        silent = Case(name, f"sales leaves {state} just before the bound", [state_series("sales", short)], eval_at)
        return [fire, silent]

    return build


def no_healthy_upstream(p: AlertProfile) -> list[Case]:
    i, k = p.interval, p.no_upstream_for // p.interval
    total = k + 10
    eval_at = (2 + k + 2) * i
    down = f"{hold(1, 2)} {hold(0, total - 2)}"

    def up(engine: str, cluster: str, n: str, values: str) -> dict[str, str]:
        return series(c.GATEWAY_UPSTREAM_UP, {**GW, "engine": engine, "cluster": cluster, "node": n}, values)

    def state(engine: str, s: str, values: str) -> dict[str, str]:
        return series(c.ENGINE_STATE, {**ORCH, "engine": engine, "state": s}, values)

    text = ("The gateway has had no healthy upstream node for engine {engine} for "
            f"{d(p.no_upstream_for)}: every query to it fails with 503 unavailable.")
    fire = Case(pl.GATEWAY_NO_HEALTHY_UPSTREAM, "sales: every upstream ejected; analytics: the gateway lost them", [
        up("sales", "c1", "n1", down), up("sales", "c2", "n1", down),
        up("analytics", "c1", "n1", f"{hold(1, 2)} stale"),
        state("sales", "RUNNING", hold(1, total)), state("analytics", "RUNNING", hold(1, total)),
    ], eval_at, [Expected({"engine": "analytics"}, text.format(engine="analytics")),
                 Expected({"engine": "sales"}, text.format(engine="sales"))], quiet_at=(2 + k - 1) * i)
    silent = Case(pl.GATEWAY_NO_HEALTHY_UPSTREAM, "one healthy node is enough; a starting engine is not serving", [
        up("sales", "c1", "n1", down), up("sales", "c2", "n1", hold(1, total)),
        state("sales", "RUNNING", hold(1, total)),
        state("analytics", "RUNNING", hold(0, total)), state("analytics", "STARTING", hold(1, total)),
    ], eval_at)
    return [fire, silent]


def failover_storm(p: AlertProfile) -> list[Case]:
    i = p.interval
    total = (p.failover_window + p.failover_for) // i + 10
    eval_at = (p.failover_window + p.failover_for) // i * i + 2 * i

    def failovers(engine: str, per_second: float) -> dict[str, str]:
        return series(c.GATEWAY_FAILOVERS, {**GW, "engine": engine}, ramp(0, per_second * i, total))

    storm = 2 * p.failover_rate
    fire = Case(pl.GATEWAY_FAILOVER_STORM, "sales fails over at twice the bound; analytics at half", [
        failovers("sales", storm), failovers("analytics", p.failover_rate / 2),
    ], eval_at, [Expected({"engine": "sales"}, (
        f"The gateway failed over {storm:g} queries per second of engine sales in the last {d(p.failover_window)} "
        f"(bound {p.failover_rate:g}/s): nodes fail queries or are ejected, and clients see retries and higher "
        "latency."))],
        # rate() divides by the whole window, so at twice the bound it crosses the bound half a window in.
        quiet_at=p.failover_window // 2 + p.failover_for)
    silent = Case(pl.GATEWAY_FAILOVER_STORM, "failovers at half the bound",
                  [failovers("sales", p.failover_rate / 2)], eval_at)
    return [fire, silent]


def slots_saturated(p: AlertProfile) -> list[Case]:
    i = p.interval
    total = p.slots_for // i + 10
    eval_at = (p.slots_for // i + 2) * i

    def node_series(metric: c.Metric, cluster: str, n: str, port: int, value: int) -> dict[str, str]:
        return series(metric, node("analytics", cluster, n, port), hold(value, total))

    slots = [node_series(c.QUERY_SLOTS, cl, n, port, 2)
             for cl, n, port in (("c1", "n1", 9001), ("c1", "n2", 9002), ("c2", "n1", 9003), ("c2", "n2", 9004))]
    fire = Case(pl.ENGINE_QUERY_SLOTS_SATURATED, "every slot of c1 busy; c2 half busy", [
        *slots,
        node_series(c.RUNNING_QUERIES, "c1", "n1", 9001, 2), node_series(c.RUNNING_QUERIES, "c1", "n2", 9002, 2),
        node_series(c.RUNNING_QUERIES, "c2", "n1", 9003, 1), node_series(c.RUNNING_QUERIES, "c2", "n2", 9004, 1),
    ], eval_at, [Expected({"engine": "analytics", "cluster": "c1"}, (
        f"Cluster c1 of engine analytics has used 100% of its query slots for {d(p.slots_for)}: new queries "
        "wait in the queue, then fail as overloaded."))], quiet_at=p.slots_for - i)
    silent = Case(pl.ENGINE_QUERY_SLOTS_SATURATED, "three of four slots busy", [
        *slots[:2],
        node_series(c.RUNNING_QUERIES, "c1", "n1", 9001, 2), node_series(c.RUNNING_QUERIES, "c1", "n2", 9002, 1),
    ], eval_at)
    return [fire, silent]


def queue_growing(p: AlertProfile) -> list[Case]:
    i = p.interval
    samples = (p.queue_window + p.queue_for) // i + 2
    total = samples + 10
    eval_at = samples * i
    queued = c.QUEUED_QUERIES
    fire = Case(pl.ENGINE_QUEUE_GROWING, "one more query queued at every scrape", [
        series(queued, node("sales", "c1", "n1", 9001), ramp(0, 1, total)),
        series(queued, node("sales", "c1", "n2", 9002), hold(0, total)),
    ], eval_at, [Expected({"engine": "sales", "cluster": "c1"}, (
        f"{samples} queries wait for a slot in cluster c1 of engine sales, and the queue has kept growing for "
        f"{d(p.queue_for)}: arrivals outpace the slots, and once the queue is full queries fail as overloaded."))],
        quiet_at=p.queue_for)
    silent = Case(pl.ENGINE_QUEUE_GROWING, "a steady queue of five is not growing", [
        series(queued, node("sales", "c1", "n1", 9001), hold(5, total)),
    ], eval_at)
    return [fire, silent]


def memory_saturation(p: AlertProfile) -> list[Case]:
    i = p.interval
    total = p.memory_for // i + 10
    eval_at = (p.memory_for // i + 2) * i
    limit = 1_000_000_000

    def node_memory(n: str, port: int, used: int) -> list[dict[str, str]]:
        labels = node("sales", "c1", n, port)
        return [series(c.MEMORY_USED, labels, hold(used, total)), series(c.MEMORY_LIMIT, labels, hold(limit, total))]

    fire = Case(pl.ENGINE_MEMORY_SATURATION, "n1 at 95% of its limit; n2 at 50%", [
        *node_memory("n1", 9001, 950_000_000), *node_memory("n2", 9002, 500_000_000),
    ], eval_at, [Expected({"engine": "sales", "cluster": "c1", "node": "n1", "pod": "sales-c1-n1"}, (
        f"Node sales-c1-n1 of engine sales has used 95% of its memory limit for {d(p.memory_for)}: its queries "
        "spill to disk or fail with oom."))], quiet_at=p.memory_for - i)
    silent = Case(pl.ENGINE_MEMORY_SATURATION, "85% is below the bound", node_memory("n1", 9001, 850_000_000),
                  eval_at)
    return [fire, silent]


def query_running_too_long(p: AlertProfile) -> list[Case]:
    i = p.interval
    bound = int(p.long_query_s)
    fires_at = bound // i + 1 + p.long_query_for // i  # samples: first above the bound, then held for `for:`
    eval_at = (fires_at + 1) * i
    total = fires_at + 10
    short = bound // i  # samples of a query that ends at the bound: 0, i, ..., bound - i, then a new one
    fire = Case(pl.ENGINE_QUERY_RUNNING_TOO_LONG, "a scan on n1 runs on and on; n2 serves short queries", [
        series(c.OLDEST_RUNNING_QUERY, node("sales", "c1", "n1", 9001), ramp(0, i, total)),
        series(c.OLDEST_RUNNING_QUERY, node("sales", "c1", "n2", 9002), hold(0.2, total)),
    ], eval_at, [Expected({"engine": "sales", "cluster": "c1", "node": "n1", "pod": "sales-c1-n1"}, (
        f"The longest query on node sales-c1-n1 of engine sales, cluster c1, has been executing for {eval_at}s "
        f"(bound {p.long_query_s:g}s): it holds a query slot that other queries queue for. `enginewatch queries "
        "--engine sales --running` names it; `enginewatch queries kill ID` cancels it."))],
        quiet_at=(fires_at - 1) * i)
    silent = Case(pl.ENGINE_QUERY_RUNNING_TOO_LONG, "queries one after another, each ending below the bound", [
        series(c.OLDEST_RUNNING_QUERY, node("sales", "c1", "n1", 9001),
               " ".join(ramp(0, i, short) for _ in range(total // short + 1))),
    ], eval_at)
    return [fire, silent]


def latency_outlier(p: AlertProfile) -> list[Case]:
    """One slow node per cluster, each caught by another view of the alert; and fleets that only look slow."""
    i, n, k = p.interval, p.outlier_window // p.interval, p.outlier_for // p.interval
    start = n + 5  # a whole healthy window before the fault: every rate is defined from the start
    total = start + n + k + 10
    eval_at = (start + n + k + 2) * i  # a whole window into the fault, and `for:` on top

    def two_speeds(before: float, after: float, per_sample: float) -> str:
        """A histogram ``_sum`` whose observations take ``before`` seconds, then ``after`` from ``start``."""
        a, b = before * per_sample, after * per_sample
        return f"{ramp(0, a, start)} {ramp((start - 1) * a + b, b, total - start)}"

    def probes(engine: str, cluster: str, n_: str, before: float, after: float) -> list[dict[str, str]]:
        labels = {**GW, "engine": engine, "cluster": cluster, "node": n_, "pod": f"{engine}-{cluster}-{n_}"}
        per_sample = 5 * i  # the gateway checks every node five times a second
        return [series(c.GATEWAY_PROBE_DURATION.count, labels, ramp(0, per_sample, total)),
                series(c.GATEWAY_PROBE_DURATION.sum, labels, two_speeds(before, after, per_sample))]

    def lookups(engine: str, cluster: str, n_: str, port: int, before: float, after: float) -> list[dict[str, str]]:
        labels = {**node(engine, cluster, n_, port), "kind": "lookup", "status": "ok"}
        return [series(c.QUERY_DURATION.count, labels, ramp(0, i, total)),
                series(c.QUERY_DURATION.sum, labels, two_speeds(before, after, i))]

    def flapping(out: int, back: int) -> str:
        """From ``start`` on: ejected for ``out`` samples, routable for ``back``, over and over."""
        cycle = " ".join([hold(1, out), hold(0, back)])
        return " ".join([cycle] * ((total - start) // (out + back) + 1))

    def ejected(engine: str, cluster: str, n_: str, values: str) -> dict[str, str]:
        return series(c.GATEWAY_UPSTREAM_EJECTED, {**GW, "engine": engine, "cluster": cluster, "node": n_,
                                                   "pod": f"{engine}-{cluster}-{n_}", "reason": "latency"}, values)

    def throttling(engine: str, cluster: str, n_: str, port: int, share: float) -> list[dict[str, str]]:
        # No quota before the fault: the kernel counts no periods at all until one is set.
        labels = node(engine, cluster, n_, port)
        return [series(c.CPU_PERIODS, labels, f"{hold(0, start)} {ramp(10 * i, 10 * i, total - start)}"),
                series(c.CPU_THROTTLED_PERIODS, labels,
                       f"{hold(0, start)} {ramp(10 * share * i, 10 * share * i, total - start)}")]

    def text(engine: str, cluster: str, pod: str) -> str:
        return (f"Node {pod} of engine {engine}, cluster {cluster}, has answered far more slowly than its cluster "
                f"peers for {d(p.outlier_for)}: the gateway holds it out of routing as a latency outlier, its health "
                f"checks or lookups take over {p.outlier_ratio:g} times those of the fastest peer, or its CPU quota "
                f"throttled it in over {p.outlier_throttled_ratio:.0%} of its periods. Its cluster serves with less "
                "capacity and its queries are slow: it may be CPU throttled, starved, partitioned or reading slow "
                "storage.")

    def expected(engine: str, cluster: str) -> Expected:
        pod = f"{engine}-{cluster}-n1"
        return Expected({"engine": engine, "cluster": cluster, "node": "n1", "pod": pod}, text(engine, cluster, pod))

    fire = Case(pl.ENGINE_NODE_LATENCY_OUTLIER,
                "sales c1: held out by the gateway 2/3 of the time; analytics c1: checks 6.25x the peer's; sales c2: "
                "lookups 7.5x; analytics c2: throttled in 60% of periods", [
                    # Out two thirds of the time: readmitted after each back-off, ejected again.
                    ejected("sales", "c1", "n1", f"{hold(0, start)} {flapping(2, 1)}"),
                    ejected("sales", "c1", "n2", hold(0, total)),
                    *probes("analytics", "c1", "n1", 0.004, 0.025), *probes("analytics", "c1", "n2", 0.004, 0.004),
                    *lookups("sales", "c2", "n1", 9001, 0.02, 0.15), *lookups("sales", "c2", "n2", 9002, 0.02, 0.02),
                    *throttling("analytics", "c2", "n1", 9003, 0.6),
                ], eval_at,
                [expected("analytics", "c1"), expected("analytics", "c2"), expected("sales", "c1"),
                 expected("sales", "c2")],
                # The throttling view holds from the fault's first sample on: nothing fires before `for:`.
                quiet_at=(start + k - 1) * i)
    silent = Case(pl.ENGINE_NODE_LATENCY_OUTLIER,
                  "held out 2/5 of the time; slow checks under the floor, 4x the peer's, or without a peer; "
                  "lookups under the floor; throttled in 40% of periods", [
                      ejected("sales", "c1", "n1", f"{hold(0, start)} {flapping(2, 3)}"),
                      *probes("analytics", "c1", "n1", 0.002, 0.015), *probes("analytics", "c1", "n2", 0.002, 0.002),
                      *probes("analytics", "c2", "n1", 0.002, 0.2), *probes("analytics", "c2", "n2", 0.002, 0.05),
                      *probes("analytics", "c3", "n1", 0.002, 0.3),
                      *lookups("sales", "c2", "n1", 9001, 0.01, 0.09), *lookups("sales", "c2", "n2", 9002, 0.01, 0.01),
                      *throttling("sales", "c3", "n1", 9003, 0.4),
                  ], eval_at)
    # The evidence ends (throttled, then ejected and idle: no CPU periods at all): the alert keeps firing
    # for `keep_firing_for` after its condition stops holding, then resolves.
    end = start + n + k + 2
    # The first sample whose window holds no ratio any more: each ratio needs an increment in its range.
    gone = end + (p.outlier_throttled_range + p.outlier_window) // i + 1
    kept = gone + p.outlier_keep_firing_for // i + 2
    def then_idle(per_sample: int) -> str:
        return (f"{hold(0, start)} {ramp(per_sample, per_sample, end - start)} "
                f"{hold(per_sample * (end - start), kept + 5 - end)}")

    idle = [series(c.CPU_PERIODS, node("analytics", "c2", "n1", 9003), then_idle(10 * i)),
            series(c.CPU_THROTTLED_PERIODS, node("analytics", "c2", "n1", 9003), then_idle(9 * i))]
    held = Case(pl.ENGINE_NODE_LATENCY_OUTLIER, "throttled, then idle: still firing within keep_firing_for",
                idle, (gone + p.outlier_keep_firing_for // i // 2) * i, [expected("analytics", "c2")])
    resolved = Case(pl.ENGINE_NODE_LATENCY_OUTLIER, "throttled, then idle: resolved after keep_firing_for",
                    idle, kept * i)
    return [fire, silent, held, resolved]


def target_absent(p: AlertProfile) -> list[Case]:
    i = p.interval
    total = p.absent_for // i + 10
    eval_at = (p.absent_for // i + 2) * i
    jobs = list(pl.ABSENT_SEVERITY)

    def up(job: str) -> dict[str, str]:
        return series(UP, {"job": job, "instance": f"127.0.0.1:{9000 + jobs.index(job)}"}, hold(1, total))

    fire = Case(pl.EXPORTER_TARGET_ABSENT, "only the engine nodes are scraped", [up(c.JOB_NODE)], eval_at, [
        Expected({"job": job}, (f"Prometheus has had no scrape target for job {job} for {d(p.absent_for)}: every "
                                "alert and dashboard built on its metrics is blind."),
                 severity="info" if job == c.JOB_SLO_SERVICE else "critical")
        for job in jobs if job != c.JOB_NODE], quiet_at=p.absent_for - i)
    silent = Case(pl.EXPORTER_TARGET_ABSENT, "every job has a target", [up(job) for job in jobs], eval_at)
    return [fire, silent]


BUILDERS: tuple[CaseBuilder, ...] = (
    node_down, crash_looping, *(stuck(s) for s in TRANSITION_STATES), no_healthy_upstream, failover_storm,
    slots_saturated, queue_growing, memory_saturation, query_running_too_long, latency_outlier, target_absent,
)


def cases(profile: AlertProfile) -> list[Case]:
    return [case for build in BUILDERS for case in build(profile)]


def expected_dashboard_url(links: Links, uid: str, labels: dict[str, str]) -> str:
    params = "&".join(f"var-{k}={labels[k]}" for k in ("engine", "cluster") if k in labels)
    return f"{links.grafana_url.rstrip('/')}/d/{uid}" + (f"?{params}" if params else "")
