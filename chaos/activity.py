"""Actions: the faults a method step injects, each verified on the platform before it counts.

Chaos Toolkit runs an action and moves on whatever happened; here a signal that was refused, a pod
that was already gone or a process that kept running makes ``Fault.injected`` false, and the runner
fails the experiment ("fault not injected") instead of letting a no-op pass as resilience.

Faults that last (a paused pod, a sustained kill, a cgroup, a netfilter rule, a stress-ng, a storage
latency) register their undo with the context before they are applied, and the runner's rollbacks run
every undo whatever happens next: success, failure, abort or Ctrl-C.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos import selector
from chaos.backend import BackendError, ChaosBackend, PodFault, PodInfo
from chaos.blast import live_problems
from chaos.experiment import BlastRadius, Step, Stress
from chaos.fault import Fault

#: How long a signal's effect may take to show (the kernel reaps, the supervisor notices).
VERIFY_TIMEOUT_S = 5.0
POLL_S = 0.02
#: How often a lasting pod fault looks for a restarted process of its pods to follow.
FOLLOW_S = 0.2
MIB = 1024 * 1024


class BlastRadiusExceeded(RuntimeError):
    pass


@dataclass
class Context:
    backend: ChaosBackend
    blast_radius: BlastRadius
    seed: int = 42
    stop: threading.Event = field(default_factory=threading.Event)
    #: Undo callbacks of lasting faults, newest last; rollbacks run them all, newest first.
    undo: list[tuple[str, Callable[[], str]]] = field(default_factory=list)
    log: Callable[[str], None] = lambda _msg: None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Pods to pick last (a repeated step's latest targets): repetitions spread over the pods.
    avoid: frozenset[str] = frozenset()

    def register_undo(self, name: str, fn: Callable[[], str]) -> None:
        with self.lock:
            self.undo.append((name, fn))


Action = Callable[[Context, Step, Fault], None]


def new_fault(step: Step) -> Fault:
    """The fault a step is about to inject, before anything happened."""
    return Fault(step.index, step.action, step.target.engine, step.target.describe(), step.at_s)


def run_step(ctx: Context, step: Step, fault: Fault | None = None) -> Fault:
    """Inject one step's fault into ``fault`` (a new one by default: the caller may watch it as it is
    filled in); never raises for a platform refusal (the Fault says it)."""
    fault = fault if fault is not None else new_fault(step)
    try:
        ACTIONS[step.action](ctx, step, fault)
    except (BackendError, selector.NoTarget, BlastRadiusExceeded, TimeoutError) as e:
        fault.error = str(e)
        fault.injected = False
    if not fault.ts:
        fault.ts = time.time()
    return fault


# --- helpers ---------------------------------------------------------------------------------------------

def _wait(predicate: Callable[[], bool], timeout: float = VERIFY_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def _gone(ctx: Context, pid: int) -> bool:
    return ctx.backend.process_status(pid) is None


def _stopped(ctx: Context, pid: int) -> bool:
    return ctx.backend.process_status(pid) == "stopped"


def _exited(ctx: Context, pod: str, since: int) -> bool:
    return _exit_event(ctx, pod, since) is not None


def _exit_event(ctx: Context, pod: str, since: int) -> dict[str, Any] | None:
    for e in ctx.backend.events(since):
        if e.get("kind") == "pod_exited" and e.get("pod") == pod:
            return e
    return None


def _signal_event_ts(ctx: Context, pod: str, since: int) -> float | None:
    for e in ctx.backend.events(since):
        if e.get("kind") == "pod_signaled" and e.get("pod") == pod:
            return float(e["ts"])
    return None


def _in_flight(ctx: Context, pod: str) -> int | None:
    status = ctx.backend.node_status(pod)
    if status is None:
        return None
    return int(status.get("running", 0) or 0) + int(status.get("queued", 0) or 0)


def _pick_pods(ctx: Context, step: Step, fault: Fault) -> list[PodInfo]:
    """Select the step's pods and record their in-flight queries (the caller signals right after).

    With ``busy``, wait (bounded) until a chosen pod has that many queries in flight at the moment it
    is read, so that the fault meets work rather than an idle node.
    """
    target = step.target
    deadline = time.monotonic() + (target.busy.wait_s if target.busy else 0.0)
    while True:
        pods = ctx.backend.pods()
        prefer = None
        if target.busy is not None:
            prefer = {p.pod: float(_in_flight(ctx, p.pod) or 0) for p in selector.candidates(target, pods)}
        if ctx.avoid:
            prefer = {p.pod: (prefer or {}).get(p.pod, 0.0) - (1e9 if p.pod in ctx.avoid else 0.0)
                      for p in selector.candidates(target, pods)}
        chosen = selector.select_pods(target, pods, ctx.seed + step.index, prefer)
        fault.in_flight = {p.pod: n for p in chosen if (n := _in_flight(ctx, p.pod)) is not None}
        if target.busy is None or max(fault.in_flight.values(), default=0) >= target.busy.min_in_flight \
                or time.monotonic() >= deadline or ctx.stop.is_set():
            break
        time.sleep(0.05)
    if target.busy is not None and max(fault.in_flight.values(), default=0) < target.busy.min_in_flight:
        fault.evidence.append(f"no candidate had {target.busy.min_in_flight} queries in flight within "
                              f"{target.busy.wait_s:g}s: hit anyway")
    problems = live_problems(target.engine, pods, [p.pod for p in chosen], ctx.blast_radius, step.action)
    if problems:
        raise BlastRadiusExceeded("; ".join(problems))
    return chosen


def _kill(ctx: Context, fault: Fault, pods: list[PodInfo], since: int) -> None:
    """SIGKILL each pod; injected when every signaled process is gone and its exit was seen."""
    fault.pods = tuple(p.pod for p in pods)
    fault.ts = time.time()
    for p in pods:
        fault.pids[p.pod] = ctx.backend.signal(p.pod, "KILL")
    fault.ts = min((t for p in pods if (t := _signal_event_ts(ctx, p.pod, since))), default=fault.ts)
    ok = True
    for pod, pid in fault.pids.items():
        gone = _wait(functools.partial(_gone, ctx, pid))
        exited = None
        if gone:
            _wait(functools.partial(_exited, ctx, pod, since), 2.0)
            exited = _exit_event(ctx, pod, since)
        if gone and exited is not None:
            fault.evidence.append(f"{pod}: pid {pid} gone, exit status {exited.get('returncode')}")
        else:
            ok = False
            fault.evidence.append(f"{pod}: pid {pid} " + ("still running" if not gone else "gone, but no exit event"))
    fault.injected = ok
    if not ok:
        fault.error = "SIGKILL sent but the process did not end"


def _sustain_kills(ctx: Context, step: Step, fault: Fault) -> None:
    """Keep the pods down for ``duration_s``: each process the orchestrator restarts is killed again."""
    assert step.duration_s is not None
    stop = threading.Event()
    end = fault.ts + step.duration_s
    killed: set[int] = set(fault.pids.values())
    rekills: list[dict[str, Any]] = []

    def loop() -> None:
        while not stop.is_set() and not ctx.stop.is_set() and time.time() < end:
            for p in ctx.backend.pods():
                if p.pod in fault.pods and p.pid is not None and p.pid not in killed:
                    try:
                        ctx.backend.signal(p.pod, "KILL")
                        killed.add(p.pid)
                        rekills.append({"pod": p.pod, "pid": p.pid, "ts": time.time()})
                    except BackendError:
                        pass  # it ended by itself in between: down is down
            stop.wait(0.05)
        fault.lifted_ts = min(time.time(), end) if fault.lifted_ts is None else fault.lifted_ts

    thread = threading.Thread(target=loop, name=f"chaos-sustain-{step.index}", daemon=True)

    def undo() -> str:
        stop.set()
        thread.join(5)
        fault.detail["rekills"] = rekills
        return f"sustained kill of {', '.join(fault.pods)} stopped after {len(rekills)} re-kill(s)"

    ctx.register_undo(f"stop sustained kill (step {step.index})", undo)
    thread.start()
    fault.detail["duration_s"] = step.duration_s
    fault.detail["rekills"] = rekills


# --- actions ---------------------------------------------------------------------------------------------

def kill_pod(ctx: Context, step: Step, fault: Fault) -> None:
    since = ctx.backend.last_event_seq()
    pods = _pick_pods(ctx, step, fault)
    _kill(ctx, fault, pods, since)
    if fault.injected and step.duration_s:
        _sustain_kills(ctx, step, fault)


def kill_cluster(ctx: Context, step: Step, fault: Fault) -> None:
    since = ctx.backend.last_event_seq()
    all_pods = ctx.backend.pods()
    clusters = selector.select_clusters(step.target, all_pods, ctx.seed + step.index)
    pods = [p for p in all_pods if p.engine == step.target.engine and p.cluster in clusters and p.pid]
    problems = live_problems(step.target.engine, all_pods, [p.pod for p in pods], ctx.blast_radius, step.action)
    if problems:
        raise BlastRadiusExceeded("; ".join(problems))
    fault.clusters = tuple(clusters)
    fault.in_flight = {p.pod: n for p in pods if (n := _in_flight(ctx, p.pod)) is not None}
    _kill(ctx, fault, pods, since)
    if fault.injected and step.duration_s:
        _sustain_kills(ctx, step, fault)


def terminate_pod(ctx: Context, step: Step, fault: Fault) -> None:
    """SIGTERM: the node drains by itself. Injected once it stops being ready or has exited."""
    since = ctx.backend.last_event_seq()
    pods = _pick_pods(ctx, step, fault)
    fault.pods = tuple(p.pod for p in pods)
    fault.ts = time.time()
    for p in pods:
        fault.pids[p.pod] = ctx.backend.signal(p.pod, "TERM")
    fault.ts = min((t for p in pods if (t := _signal_event_ts(ctx, p.pod, since))), default=fault.ts)
    fault.detail["urls"] = {p.pod: p.url for p in pods}
    ok = True
    for p in pods:
        pid = fault.pids[p.pod]

        def draining_or_gone(p: PodInfo = p, pid: int = pid) -> bool:
            if ctx.backend.process_status(pid) is None:
                return True
            status = ctx.backend.node_status(p.pod)
            return status is not None and status.get("state") in ("DRAINING", "STOPPING", "STOPPED")

        if _wait(draining_or_gone, 3.0):
            state = "gone" if ctx.backend.process_status(pid) is None else "draining"
            fault.evidence.append(f"{p.pod}: pid {pid} {state} after SIGTERM")
        else:
            ok = False
            fault.evidence.append(f"{p.pod}: pid {pid} neither draining nor gone 3 s after SIGTERM")
    fault.injected = ok
    if not ok:
        fault.error = "SIGTERM sent but no node started draining"


def pause_pod(ctx: Context, step: Step, fault: Fault) -> None:
    """SIGSTOP for ``duration_s``, then SIGCONT to the same process (a hung node that comes back)."""
    assert step.duration_s is not None
    since = ctx.backend.last_event_seq()
    pods = _pick_pods(ctx, step, fault)
    fault.pods = tuple(p.pod for p in pods)
    fault.ts = time.time()
    resumed: set[str] = set()
    lock = threading.Lock()

    def resume(pod: str, pid: int) -> str:
        with lock:
            if pod in resumed:
                return f"{pod}: already resumed"
            resumed.add(pod)
        current = next((p for p in ctx.backend.pods() if p.pod == pod), None)
        if current is None or current.pid != pid:
            # The orchestrator's liveness probe ended the hung process and started a new one: the new
            # one was never stopped, so it must not get our SIGCONT.
            fault.detail.setdefault("ended_while_paused", []).append(pod)
            return f"{pod}: pid {pid} was ended by the orchestrator while paused; nothing to resume"
        try:
            ctx.backend.signal(pod, "CONT")
        except BackendError as e:
            return f"{pod}: SIGCONT refused ({e})"
        _wait(lambda: ctx.backend.process_status(pid) != "stopped", 2.0)
        return f"{pod}: pid {pid} resumed (status {ctx.backend.process_status(pid)})"

    for p in pods:
        pid = ctx.backend.signal(p.pod, "STOP")
        fault.pids[p.pod] = pid
        # Registered at once: even if the next pod's signal fails, this one is resumed.
        ctx.register_undo(f"SIGCONT {p.pod}", functools.partial(resume, p.pod, pid))
    fault.ts = min((t for p in pods if (t := _signal_event_ts(ctx, p.pod, since))), default=fault.ts)
    ok = True
    for pod, pid in fault.pids.items():
        if _wait(functools.partial(_stopped, ctx, pid), 2.0):
            fault.evidence.append(f"{pod}: pid {pid} stopped (SIGSTOP)")
        else:
            ok = False
            fault.evidence.append(f"{pod}: pid {pid} not stopped (status {ctx.backend.process_status(pid)})")
    fault.injected = ok
    if not ok:
        fault.error = "SIGSTOP sent but the process is not stopped"
    fault.detail["duration_s"] = step.duration_s

    def lift() -> None:
        if not ctx.stop.wait(max(0.0, fault.ts + step.duration_s - time.time())):  # type: ignore[operator]
            fault.detail["resume"] = [resume(pod, pid) for pod, pid in fault.pids.items()]
        fault.lifted_ts = time.time()

    threading.Thread(target=lift, name=f"chaos-resume-{step.index}", daemon=True).start()


def drain_engine(ctx: Context, step: Step, fault: Fault) -> None:
    """Rolling graceful drain through the orchestrator: each pod drained, then replaced, in turn."""
    pods = _pick_pods(ctx, step, fault)
    fault.pods = tuple(p.pod for p in pods)
    fault.ts = time.time()
    results = []
    for p in pods:
        if ctx.stop.is_set():
            break
        since = ctx.backend.last_event_seq()
        n = _in_flight(ctx, p.pod)
        if n is not None:
            fault.in_flight[p.pod] = n
        fault.pids[p.pod] = p.pid or 0
        try:
            results.append(ctx.backend.drain_node(p.pod))
        except BackendError as e:
            results.append({"pod": p.pod, "error": str(e)})
        started = [e for e in ctx.backend.events(since) if e.get("kind") == "drain_started" and e.get("pod") == p.pod]
        finished = [e for e in ctx.backend.events(since) if e.get("kind") == "drain_finished" and e.get("pod") == p.pod]
        if started:
            fault.evidence.append(f"{p.pod}: drain started (pid {p.pid})"
                                  + (f", finished exit {finished[0].get('exit_code')} in {finished[0].get('seconds')}s"
                                     if finished else ""))
    fault.detail["operations"] = results
    fault.lifted_ts = time.time()
    fault.injected = len(fault.evidence) == len(pods) and bool(pods)
    if not fault.injected:
        fault.error = "the orchestrator did not start every drain: " + "; ".join(
            str(r.get("error")) for r in results if "error" in r)


def blue_green_upgrade(ctx: Context, step: Step, fault: Fault) -> None:
    """Upgrade through the orchestrator; injected once green serves and every blue process is gone."""
    assert step.version is not None
    engine = step.target.engine
    before = next(e for e in ctx.backend.engines() if e.name == engine)
    blue = [p for p in ctx.backend.pods() if p.engine == engine]
    fault.pods = tuple(p.pod for p in blue)
    fault.pids = {p.pod: p.pid for p in blue if p.pid}
    fault.clusters = before.active_clusters
    fault.detail["from_version"], fault.detail["to_version"] = before.version, step.version
    if before.version == step.version:
        raise BackendError(f"engine {engine!r} already runs {step.version}: there is nothing to upgrade")
    fault.ts = time.time()
    try:
        result = ctx.backend.upgrade(engine, step.version)
    finally:
        fault.lifted_ts = time.time()
    fault.detail["operation"] = result
    after = next(e for e in ctx.backend.engines() if e.name == engine)
    blue_gone = all(ctx.backend.process_status(pid) is None for pid in fault.pids.values())
    switched = not set(after.active_clusters) & set(before.active_clusters)
    fault.evidence.append(f"{engine}: {before.version} -> {after.version}, active clusters "
                          f"{list(before.active_clusters)} -> {list(after.active_clusters)}, "
                          f"blue processes {'gone' if blue_gone else 'still running'}")
    fault.injected = result.get("outcome") == "success" and after.version == step.version and switched and blue_gone
    if not fault.injected:
        fault.error = f"upgrade did not complete: {result.get('error') or fault.evidence[-1]}"


def restart_gateway(ctx: Context, step: Step, fault: Fault) -> None:
    fault.ts = time.time()
    restart = ctx.backend.restart_gateway()
    fault.lifted_ts = time.time()
    fault.detail.update(old_pid=restart.old_pid, new_pid=restart.new_pid, url=restart.url)
    old_gone = restart.old_pid is not None and ctx.backend.process_status(restart.old_pid) is None
    new_alive = restart.new_pid is not None and ctx.backend.process_status(restart.new_pid) is not None
    fault.evidence.append(f"gateway pid {restart.old_pid} {'gone' if old_gone else 'still running'}, "
                          f"new pid {restart.new_pid} {'running' if new_alive else 'not running'}")
    fault.injected = old_gone and new_alive and restart.old_pid != restart.new_pid
    if not fault.injected:
        fault.error = "the gateway was not replaced by a new process"


def _lasting_pod_fault(ctx: Context, step: Step, fault: Fault, apply: Callable[[PodInfo], PodFault]) -> None:
    """Apply a gray fault to each chosen pod, verify it, keep it on restarted processes, lift it after
    ``duration_s`` (or at the rollback, whichever comes first)."""
    assert step.duration_s is not None
    pods = _pick_pods(ctx, step, fault)
    fault.pods = tuple(p.pod for p in pods)
    fault.ts = time.time()
    handles: list[PodFault] = []
    followed: list[dict[str, Any]] = []
    stop = threading.Event()
    lock = threading.Lock()
    lifted: list[str] = []

    def lift() -> str:
        stop.set()
        with lock:
            if not lifted:
                results = [h.lift() for h in reversed(handles)]
                fault.detail["figures"] = {h.pod: h.figures() for h in handles}
                fault.detail["lift"] = results
                fault.lifted_ts = fault.lifted_ts or time.time()
                lifted.append("; ".join(results) or "nothing had been applied")
            return lifted[0]

    # Registered before anything is applied: a pod that fails half-way is lifted with the others.
    ctx.register_undo(f"lift {step.action} (step {step.index})", lift)
    for p in pods:
        handle = apply(p)
        handles.append(handle)
        fault.pids[p.pod] = handle.pid
        fault.detail.setdefault("mechanism", {})[p.pod] = handle.describe()
    fault.detail["duration_s"] = step.duration_s
    fault.detail["params"] = step.params
    fault.detail["followed"] = followed
    problems = []
    for h in handles:
        try:
            fault.evidence += h.verify()
        except BackendError as e:
            problems.append(f"{h.pod}: {e}")
    fault.evidence += problems
    fault.injected = not problems
    if problems:
        fault.error = f"{step.action} applied but not in effect: {'; '.join(problems)}"
        return
    end = fault.ts + step.duration_s

    def follow_and_lift() -> None:
        last: dict[str, str] = {}
        while not stop.wait(FOLLOW_S) and not ctx.stop.is_set() and time.time() < end:
            try:
                current = {p.pod: p for p in ctx.backend.pods()}
            except BackendError:
                continue
            for h in handles:
                p = current.get(h.pod)
                if p is None or p.pid is None or p.pid == h.pid:
                    continue
                try:
                    note = h.follow(p)
                except BackendError as e:
                    note = f"cannot follow pid {p.pid} yet: {e}"
                if note is not None and last.get(h.pod) != note:
                    last[h.pod] = note
                    followed.append({"pod": h.pod, "pid": p.pid, "ts": time.time(), "note": note})
        if not ctx.stop.is_set() and not stop.is_set():
            lift()  # the duration is over; an abort or Ctrl-C leaves it to the rollback, at once

    threading.Thread(target=follow_and_lift, name=f"chaos-follow-{step.index}", daemon=True).start()


def throttle_cpu(ctx: Context, step: Step, fault: Fault) -> None:
    """A CPU quota on the pod's cgroup: the node slows down but keeps answering (a gray failure)."""
    cpus = step.cpus
    assert cpus is not None
    _lasting_pod_fault(ctx, step, fault, lambda p: ctx.backend.throttle_cpu(p.pod, cpus))


