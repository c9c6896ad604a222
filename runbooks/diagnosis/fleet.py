"""The orchestrator's view: engines and their clusters, pods, and the timeline of lifecycle events.

This is the truth of what should run, so it also supplies the facts that mitigation commands need
(which clusters are healthy, how many there are, which version ran before an upgrade).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding
from runbooks.diagnosis.words import ago, duration, listing, times

CAPACITY = "Ready nodes per cluster, by the orchestrator"
PODS = "Pods that are not ready"
TIMELINE = "Restarts, exits and probe failures in the orchestrator's events"
OPERATIONS = "Engine states and operations in the orchestrator's events"


def _healthy(engine: dict[str, Any]) -> list[str]:
    return [c["name"] for c in engine["clusters"]
            if c["state"] == "RUNNING" and c["ready_nodes"] >= c["desired_nodes"] > 0]


def _engine_facts(ctx: Context, engines: list[dict[str, Any]]) -> None:
    """Facts of the engine the diagnosis is about: the one named, or the first one in trouble."""
    in_trouble = [e for e in engines if e["state"] != "RUNNING" or e["ready_nodes"] < e["desired_nodes"]]
    ctx.facts.suggest("engine", (in_trouble or engines or [{}])[0].get("name"))
    engine = next((e for e in engines if e["name"] == ctx.facts.get("engine")), None)
    if engine is None:
        return
    healthy = _healthy(engine) or [c["name"] for c in engine["clusters"] if c["ready_nodes"] > 0]
    clusters = engine["desired_clusters"]
    ctx.facts.suggest("healthy_clusters", ",".join(healthy))
    ctx.facts.suggest("clusters", clusters)
    ctx.facts.suggest("clusters_plus_one", min(clusters + 1, engine["max_clusters"]))
    ctx.facts.suggest("nodes_plus_one", engine["nodes_per_cluster"] + 1)
    ctx.facts.suggest("min_clusters", engine["min_clusters"])
    ctx.facts.suggest("previous_version", engine.get("previous_version"))


def _capacity(ctx: Context) -> list[Finding]:
    engines = ctx.engines()
    if ctx.scope.engine and not engines:
        known = listing(e["name"] for e in ctx.all_engines())
        return [Finding("problem", f"the orchestrator knows no engine {ctx.scope.engine!r}; known: {known}",
                        CAPACITY)]
    _engine_facts(ctx, engines)
    found = []
    for e in engines:
        name, clusters = e["name"], [c for c in e["clusters"] if ctx.scope.covers(e["name"], c["name"])]
        trouble = False
        if e["state"] != "RUNNING":
            doing = f" (operation {e['operation']} in progress)" if e.get("operation") else ""
            found.append(Finding("problem", f"engine {name} is {e['state']}{doing}", CAPACITY, name))
            trouble = True
        for c in clusters:
            if c["ready_nodes"] < c["desired_nodes"]:
                found.append(Finding("problem", f"cluster {c['name']} of {name}: {c['ready_nodes']} of "
                                                f"{c['desired_nodes']} nodes ready", CAPACITY, name, c["name"]))
                trouble = True
        active = e.get("active_clusters", [])
        if not trouble:
            ready = sum(c["ready_nodes"] for c in clusters)
            found.append(Finding("ok", f"engine {name} is RUNNING with all {ready} nodes ready in clusters "
                                       f"{listing(c['name'] for c in clusters)}", CAPACITY, name))
        idle = [c["name"] for c in clusters if c["name"] not in active]
        if idle:
            found.append(Finding("info", f"engine {name} routes queries to {listing(active)} only "
                                         f"(not to {listing(idle)})", CAPACITY, name))
    return found


def _pods(ctx: Context) -> list[Finding]:
    pods = ctx.pods()
    found = []
    for p in pods:
        if p["ready"]:
            continue
        restarts = p.get("restarts_by_reason") or {}
        why = ", ".join(f"{reason} {n}" for reason, n in restarts.items() if n)
        history = f"; {times(p.get('restarts', 0))} restarted ({why})" if why else ""
        found.append(Finding("problem", f"pod {p['pod']} (cluster {p['cluster']} of {p['engine']}) is "
                                        f"{p['state']}, not ready{history}", PODS, p["engine"], p["cluster"], p["pod"]))
        ctx.facts.suggest("pod", p["pod"])
    if not found:
        found.append(Finding("ok", f"all {len(pods)} pods are ready", PODS))
    return found


def _timeline(ctx: Context) -> list[Finding]:
    events = ctx.events()
    restarted: dict[str, list[dict[str, Any]]] = defaultdict(list)
    last_probe: dict[str, dict[str, Any]] = {}
    found = []
    for e in events:
        pod = e.get("pod")
        if pod is None:
            continue
        if e["kind"] == "pod_restarted":
            restarted[pod].append(e)
        elif e["kind"] in ("pod_unready", "pod_ready", "pod_started"):
            last_probe[pod] = e
        elif e["kind"] == "pod_signaled":
            signame = "SIG" + str(e.get("signal", "?")).removeprefix("SIG")
            found.append(Finding("info", f"pod {pod} was sent {signame} {ago(e['ts'])}", TIMELINE,
                                 e.get("engine"), e.get("cluster"), pod))
        elif e["kind"] == "pod_unhealthy":
            found.append(Finding("problem", f"pod {pod} failed its liveness probe ({e.get('why', 'no answer')}) "
                                            f"{ago(e['ts'])} and was killed to be restarted", TIMELINE,
                                 e.get("engine"), e.get("cluster"), pod))
    for pod, rs in sorted(restarted.items(), key=lambda kv: -len(kv[1])):
        last = rs[-1]
        found.append(Finding("problem", f"pod {pod} restarted {times(len(rs))} in {ctx.scope.window_text}, last "
                                        f"reason: {last.get('reason')} ({ago(last['ts'])})", TIMELINE,
                             last.get("engine"), last.get("cluster"), pod))
        ctx.facts.suggest("pod", pod)
    for pod, e in last_probe.items():
        if e["kind"] == "pod_unready":
            hung = " — it does not answer at all: hung" if e.get("probe") == "timeout" else ""
            found.append(Finding("problem", f"pod {pod} has failed its readiness probe ({e.get('probe')}) since "
                                            f"{ago(e['ts'])}{hung}", TIMELINE, e.get("engine"), e.get("cluster"), pod))
            ctx.facts.suggest("pod", pod)
    if not found:
        found.append(Finding("ok", f"no pod restarts or probe failures in {ctx.scope.window_text}", TIMELINE))
    return found


def _operations(ctx: Context) -> list[Finding]:
    events = ctx.events()
    now = time.time()
    found = []
    states: dict[str, dict[str, Any]] = {}
    running: dict[str, dict[str, Any]] = {}
    outcomes: Counter[tuple[str, str, str]] = Counter()
    for e in events:
        engine = e.get("engine")
        if engine is None:
            continue
        if e["kind"] == "engine_state":
            states[engine] = e
        elif e["kind"] == "operation_started":
            running[engine] = e
        elif e["kind"] == "operation_finished":
            running.pop(engine, None)
            outcomes[(engine, e.get("operation", "?"), e.get("outcome", "?"))] += 1
            if e.get("outcome") == "failure":
                found.append(Finding("problem", f"operation {e.get('operation')} on {engine} failed "
                                                f"{ago(e['ts'], now)}: {e.get('error', 'no reason given')}",
                                     OPERATIONS, engine))
    for engine, e in states.items():
        if e.get("state") != "RUNNING":
            found.append(Finding("problem", f"engine {engine} has been {e.get('state')} for "
                                            f"{duration(now - e['ts'])}", OPERATIONS, engine))
    for engine, e in running.items():
        found.append(Finding("info", f"operation {e.get('operation')} on {engine} has been running for "
                                     f"{duration(now - e['ts'])}", OPERATIONS, engine))
    done = [f"{op} {outcome} x{n}" for (_, op, outcome), n in sorted(outcomes.items())]
    if done:
        found.append(Finding("info", f"operations in {ctx.scope.window_text}: {', '.join(done)}", OPERATIONS))
    if not found:
        found.append(Finding("ok", f"no engine state changes or operations in {ctx.scope.window_text}", OPERATIONS))
    return found


capacity = Check(CAPACITY, "orchestrator", _capacity)
pods = Check(PODS, "orchestrator", _pods)
timeline = Check(TIMELINE, "orchestrator", _timeline)
operations = Check(OPERATIONS, "orchestrator", _operations)
