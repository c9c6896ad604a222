"""Running an experiment: plan, steady state, load + timed faults + stop conditions, rollbacks, evidence,
verdicts, journal.

The rollbacks run in a ``finally`` with Ctrl-C deferred, so they run after success, failure, an
abort and an interrupt alike (Chaos Toolkit skips them when the hypothesis fails before the method).
An interrupt still writes the journal, then propagates so the caller tears its stack down.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos import scrape, selector
from chaos.abort import AbortMonitor
from chaos.activity import Context, new_fault, run_step
from chaos.backend import ChaosBackend, EngineInfo, PodInfo
from chaos.blast import PlannedFault, plan_problems
from chaos.evidence import AlertWatcher, firing_alerts, gateway_requests, node_executions
from chaos.experiment import PARAMETERS, POD_FAULT_ACTIONS, Experiment, ExperimentError, Step
from chaos.fault import Fault
from chaos.hypothesis import Observation, evaluate
from chaos.journal import Journal
from chaos.rollback import run_rollbacks
from chaos.verdicts import PrometheusBudget, local_page_detection, reconcile
from chaos.verdicts.alerts import DetectionBudget
from exporters import contract as c
from foundation.prometheus import PrometheusClient, PrometheusUnavailable
from foundation.promql import sel
from loadgen.ledger import Ledger
from loadgen.load import LoadGenerator, LoadSpec

STEADY_TIMEOUT_S = 60.0
#: How long a repetition waits for its engine's capacity to come back from the previous one.
REPEAT_RECOVERY_S = 15.0
REPEAT_SEED_STRIDE = 7919


@dataclass
class Platform:
    """Where the experiment runs: the backend for faults, URLs for load and evidence."""

    backend: ChaosBackend
    gateway_url: str
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    grace_s: float = 10.0


@dataclass
class Plan:
    experiment: Experiment
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        """Exactly what a run would do, for --dry-run."""
        exp = self.experiment
        lines = [f"experiment {exp.name} ({exp.source})"]
        load = exp.load
        kinds = ", ".join(load.kinds) if load.kinds else "the default mix"
        engines = ", ".join(load.engines) if load.weights is None else ", ".join(
            f"{e} {load.qps * w / sum(load.weights):.3g}/s" for e, w in zip(load.engines, load.weights, strict=True))
        lines.append(f"load: {load.qps:g} queries/s for {load.duration_s:g}s on {engines} "
                     f"({kinds}; deadline {load.deadline_s:g}s; at most "
                     f"{_max_queries(exp)} queries)")
        for s in self.steps:
            extra = "".join(f", {k} {_shown(s[k])}" for k in ("duration_s", "version", *PARAMETERS)
                            if s.get(k) is not None)
            hits = ", ".join(s["pods"]) if s["pods"] else "-"
            if s.get("repeat", 1) > 1:
                extra += f", {s['repeat']} times, {s['gap_s']:g}s apart after recovery"
            lines.append(f"at +{s['at_s']:g}s: {s['action']} on {s['target']}{extra} -> now would hit: {hits}")
        for cond in exp.abort:
            lines.append(f"abort if: {cond.describe()} (checked every {exp.abort_check_every_s:g}s)")
        gray = " and lift gray faults (remove cgroups and netfilter rules, stop stress-ng, reset storage latency)" \
            if exp.actions & POD_FAULT_ACTIONS else ""
        lines.append(f"rollbacks (always): undo lasting faults (SIGCONT paused pods, stop sustained kills){gray}"
                     + "".join(f"; {r.action}" + (f" {r.engine}" if r.engine else "") for r in exp.rollbacks))
        br = exp.blast_radius
        lines.append(f"blast radius: at most {br.max_pods} pod(s), keep >= {br.min_ready_nodes_per_engine} ready "
                     f"node(s) per engine" + (" (engine outage allowed)" if br.allow_engine_outage else ""))
        lines += [f"problem: {p}" for p in self.problems]
        return lines


def _shown(value: Any) -> str:
    if isinstance(value, dict):  # a nested parameter, e.g. noisy_neighbor's stress
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _max_queries(exp: Experiment) -> int:
    return int(exp.load.qps * exp.load.duration_s * 1.5) + 10


def plan(exp: Experiment, backend: ChaosBackend) -> Plan:
    """Resolve every step against the platform as it is now; problems carry field paths."""
    return plan_against(exp, backend.engines(), backend.pods())


def plan_against(exp: Experiment, engine_list: list[EngineInfo], pods: list[PodInfo]) -> Plan:
    """The plan against a given platform state (live, or a fleet file's for a dry run)."""
    result = Plan(exp)
    engines = {e.name: e for e in engine_list}
    for engine in exp.load.engines:
        if engine not in engines:
            result.problems.append(f"load.engines: unknown engine {engine!r} (known: {', '.join(sorted(engines))})")
    planned = []
    for step in exp.method:
        t = step.target
        entry: dict[str, Any] = {"step": step.index, "at_s": step.at_s, "action": step.action,
                                 "target": t.describe(), "duration_s": step.duration_s, "version": step.version,
                                 **step.params, "pods": []}
        if step.repeat > 1:
            entry.update(repeat=step.repeat, gap_s=step.gap_s)
        result.steps.append(entry)
        if t.engine not in engines:
            result.problems.append(f"{step.path}.target.engine: unknown engine {t.engine!r}")
            continue
        if t.cluster is not None and t.cluster not in engines[t.engine].clusters:
            result.problems.append(f"{step.path}.target.cluster: engine {t.engine!r} has no cluster {t.cluster!r} "
                                   f"(clusters: {', '.join(engines[t.engine].clusters)})")
            continue
        if t.pod is not None and not any(p.pod == t.pod and p.engine == t.engine for p in pods):
            result.problems.append(f"{step.path}.target.pod: no pod {t.pod!r} in engine {t.engine!r}")
            continue
        try:
            if step.action == "kill_cluster":
                clusters = selector.select_clusters(t, pods, exp.load.seed + step.index)
                hit = [p.pod for p in pods if p.engine == t.engine and p.cluster in clusters and p.pid]
            elif step.action in ("blue_green_upgrade", "restart_gateway"):
                hit = [p.pod for p in selector.candidates(t, pods)] if step.action == "blue_green_upgrade" else []
            else:
                hit = [p.pod for p in selector.select_pods(t, pods, exp.load.seed + step.index)]
        except selector.NoTarget as e:
            result.problems.append(f"{step.path}.target: {e}")
            continue
        entry["pods"] = hit
        planned.append(PlannedFault(step.index, step.action, t.engine, tuple(hit)))
    ready = {name: e.ready_nodes for name, e in engines.items()}
    result.problems += plan_problems(planned, ready, exp.blast_radius)
    result.problems += _repeat_radius_problems(exp, pods, {p for f in planned for p in f.pods})
    return result


def _repeat_radius_problems(exp: Experiment, pods: list[PodInfo], planned: set[str]) -> list[str]:
    """A repeated step selects again each time (a killed pod is in crash-loop backoff, the busiest node
    moves): any of its candidates may be hit, and ``max_pods`` counts them all."""
    may_hit = set(planned)
    for step in exp.method:
        if step.repeat > 1 and step.action not in ("kill_cluster", "restart_gateway"):
            may_hit |= {p.pod for p in selector.candidates(step.target, pods)}
    if len(planned) > exp.blast_radius.max_pods or len(may_hit) <= exp.blast_radius.max_pods:
        return []  # the first case is plan_problems' to report
    repeated = next(s for s in exp.method if s.repeat > 1)
    return [f"blast_radius.max_pods: {repeated.path} repeats and may hit any of {len(may_hit)} pods "
            f"({', '.join(sorted(may_hit))}), more than {exp.blast_radius.max_pods}; pin target.pod or raise max_pods"]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, raised after the rollbacks ran and the journal was written."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(f"{journal.experiment} interrupted")
        self.journal = journal


class PlanError(ExperimentError):
    """The experiment does not fit the platform (unknown engine, blast radius exceeded)."""


@contextlib.contextmanager
def deferred_sigint() -> Iterator[list[int]]:
    """Hold Ctrl-C while rollbacks run; a second Ctrl-C must not leave a pod paused."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_steady(backend: ChaosBackend, engines: tuple[str, ...],
                timeout_s: float = STEADY_TIMEOUT_S) -> list[EngineInfo]:
    """Every engine RUNNING with all its nodes ready, or TimeoutError naming the laggards."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = [e for e in backend.engines() if e.name in engines]
        laggards = [e for e in state if e.state != "RUNNING" or e.ready_nodes < e.desired_nodes]
        if not laggards:
            return state
        if time.monotonic() >= deadline:
            raise TimeoutError("platform not in steady state: " + "; ".join(
                f"{e.name} {e.state} {e.ready_nodes}/{e.desired_nodes} ready" for e in laggards))
        time.sleep(0.1)


def run_experiment(exp: Experiment, platform: Platform, out_dir: Path,
                   on_progress: Callable[[str], None] | None = None,
                   on_alert: Callable[[str, dict[str, str]], None] | None = None) -> Journal:
    """Run ``exp``; the journal, ledger and events land in ``out_dir``. Raises PlanError before touching
    anything when the experiment does not fit the platform; raises Interrupted (a KeyboardInterrupt)
    after the rollbacks when Ctrl-C stopped it."""
    say = on_progress or (lambda _msg: None)
    backend = platform.backend
    the_plan = plan(exp, backend)
    if the_plan.problems:
        raise PlanError(exp.source, the_plan.problems)
    journal = Journal(exp.name, exp.source, exp.description, started=time.time(), plan=the_plan.steps,
                      experiment_raw=exp.raw)
    engines = tuple(dict.fromkeys(exp.load.engines + exp.engines))
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = scrape.shared()
    announced = exporter.announce_soon(platform.prometheus_url)  # chaos_fault_active, for the annotations
    say("waiting for steady state")
    try:
        steady = wait_steady(backend, tuple(e.name for e in backend.engines()))
    except TimeoutError as e:
        journal.status, journal.ended = "error", time.time()
        journal.notes.append(str(e))
        journal.write(out_dir / "journal.json")
        return journal
    unannounced = announced()
    if unannounced:
        journal.notes.append(unannounced)
        say(unannounced)
    before = {e.name: e for e in steady}
    seq0 = backend.last_event_seq()
    pods0 = backend.pods()
    active = exporter.gauge.run(exp.name, pods0)
    ready_at_start = {p.pod: p.engine for p in pods0 if p.ready}
    desired = {e.name: e.desired_nodes for e in steady}
    gateway_before = gateway_requests(platform.gateway_url)

    ledger = Ledger()
    spec = LoadSpec(qps=exp.load.qps, duration_s=exp.load.duration_s, engines=exp.load.engines, kinds=exp.load.kinds,
                    weights=exp.load.weights, seed=exp.load.seed, max_queries=_max_queries(exp),
                    deadline_s=exp.load.deadline_s,
                    # Past its deadline the gateway owes an answer (504); a query still unanswered well
                    # after that is lost, not slow.
                    drain_timeout_s=exp.load.deadline_s + 15)
    ctx = Context(backend, exp.blast_radius, seed=exp.load.seed, log=say)
    gen = LoadGenerator(platform.gateway_url, spec, ledger)

    def abort(reason: str) -> None:
        journal.aborts.append(reason)
        say(f"ABORT: {reason}")
        ctx.stop.set()
        gen.stop()

    monitor = AbortMonitor(exp.abort, engines=exp.load.engines, objective=exp.slo.objective,
                           prometheus_url=platform.prometheus_url, on_abort=abort,
                           check_every_s=exp.abort_check_every_s)
    gen.on_result = monitor.on_result
    watcher = AlertWatcher(platform.prometheus_url, platform.alertmanager_url, on_new=on_alert).start()
    load_thread = threading.Thread(target=gen.run, name="chaos-load", daemon=True)
    interrupted = False
    try:
        say(f"load {exp.load.qps:g} q/s for {exp.load.duration_s:g}s")
        journal.load_t0 = time.time()
        load_thread.start()
        monitor.start(journal.load_t0)
        for step, repetition in _schedule(exp, journal, ctx, desired, say):
            label = f" [{repetition + 1}/{step.repeat}]" if step.repeat > 1 else ""
            say(f"+{time.time() - journal.load_t0:.3g}s {step.action} {step.target.describe()}{label}")
            fault = new_fault(step)
            active.started(fault, lasting=step.duration_s is not None)
            run_step(_repetition_context(ctx, step, repetition, journal.faults), step, fault)
            active.settled(fault)
            fault.repetition = repetition
            journal.faults.append(fault)
            say(("  injected: " + "; ".join(fault.evidence)) if fault.injected
                else f"  NOT injected: {fault.error}")
            if not fault.injected:
                # The hypothesis cannot be tested as written: stop, roll back, fail.
                ctx.stop.set()
                gen.stop()
                break
        while load_thread.is_alive():
            load_thread.join(0.2)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: stopping the load and rolling back")
    finally:
        with deferred_sigint() as held:
            ctx.stop.set()
            gen.stop()
            load_thread.join(exp.load.deadline_s + 20)
            journal.load_t1 = time.time()
            monitor.stop()
            say("rollbacks")
            try:
                journal.rollbacks = run_rollbacks(ctx, exp.rollbacks, before, engines)
            finally:
                active.rolled_back()
            for r in journal.rollbacks:
                say(f"  rollback {r.action}: {'ok' if r.ok else 'FAILED'} - {r.detail}")
        interrupted = interrupted or bool(held)
    try:
        if not interrupted:
            _wait_recovery(backend, desired, exp.recovery_timeout_s, say)
            _wait_alerts(watcher, exp, journal, say)
        _finish(exp, platform, journal, ledger, gen.sent, seq0, ready_at_start, desired, gateway_before, watcher,
                monitor, out_dir, interrupted)
    finally:
        watcher.stop()
    if interrupted:
        raise Interrupted(journal)
    return journal


def _schedule(exp: Experiment, journal: Journal, ctx: Context, desired: dict[str, int],
              say: Callable[[str], None]) -> Iterator[tuple[Step, int]]:
    """(step, repetition) in the order they fire, each yielded when its time has come.

    A step fires at its offset; each further repetition once the previous one stopped acting and its
    engine has its capacity back (bounded: at worst the live blast-radius check refuses the fault),
    ``gap_s`` after that — so that every repetition meets a recovered engine, as the first did. One
    step waiting for its engine does not hold up another step's faults. None starts after the load
    ended: a missing repetition is reported by the faults verdict.
    """
    load_end = journal.load_t0 + exp.load.duration_s
    steps = {s.index: s for s in exp.method}
    due = {i: journal.load_t0 + s.at_s for i, s in steps.items()}
    done = dict.fromkeys(steps, 0)
    back: dict[int, float | None] = dict.fromkeys(steps)  # when the engine was back for the next repetition
    while True:
        now = time.time()
        waiting = [i for i in steps if done[i] < steps[i].repeat]
        if not waiting:
            return
        if now >= load_end:
            for i in waiting:
                say(f"  {steps[i].path}: the load ended before repetition {done[i] + 1} of {steps[i].repeat}")
            return
        ready = []
        for i in waiting:
            step = steps[i]
            if now < due[i]:
                continue
            if done[i]:
                if back[i] is None:
                    if not _capacity_back(ctx, step.target.engine, desired):
                        if now < due[i] + REPEAT_RECOVERY_S:
                            continue
                        say(f"  {step.target.engine} not back to {desired.get(step.target.engine)} ready nodes "
                            f"within {REPEAT_RECOVERY_S:g}s: going on")
                    back[i] = now
                came_back = back[i]
                if came_back is not None and now < came_back + (step.gap_s or 0.0):
                    continue
            ready.append(i)
        if not ready:
            if ctx.stop.wait(0.05):
                return
            continue
        i = min(ready, key=lambda k: (due[k], steps[k].at_s, k))
        yield steps[i], done[i]
        done[i] += 1
        back[i] = None
        last = journal.faults[-1] if journal.faults else None
        # The next repetition's wait starts when this one stops acting.
        due[i] = (last.ts if last is not None and last.ts else time.time()) + (steps[i].duration_s or 0.0)
        if ctx.stop.is_set():
            return


def _repetition_context(ctx: Context, step: Step, repetition: int, faults: list[Fault]) -> Context:
    """The context of one repetition: its own seeded choice among idle candidates, and the pods the
    step hit last picked last (half the candidates), so that repeated kills spread over the pods
    instead of driving one into crash-loop backoff and measuring the same node again and again."""
    if not repetition:
        return ctx
    n = len(selector.candidates(step.target, ctx.backend.pods()))
    recent = [f.pods for f in faults if f.step == step.index][-max(1, n // 2):]
    return replace(ctx, seed=ctx.seed + REPEAT_SEED_STRIDE * repetition,
                   avoid=frozenset(p for pods in recent for p in pods))


def _capacity_back(ctx: Context, engine: str, desired: dict[str, int]) -> bool:
    state = next((e for e in ctx.backend.engines() if e.name == engine), None)
    return state is not None and state.ready_nodes >= desired.get(engine, 0)


def _wait_recovery(backend: ChaosBackend, desired: dict[str, int], timeout_s: float,
                   say: Callable[[str], None]) -> None:
    say("waiting for capacity to come back")
    try:
        wait_steady(backend, tuple(desired), timeout_s)
    except TimeoutError as e:
        say(f"  {e}")


def _wait_alerts(watcher: AlertWatcher, exp: Experiment, journal: Journal, say: Callable[[str], None]) -> None:
    expected = exp.hypothesis.expect_alerts
    if not expected or not watcher.enabled or not journal.faults:
        return
    fault_ts = min(f.ts for f in journal.faults)
    limits = [a.within_s or 0.0 for a in expected]
    detection = _detection(exp)
    if any(a.within == "page_detection" for a in expected):
        limits.append(detection.goal_s if detection is not None else 30.0)
    deadline = fault_ts + max(limits) + 3.0
    names = {a.name for a in expected}
    while time.time() < deadline and not names <= {o.name for o in watcher.observations(journal.load_t0)}:
        time.sleep(0.25)
    watcher.poll()


def _detection(exp: Experiment) -> DetectionBudget | None:
    if exp.slo.profile != "local":
        return None
    try:
        return local_page_detection(exp.slo.objective)
    except (ImportError, ValueError):
        return None


def _prometheus_budget(url: str | None, engines: tuple[str, ...], objective: float, period_s: float,
                       t0: float, t1: float) -> PrometheusBudget | None:
    if not url:
        return None
    window = f"{max(1, round(t1 - t0))}s"
    engine = "~" + "|".join(engines)
    bad = f"sum(increase({sel(c.GATEWAY_ERRORS, engine=engine, error_type='~' + c.PLATFORM_ERRORS_RE)}[{window}]))"
    total = f"sum(increase({sel(c.GATEWAY_REQUEST_DURATION, 'count', engine=engine)}[{window}]))"
    with PrometheusClient(url, timeout=5) as prom:
        try:
            n_bad = _at(prom, f"({bad}) or vector(0)", t1)
            n_total = _at(prom, total, t1)
        except PrometheusUnavailable:
            return None
    if not n_total:
        return None
    ratio = n_bad / n_total
    return PrometheusBudget(n_total, n_bad, ratio, ratio / (1 - objective) * (t1 - t0) / period_s)


def _at(prom: PrometheusClient, expr: str, t: float) -> float:
    samples = prom.query(expr, time=t)
    return samples[0].value if samples else 0.0


def _finish(exp: Experiment, platform: Platform, journal: Journal, ledger: Ledger, sent: int, seq0: int,
            ready_at_start: dict[str, str], desired: dict[str, int], gateway_before: dict[str, float] | None,
            watcher: AlertWatcher, monitor: AbortMonitor, out_dir: Path, interrupted: bool) -> None:
    backend = platform.backend
    df = ledger.frame()
    journal.sent = sent
    journal.events = backend.events(seq0)
    prom_nodes = None
    if platform.prometheus_url and not interrupted:
        # Two more scrapes, so Prometheus holds the counts of the load's last second.
        t_end = journal.load_t1 + 2.5
        time.sleep(max(0.0, t_end - time.time()))
        with PrometheusClient(platform.prometheus_url, timeout=5) as prom:
            prom_nodes = node_executions(prom, exp.load.engines, journal.load_t0, t_end)
    journal.reconciliation = reconcile(df, sent, gateway_before, gateway_requests(platform.gateway_url), prom_nodes)
    if any(f.action == "restart_gateway" for f in journal.faults):
        journal.reconciliation["gateway_mismatch_note"] = "the gateway restarted: its counters started again"
    journal.alerts = watcher.observations(journal.load_t0)
    pre = watcher.preexisting(journal.load_t0)
    if pre:
        journal.notes.append("alerts already firing before the load: " + ", ".join(pre))
    journal.notes += monitor.skipped + watcher.errors[:3]
    obs = Observation(
        ledger=df, sent=sent, events=journal.events, faults=journal.faults, t0=journal.load_t0,
        t1=journal.load_t1, ready_at_start=ready_at_start, desired=desired, grace_s=platform.grace_s,
        alerts=journal.alerts, alerts_watched=watcher.enabled, reconciliation=journal.reconciliation,
        prometheus_budget=None if interrupted else _prometheus_budget(
            platform.prometheus_url, exp.load.engines, exp.slo.objective, exp.slo.period_s, journal.load_t0,
            journal.load_t1),
        detection=_detection(exp))
    steady = firing_alerts(platform.prometheus_url, journal.load_t0,
                           min((f.ts for f in journal.faults), default=journal.load_t1))
    if steady is not None:
        obs.steady_alerts, obs.always_firing, obs.evaluation_interval_s = steady
    journal.verdicts = evaluate(exp, obs)
    journal.ended = time.time()
    if interrupted:
        journal.status = "interrupted"
    elif journal.aborts:
        journal.status = "aborted"
    else:
        ok = all(f.injected for f in journal.faults) and all(v.passed or not v.judged for v in journal.verdicts)
        ok = ok and all(r.ok for r in journal.rollbacks)
        journal.status = "passed" if ok else "failed"
    journal.artifacts["ledger"] = str(ledger.write(out_dir / "ledger.parquet"))
    journal.artifacts["journal"] = str(out_dir / "journal.json")
    journal.write(out_dir / "journal.json")