def limit_memory(ctx: Context, step: Step, fault: Fault) -> None:
    """A memory cgroup limit: the next query that needs more gets the pod OOM-killed by the kernel.
    With ``query``, the fault sends that query to the limited pod itself (a user's runaway query)."""
    assert step.memory_mb is not None
    limit = step.memory_mb * MIB
    _lasting_pod_fault(ctx, step, fault, lambda p: ctx.backend.limit_memory(p.pod, limit))
    if fault.injected and step.query:
        urls = {p.pod: p.url for p in ctx.backend.pods() if p.pod in fault.pods and p.url}
        fault.detail["runaway_query"] = outcomes = {}
        for pod, url in urls.items():
            threading.Thread(target=_runaway_query, args=(url, step.query, step.duration_s or 30.0, pod, outcomes),
                             name=f"chaos-runaway-{pod}", daemon=True).start()


def _runaway_query(url: str, sql: str, timeout_s: float, pod: str, outcomes: dict[str, str]) -> None:
    # Straight to the node, past the gateway: the gateway would retry it on the next node and kill
    # that one too. Not a client query of the ledger: the verdicts count what the load's clients lost.
    import httpx

    try:
        r = httpx.post(f"{url}/query", json={"sql": sql, "timeout_s": timeout_s}, timeout=timeout_s + 5)
        outcomes[pod] = f"answered HTTP {r.status_code}"
    except httpx.HTTPError as e:
        outcomes[pod] = f"no answer: the node went away under it ({type(e).__name__})"


