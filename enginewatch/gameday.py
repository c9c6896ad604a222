"""The game day: boot the platform with Prometheus, Alertmanager and the SLO rules, run a suite of chaos
experiments, capture the on-call diagnosis when a page fires, write the report, tear it all down.

Suites: ``default`` (on engines/fleet.gameday.yaml) runs kill, terminate, hang, the gray faults (slow
node, partition, OOM in one load), blue-green upgrade and a total engine outage as six experiments;
``short`` runs the three node faults in one load, then the upgrade and the outage with shorter
timings (the crash-type goals, measured in about half the time); ``gray`` runs the gray faults alone.
One game day at a time: the stack lock refuses a second one, and `enginewatch up` too. The command is
enginewatch/cli/gameday.py.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.experiment import Experiment
    from chaos.journal import Journal
    from chaos.report.gameday import Diagnosis, Goal
    from chaos.verdicts import FailoverFigures
    from enginewatch.stack import Stack, StackOptions

EXPERIMENTS = Path(__file__).resolve().parent.parent / "chaos" / "experiments"
SUITES: dict[str, tuple[str, ...]] = {
    "default": ("kill-node", "terminate-node", "hang-node", "gray-faults", "blue-green-upgrade", "engine-outage"),
    "short": ("node-faults", "blue-green-upgrade", "engine-outage"),
    "gray": ("gray-faults",),
}
FLEETS = Path(__file__).resolve().parent.parent / "engines"
#: The fleet each suite boots unless told otherwise (``--fleet``): the default suite's adds `reporting`,
#: whose nodes hold about twenty queries each, so that its kills and hangs affect hundreds of queries
#: within the demo's five minutes. A suite not listed boots the default fleet (engines/fleet.yaml).
SUITE_FLEETS: dict[str, Path] = {"default": FLEETS / "fleet.gameday.yaml"}
#: A suite that runs only some of the faults is judged on the goals those faults measure (default:
#: every goal, so that one an experiment failed to measure fails the game day).
SUITE_GOALS: dict[str, frozenset[str]] = {
    "gray": frozenset({"lost_queries", "failed_reads_gray_faults", "slow_node_alert_s", "oom_kills_recorded"}),
}
#: Timings of the short suite: enough load before each fault for the SLO's low-traffic guard (70
#: events a minute) and after it for recovery, no more.
SHORT_TIMINGS: dict[str, dict[str, Any]] = {
    "blue-green-upgrade": {"duration_s": 14, "at_s": [3]},
    "engine-outage": {"duration_s": 16, "at_s": [6], "fault_s": [7]},
}
RUNBOOK_TIMEOUT_S = 60.0
#: Affected queries each failover percentile (killed, hung) must rest on. A sales or analytics node
#: holds about one query in flight, a reporting node of the game day's fleet about twenty: the default
#: suite kills and hangs reporting nodes again and again until several hundred accrue; the short
#: suite (default fleet) is a smoke test and only needs some.
MIN_AFFECTED_QUERIES: dict[str, int] = {"default": 200, "short": 1}


# --- the suite -------------------------------------------------------------------------------------------

def load_suite(suite: str) -> list[Experiment]:
    from chaos.experiment import load_experiment, parse_experiment

    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    out = []
    for name in SUITES[suite]:
        exp = load_experiment(EXPERIMENTS / f"{name}.yaml")
        if suite == "short" and name in SHORT_TIMINGS:
            exp = parse_experiment(shorten(exp.raw, SHORT_TIMINGS[name]), f"{exp.source} (short)")
        out.append(exp)
    return out


def suite_fleet(suite: str, fleet: Path | None = None) -> Path | None:
    """The fleet a game day of ``suite`` boots: the one asked for, else the suite's own (None: the
    stack's default)."""
    return fleet or SUITE_FLEETS.get(suite)