def partition(ctx: Context, step: Step, fault: Fault) -> None:
    """Netfilter drops (or refuses) the pod's traffic: clients, the gateway and probes alike."""
    reject = bool(step.reject)
    _lasting_pod_fault(ctx, step, fault, lambda p: ctx.backend.partition(p.pod, reject=reject))


def packet_loss(ctx: Context, step: Step, fault: Fault) -> None:
    """Netfilter drops a share of the pod's packets at random: retransmissions, i.e. latency."""
    probability = step.probability
    assert probability is not None
    _lasting_pod_fault(ctx, step, fault, lambda p: ctx.backend.partition(p.pod, probability=probability))


def noisy_neighbor(ctx: Context, step: Step, fault: Fault) -> None:
    """stress-ng workers in the pod's CPU budget, ending by themselves after ``duration_s`` at the latest."""
    stress, duration = step.stress or Stress(), step.duration_s
    assert duration is not None
    _lasting_pod_fault(ctx, step, fault, lambda p: ctx.backend.noisy_neighbor(
        p.pod, stress.kind, stress.workers, stress.vm_mb * MIB, step.cpus or 1.0, duration))


def slow_storage(ctx: Context, step: Step, fault: Fault) -> None:
    """Latency before each object-storage read of the node (in-process: see engines/node/faults.py)."""
    assert step.latency_ms is not None
    latency = step.latency_ms / 1000
    _lasting_pod_fault(ctx, step, fault, lambda p: ctx.backend.slow_storage(p.pod, latency))


ACTIONS: dict[str, Action] = {
    "kill_pod": kill_pod,
    "terminate_pod": terminate_pod,
    "pause_pod": pause_pod,
    "kill_cluster": kill_cluster,
    "drain_engine": drain_engine,
    "blue_green_upgrade": blue_green_upgrade,
    "restart_gateway": restart_gateway,
    "throttle_cpu": throttle_cpu,
    "limit_memory": limit_memory,
    "partition": partition,
    "packet_loss": packet_loss,
    "noisy_neighbor": noisy_neighbor,
    "slow_storage": slow_storage,
}