def shorten(raw: dict[str, Any], timings: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    data["load"]["duration_s"] = timings["duration_s"]
    for step, at in zip(data["method"], timings.get("at_s", []), strict=False):
        step["at_s"] = at
    for step, seconds in zip(data["method"], timings.get("fault_s", []), strict=False):
        step["duration_s"] = seconds
    return data


# --- the platform ---------------------------------------------------------------------------------------

def alerting_files() -> tuple[list[Path], Path | None, list[str]]:
    """The local profile's rule files (platform + SLO) and Alertmanager configuration, when present."""
    from enginewatch.stack import alerting_files as stack_alerting_files

    notes: list[str] = []
    slo_rules, platform_rules, config = stack_alerting_files("local")
    if config is not None and not config.exists():
        config = None
    if not slo_rules:
        notes.append("no SLO rules for the local profile under alerts/slo: no page alert can fire")
    return [*platform_rules, *slo_rules], config, notes


def slo_service_available() -> bool:
    """Whether `python -m slo.service` can run (a package needs its __main__)."""
    try:
        spec = importlib.util.find_spec("slo.service")
        if spec is None:
            return False
        return not spec.submodule_search_locations or importlib.util.find_spec("slo.service.__main__") is not None
    except ImportError:
        return False


def start_stack(options: StackOptions, say: Callable[[str], None], notes: list[str]) -> Stack:
    """Start the stack; if only the SLO service fails, note it and run the game day without it."""
    from enginewatch.stack import Stack

    try:
        return Stack(options, on_step=lambda s: say(f"starting {s}")).__enter__()
    except RuntimeError as e:
        if not options.slo_service or "SLO service" not in str(e):
            raise
        notes.append(f"the SLO service did not start ({str(e).strip().splitlines()[-1]}); ran without it")
        say("the SLO service did not start: going on without it")
        options.slo_service = False
        return Stack(options, on_step=lambda s: say(f"starting {s}")).__enter__()


def _wait_for_slo_series(prometheus_url: str, timeout_s: float = 20.0) -> bool:
    from foundation.prometheus import PrometheusClient

    with PrometheusClient(prometheus_url, timeout=2) as prom:
        try:
            prom.wait_for("count(slo:sli_total:rate) > 0", lambda s: bool(s), timeout=timeout_s, interval=0.5)
            return True
        except TimeoutError:
            return False


# --- goals ----------------------------------------------------------------------------------------------

def pooled_failover(figures: Sequence[FailoverFigures], level: float = 0.95) -> dict[str, Any]:
    """Every affected query of these failover verdicts in one sample: count, p50 and p99, each with its
    distribution-free confidence interval (chaos/stats.py). A verdict written before the delays were
    kept contributes only its count."""
    from chaos.stats import percentile

    delays = [d for f in figures for d in f.delays_s]
    out: dict[str, Any] = {"affected_queries": sum(f.affected_queries for f in figures),
                           "faults": sum(f.repetitions for f in figures), "ci_level": level}
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        pct = percentile(delays, q, level)
        value = pct.value
        if value is None and figures:  # no delays kept: the worst verdict's own percentile
            value = max(getattr(f, f"time_to_failover_{name}_s") for f in figures)
        out.update({f"{name}_s": value, f"{name}_ci_low_s": pct.low, f"{name}_ci_high_s": pct.high})
    out["max_s"] = max(delays) if delays else None
    return out


def failover_note(figures: dict[str, Any]) -> str:
    """``412 affected queries, 40 faults; p50 0.02 [0.018, 0.021]; p99 0.4 [0.31, —] (95% CI)``."""
    def ci(name: str) -> str:
        low, high = figures[f"{name}_ci_low_s"], figures[f"{name}_ci_high_s"]
        return f"[{'—' if low is None else f'{low:.3g}'}, {'—' if high is None else f'{high:.3g}'}]"

    text = f"{figures['affected_queries']} affected queries, {figures['faults']} fault(s)"
    if figures["p99_s"] is None:
        return text
    return (text + f"; p50 {figures['p50_s']:.3g} {ci('p50')}; p99 {figures['p99_s']:.3g} {ci('p99')} "
            f"({figures['ci_level'] * 100:g}% CI; — : too few queries to bound)")


def compute_goals(journals: Sequence[Journal], detection_goal_s: float | None,
                  min_affected: int = 1) -> list[Goal]:
    """The issue's goals, measured from whatever experiments of the game day measured them;
    ``min_affected``: the affected queries a failover percentile must rest on."""
    from chaos.report.gameday import Goal
    from chaos.verdicts import AlertFigures, DrainFigures, FailoverFigures, QueryFigures

    def queries(j: Journal) -> QueryFigures | None:
        return next(iter(j.verdict_figures(QueryFigures)), None)

    goals = []
    lost = [(j.experiment, q.lost if (q := queries(j)) else None) for j in journals]
    goals.append(Goal("lost_queries", "lost queries, every experiment (max)",
                      max((n for _, n in lost if n is not None), default=None), 0, "==",
                      tuple(e for e, _ in lost), "per experiment: " + ", ".join(f"{e} {n}" for e, n in lost)))
    node_faults = {"kill_pod", "terminate_pod", "pause_pod"}
    node_runs = [j for j in journals if j.faults and {f.action for f in j.faults} <= node_faults]
    goals.append(Goal("failed_reads_node_faults",
                      "client-visible failed read queries, node killed/terminated/hung (healthy cluster left)",
                      sum(q.failed_read if (q := queries(j)) else 0 for j in node_runs) if node_runs else None,
                      0, "==", tuple(j.experiment for j in node_runs)))
    for key, action, limit, label in (("failover_p99_killed_s", "kill_pod", 1.0, "killed"),
                                      ("failover_p99_hung_s", "pause_pod", 2.0, "hung")):
        failovers = [(j.experiment, f) for j in journals for f in j.verdict_figures(FailoverFigures)
                     if f.action == action]
        figures = pooled_failover([f for _, f in failovers])
        sources = tuple(dict.fromkeys(e for e, _ in failovers))
        n = figures["affected_queries"]
        goals.append(Goal(key, f"time to fail over p99, node {label} (s)", figures["p99_s"] if failovers else None,
                          limit, "<=", sources, failover_note(figures), figures))
        goals.append(Goal(key.replace("_p99_", "_affected_").removesuffix("_s"),
                          f"affected queries behind the failover percentiles, node {label}",
                          n if failovers else None, min_affected, ">=", sources,
                          f"{figures['faults']} fault(s)", evidence=True))
    goals += gray_goals(journals)
    drains = [(j.experiment, f) for j in journals for f in j.verdict_figures(DrainFigures)
              if f.action in ("terminate_pod", "drain_engine")]
    in_flight = sum(f.in_flight_at_term for _, f in drains)
    goals.append(Goal("drain_failed_in_flight", "drain: failed in-flight queries",
                      sum(f.failed_in_flight for _, f in drains) if drains else None, 0, "==",
                      tuple(e for e, _ in drains), f"{in_flight} queries in flight at SIGTERM"))
    upgrades = [j for j in journals if any(f.action == "blue_green_upgrade" for f in j.faults)]
    goals.append(Goal("blue_green_failed_queries", "blue-green upgrade: failed queries",
                      sum(q.failed if (q := queries(j)) else 0 for j in upgrades) if upgrades else None, 0, "==",
                      tuple(j.experiment for j in upgrades)))
    pages = [(j.experiment, f) for j in journals for f in j.verdict_figures(AlertFigures) if f.expected]
    page_s = None
    for _, figures in pages:
        # The latest experiment that saw its pages fire decides (the suite ends with the total outage).
        values = [x for x in figures.detected.values() if x is not None]
        page_s = max(values) if values else page_s
    goals.append(Goal("page_alert_s", "page alert after a total outage (s after the fault)", page_s,
                      detection_goal_s if detection_goal_s is not None else 0.0, "<=", tuple(e for e, _ in pages),
                      "limit: theoretical detection of the local profile + 2 evaluation intervals"))
    return goals


def gray_goals(journals: Sequence[Journal]) -> list[Goal]:
    """Gray failures (slow node, partition, OOM): clients lose no read, the slow node's alert fires
    within a minute, and an OOM kill is recorded as one (restart reason "oom")."""
    from chaos.experiment import POD_FAULT_ACTIONS
    from chaos.report.gameday import Goal
    from chaos.verdicts import ImpactFigures, QueryFigures

    def actions(j: Journal) -> set[str]:
        return {str(s.get("action")) for s in j.plan} | {f.action for f in j.faults}

    gray = [j for j in journals if actions(j) and actions(j) <= POD_FAULT_ACTIONS]
    if not gray:
        return []  # a suite without gray faults (short) is not judged on them
    sources = tuple(j.experiment for j in gray)
    failed = [q.failed_read for j in gray for q in j.verdict_figures(QueryFigures)]
    slow = [f for j in gray for f in j.verdict_figures(ImpactFigures) if f.action == "throttle_cpu"]
    detected = [f.time_to_detect_s for f in slow]
    limited = [j for j in gray if "limit_memory" in actions(j)]
    oom = [e for j in limited for e in j.events if e.get("kind") == "pod_exited" and e.get("reason") == "oom"]
    return [
        Goal("failed_reads_gray_faults", "client-visible failed read queries, gray faults (slow, partitioned, OOM)",
             sum(failed) if failed else None, 0, "==", sources),
        Goal("slow_node_alert_s", "slow-node alert after a 5% CPU throttle (s after the fault)",
             None if not detected or None in detected else max(d for d in detected if d is not None), 60.0, "<=",
             tuple(j.experiment for j in gray if "throttle_cpu" in actions(j)),
             "EngineNodeLatencyOutlier naming the throttled node's engine and pod"),
        Goal("oom_kills_recorded", "OOM kills recorded with restart reason oom, memory-limited node",
             len(oom) if limited else None, 1, ">=", tuple(j.experiment for j in limited),
             "pod_exited events with reason oom (the orchestrator reads the kernel's memory.oom_control)"),
    ]


def impact_summary(journals: Sequence[Journal]) -> list[dict[str, Any]]:
    """Per experiment and step: time to detect, time to mitigate, p99 before/during/after (the impact
    verdicts' figures, in one place)."""
    from chaos.verdicts import ImpactFigures

    return [{"experiment": j.experiment, **{k: v for k, v in f.to_dict().items() if k != "fault_ts"}}
            for j in journals for f in j.verdict_figures(ImpactFigures)]


# --- runbook capture ------------------------------------------------------------------------------------

def runbook_command(alert: str, labels: dict[str, str], prometheus_url: str, orchestrator_url: str) -> list[str]:
    """The command on-call would run for the same diagnosis: what the report shows."""
    cmd = ["enginewatch", "runbook", alert, "--json", "--prometheus", prometheus_url, "--orchestrator",
           orchestrator_url]
    return cmd + (["--engine", labels["engine"]] if labels.get("engine") else [])


@dataclass(frozen=True)
class _Page:
    alert: str
    labels: dict[str, str]
    experiment: str
    seen_at: float  # wall clock, to place it against the experiment's faults
    t0: float  # monotonic: the diagnosis's timeout counts from here


class RunbookCapture:
    """When a page fires, run its runbook's diagnosis at once, in the background, as on-call would, and
    keep what it said for the report.

    A diagnosis runs in its own thread, in this process; one that has not answered within ``timeout_s``
    is recorded as timed out. A thread cannot be stopped: it finishes unheard (its clients time out, or
    find the platform gone), and the game day never waits on it beyond the timeout.
    """

    def __init__(self, prometheus_url: str, orchestrator_url: str, timeout_s: float = RUNBOOK_TIMEOUT_S,
                 loki_url: str = "") -> None:
        from runbooks.playbooks import registry

        self.prometheus_url = prometheus_url
        self.orchestrator_url = orchestrator_url
        self.loki_url = loki_url
        self.timeout_s = timeout_s
        self.diagnoses: list[Diagnosis] = []
        self.experiment = ""
        self._pending: dict[tuple[str, str], tuple[_Page, threading.Thread]] = {}
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # Reading the playbooks (and the SLO specs behind them) is CPU under the GIL: pay it now, not
        # while an experiment's load measures latencies in this process. A broken playbook is reported
        # by the diagnosis of the page that needs it.
        with contextlib.suppress(Exception):
            registry()

    def on_alert(self, name: str, labels: dict[str, str]) -> None:
        if labels.get("severity") not in ("critical", "page"):
            return
        key = (name, labels.get("engine", ""))
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            page = _Page(name, dict(labels), self.experiment, time.time(), time.monotonic())
            thread = threading.Thread(target=self._run, args=(key, page), name=f"runbook-{name}", daemon=True)
            self._pending[key] = (page, thread)
        thread.start()

    def _run(self, key: tuple[str, str], page: _Page) -> None:
        exit_code, result, error = self._diagnose(page)
        seconds = time.monotonic() - page.t0
        if seconds > self.timeout_s:
            self._record(key, *self._timed_out())
        else:
            self._record(key, exit_code, result, error, seconds)

    def _diagnose(self, page: _Page) -> tuple[int | None, dict[str, Any] | None, str]:
        """(exit code, result, error) as `enginewatch runbook --json` would give them."""
        from runbooks.diagnosis import Scope, diagnose_live
        from runbooks.playbooks import get, known_alerts

        try:
            book = get(page.alert)
            if book is None:
                return 2, None, f"unknown alert {page.alert!r}; known alerts: {', '.join(known_alerts())}"
            result = diagnose_live(book, Scope(engine=page.labels.get("engine") or None), self.prometheus_url,
                                   self.orchestrator_url or None, loki_url=self.loki_url or None)
        except Exception as e:
            # A broken diagnosis is a finding of the game day, not its end (the command would exit 1).
            return 1, None, f"{type(e).__name__}: {e}"[-500:]
        return (0 if result.complete else 1), result.to_dict(), ""

    def _timed_out(self) -> tuple[None, None, str, float]:
        return None, None, f"no answer within {self.timeout_s:g}s", self.timeout_s

    def _record(self, key: tuple[str, str], exit_code: int | None, result: dict[str, Any] | None, error: str,
                seconds: float) -> None:
        from chaos.report.gameday import Diagnosis

        with self._lock:
            pending = self._pending.pop(key, None)
            if pending is None:
                return  # already recorded as timed out: an answer after that goes unheard
            page = pending[0]
            d = Diagnosis(page.alert, page.labels, None,
                          runbook_command(page.alert, page.labels, self.prometheus_url, self.orchestrator_url),
                          exit_code, result, error, seconds)
            d.extra.update(experiment=page.experiment, seen_at=page.seen_at)
            self.diagnoses.append(d)

    def wait(self, timeout_s: float | None = None) -> None:
        """Until every diagnosis answered or timed out (at most ``timeout_s``, default the diagnosis
        timeout and a margin); those still running are recorded as timed out."""
        deadline = time.monotonic() + (self.timeout_s + 5 if timeout_s is None else timeout_s)
        with self._lock:
            pending = list(self._pending.items())
        for _, (page, thread) in pending:
            thread.join(max(0.0, min(deadline, page.t0 + self.timeout_s) - time.monotonic()))
        for key, (_, thread) in pending:
            if thread.is_alive():
                self._record(key, *self._timed_out())


# --- the game day ---------------------------------------------------------------------------------------

def run_gameday(out: Path, suite: str = "default", fleet: Path | None = None,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    """Boot, run the suite, report, tear down. Returns the game day's JSON document."""
    from chaos.backends import LocalBackend
    from chaos.maintenance import fault_windows
    from chaos.report import chart_for, write_experiment_report
    from chaos.report.gameday import gameday_document
    from chaos.run import Interrupted, Platform, deferred_sigint, run_experiment
    from chaos.verdicts import local_page_detection
    from enginewatch.stack import StackOptions
    from loadgen.ledger import read_ledger

    experiments = load_suite(suite)
    rules, am_config, notes = alerting_files()
    options = StackOptions(alerting=True, alertmanager_config=am_config, slo_service=slo_service_available(),
                           logs=True)  # runbook diagnoses quote the pods' error lines
    if not options.slo_service:
        notes.append("no runnable SLO service (`python -m slo.service`): the game day runs without it")
    fleet = suite_fleet(suite, fleet)
    if fleet:
        options.fleet = fleet
    started = time.time()
    journals: list[Journal] = []
    out.mkdir(parents=True, exist_ok=True)
    status = "error"
    capture: RunbookCapture | None = None
    stack_info: dict[str, Any] = {}
    costs: dict[str, float] = {}
    interrupted = False
    stack = start_stack(options, say, notes)
    try:
        assert stack.orchestrator is not None and stack.prometheus is not None
        stack_info = {"fleet": str(stack.options.fleet), "engines": ", ".join(stack.engines),
                      "rules": ", ".join(p.name for p in rules) or "none",
                      "alertmanager": "yes" if stack.alertmanager else "no",
                      "SLO service": "yes" if stack.slo_service else "no"}
        if any("slo" in p.name for p in rules) and not _wait_for_slo_series(stack.prometheus_url):
            notes.append("the SLO recording rules had no data 20 s after boot")
        platform = Platform(LocalBackend.from_stack(stack), stack.gateway_url, stack.prometheus_url,
                            stack.alertmanager.url if stack.alertmanager else None, stack.fleet.grace_period_s)
        capture = RunbookCapture(stack.prometheus_url, stack.orchestrator.url or "", loki_url=stack.loki_url)
        try:
            for i, exp in enumerate(experiments, 1):
                say(f"[{i}/{len(experiments)}] {exp.name}: {exp.description or ''}".strip())
                capture.experiment = exp.name
                t_exp = time.monotonic()

                def progress(message: str, t_exp: float = t_exp) -> None:
                    say(f"    {time.monotonic() - t_exp:5.1f}s {message}")

                # Chaos burns no production budget unless the experiment asks (chaos/maintenance.py).
                with fault_windows(exp, stack.slo_service_url, stack.prometheus_url, notes, progress):
                    journal = run_experiment(exp, platform, out / exp.name, on_progress=progress,
                                             on_alert=capture.on_alert)
                journals.append(journal)
                say(f"  -> {exp.name}: {journal.status.upper()}"
                    + "".join(f"\n     - {r}" for r in journal.reasons()))
        except KeyboardInterrupt as e:
            interrupted = True
            if isinstance(e, Interrupted):
                journals.append(e.journal)
            say("interrupted: rollbacks ran")
        capture.wait()
        costs = stack.orchestrator.consumed_units()  # before the teardown's drains add to it
    finally:
        say("stopping the platform")
        with deferred_sigint() as held:  # a second Ctrl-C must not leave half a platform running
            stack.stop()
        interrupted = interrupted or bool(held)
    for d in capture.diagnoses if capture else []:
        j = next((j for j in journals if j.experiment == d.extra.get("experiment")), None)
        faults = [f.ts for f in j.faults if f.injected] if j else []
        if faults:
            d.fired_s = d.extra["seen_at"] - min(faults)
    # Reports after the teardown: matplotlib and markdown need no platform, and Ctrl-C has stopped it.
    charts: dict[str, str] = {}
    for j in journals:
        ledger = j.artifacts.get("ledger")
        if ledger:
            df = read_ledger(Path(ledger))
            write_experiment_report(j, df, out / j.experiment)
            charts[j.experiment] = f"{j.experiment}/{chart_for(j, df, out / j.experiment / 'chart.png').name}"
    try:
        detection = local_page_detection(experiments[-1].slo.objective)
        detection_goal: float | None = detection.goal_s
        detection_doc = {"theoretical_s": detection.theoretical_s, "bound_s": detection.bound_s,
                         "evaluation_interval_s": detection.evaluation_interval_s, "tier": detection.tier,
                         "goal_s": detection.goal_s}
    except (ImportError, ValueError) as e:
        detection_goal, detection_doc = None, {"error": str(e)}
    goals = compute_goals(journals, detection_goal, MIN_AFFECTED_QUERIES.get(suite, 1))
    if suite in SUITE_GOALS:
        goals = [g for g in goals if g.key in SUITE_GOALS[suite]]
    if interrupted:
        status = "interrupted"
    else:
        complete = len(journals) == len(experiments)
        passed = complete and all(j.passed for j in journals) and not any(g.blocking for g in goals)
        status = "passed" if passed else "failed"
    ended = time.time()
    diagnoses = capture.diagnoses if capture else []
    doc: dict[str, Any] = {
        "suite": suite, "status": status, "started": started, "ended": ended, "seconds": round(ended - started, 1),
        "stack": stack_info, "notes": notes, "page_detection": detection_doc,
        "goals": {g.key: g.to_dict() for g in goals},
        "impact": impact_summary(journals),
        "experiments": [j.to_dict() for j in journals],
        "runbook_diagnoses": [d.to_dict() for d in diagnoses],
        "cost_units": costs,
    }
    (out / "gameday.json").write_text(json.dumps(doc, indent=2, default=str))
    (out / "gameday.md").write_text(gameday_document(
        title="Game day report", started=started, ended=ended, suite=suite, stack=stack_info, goals=goals,
        journals=journals, charts=charts, diagnoses=diagnoses, status=status, costs=costs)
        + ("\n" + "\n".join(f"- note: {n}" for n in notes) + "\n" if notes else ""))
    if interrupted:
        raise KeyboardInterrupt
    return doc

