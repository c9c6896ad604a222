"""The experiment: what load to run, which faults to inject when, what must hold, when to stop.

An experiment is YAML validated by ``experiment.schema.json`` (the structure) and then by the checks
below (what a schema cannot say: a fault after the load ends, a drain check with no drain to judge).
Every problem names its field path, e.g. ``method[1].target.mode: 'some' is not one of [...]``, and
nothing runs until there are none: a half-understood experiment must not touch the platform.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from foundation.durations import EXAMPLES, PATTERN, parse_duration

SCHEMA_PATH = Path(__file__).with_name("experiment.schema.json")

#: Faults whose effect is a node disappearing or hanging: the failover verdict judges them.
FAILOVER_ACTIONS = frozenset({"kill_pod", "pause_pod", "kill_cluster"})
#: Faults that ask a node to drain: the drain verdict judges them.
DRAIN_ACTIONS = frozenset({"terminate_pod", "drain_engine"})
#: Gray faults on pods' processes, on kernel mechanisms (local backend); each lasts ``duration_s``.
POD_FAULT_ACTIONS = frozenset({"throttle_cpu", "limit_memory", "partition", "packet_loss", "noisy_neighbor",
                               "slow_storage"})
#: Faults that may last: kill_* re-kill the restarted processes until ``duration_s`` is over.
DURABLE_ACTIONS = frozenset({"kill_pod", "kill_cluster", "pause_pod"}) | POD_FAULT_ACTIONS
#: The parameters of gray faults, and the actions that take each (the schema requires them there).
PARAMETERS: dict[str, frozenset[str]] = {
    "cpus": frozenset({"throttle_cpu", "noisy_neighbor"}),
    "memory_mb": frozenset({"limit_memory"}),
    "query": frozenset({"limit_memory"}),
    "reject": frozenset({"partition"}),
    "probability": frozenset({"packet_loss"}),
    "stress": frozenset({"noisy_neighbor"}),
    "latency_ms": frozenset({"slow_storage"}),
}


class ExperimentError(ValueError):
    """The experiment is invalid; ``problems`` holds one ``path: reason`` per problem."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


@dataclass(frozen=True)
class Busy:
    min_in_flight: int
    wait_s: float = 5.0


@dataclass(frozen=True)
class Target:
    engine: str
    mode: str  # one | fixed | percent | all
    value: float | None = None
    cluster: str | None = None
    pod: str | None = None
    busy: Busy | None = None

    def describe(self) -> str:
        scope = self.pod or (f"{self.engine}/{self.cluster}" if self.cluster else self.engine)
        value = f"{self.value:g}" if self.value is not None else "?"
        amount = {"one": "one of", "all": "all of", "fixed": f"{value} of", "percent": f"{value}% of"}[self.mode]
        return f"{amount} {scope}"


@dataclass(frozen=True)
class Stress:
    """noisy_neighbor's stress-ng: ``kind`` cpu or vm, ``workers`` of it, ``vm_mb`` each (vm)."""

    kind: str = "cpu"
    workers: int = 1
    vm_mb: int = 128


@dataclass(frozen=True)
class Step:
    index: int
    at_s: float
    action: str
    target: Target
    duration_s: float | None = None
    version: str | None = None
    cpus: float | None = None  # throttle_cpu: the quota; noisy_neighbor: the budget pod and stress-ng share
    memory_mb: int | None = None  # limit_memory
    reject: bool | None = None  # partition: refuse connections (TCP reset) rather than drop them
    probability: float | None = None  # packet_loss: share of packets dropped, each direction
    stress: Stress | None = None  # noisy_neighbor
    latency_ms: float | None = None  # slow_storage: per object-storage read
    #: The same fault ``repeat`` times, ``gap_s`` apart (see ``offsets``): one fault is one sample, and
    #: a p99 over one sample is an anecdote.
    repeat: int = 1
    gap_s: float | None = None
    query: str | None = None  # limit_memory: the runaway query sent to the limited pod

    @property
    def path(self) -> str:
        return f"method[{self.index}]"

    @property
    def offsets(self) -> tuple[float, ...]:
        """Planned start of each repetition, from the start of the load: the next one starts ``gap_s``
        after the previous one stopped acting (its ``duration_s``, none for an instant fault). At run
        time a repetition also waits for the engine's capacity to come back, so these are the earliest."""
        period = (self.duration_s or 0.0) + (self.gap_s or 0.0)
        return tuple(self.at_s + r * period for r in range(self.repeat))

    @property
    def params(self) -> dict[str, Any]:
        """The gray-fault parameters the step sets, for plans and journals."""
        out: dict[str, Any] = {}
        for name in PARAMETERS:
            value = getattr(self, name)
            if value is not None:
                out[name] = asdict(value) if isinstance(value, Stress) else value
        return out


@dataclass(frozen=True)
class LoadConfig:
    qps: float
    duration_s: float
    engines: tuple[str, ...]
    kinds: tuple[str, ...] | None = None
    seed: int = 42
    deadline_s: float = 10.0
    #: Relative share of the queries per engine, in the order of ``engines``; None: equal shares.
    weights: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ExpectedAlert:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    within_s: float | None = None
    #: "page_detection": within the theoretical detection time of the SLO profile + 2 evaluations.
    within: str | None = None


@dataclass(frozen=True)
class Hypothesis:
    lost_queries: float | None = None
    failed_queries: float | None = None
    failed_read_queries: float | None = None
    p99_latency_s: float | None = None
    budget_consumed: float | None = None
    failover: dict[str, float] = field(default_factory=dict)
    drain: dict[str, float] = field(default_factory=dict)
    recovery_within_s: float | None = None
    expect_alerts: tuple[ExpectedAlert, ...] = ()
    forbid_alerts: tuple[str, ...] = ()
    #: Alerts that may fire in the steady state before the first fault without failing it as a false
    #: page (name, and labels that must match).
    background_alerts: tuple[ExpectedAlert, ...] = ()
    #: impact: time_to_mitigate_s (limit), mitigated_share (of the pre-fault routing share), window_s.
    impact: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AbortCondition:
    kind: str  # error_ratio | burn_rate
    above: float
    window_s: float = 5.0
    min_queries: int = 20
    after_s: float = 0.0
    expr: str | None = None  # burn_rate: PromQL override
    engines: tuple[str, ...] = ()  # whose traffic; default: every engine under load

    def describe(self) -> str:
        what = "client error ratio" if self.kind == "error_ratio" else "SLO burn rate (Prometheus)"
        if self.engines:
            what += f" of {', '.join(self.engines)}"
        return f"{what} over {self.window_s:g}s > {self.above:g}" + (f" (after {self.after_s:g}s)"
                                                                       if self.after_s else "")


@dataclass(frozen=True)
class Rollback:
    action: str
    engine: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class BlastRadius:
    max_pods: int = 1
    min_ready_nodes_per_engine: int = 1
    allow_engine_outage: bool = False


@dataclass(frozen=True)
class SloConfig:
    objective: float = 0.999
    period_s: float = 12 * 3600.0  # the 'local' profile: Google's 30 days compressed 60x
    profile: str = "local"


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    load: LoadConfig
    method: tuple[Step, ...]
    hypothesis: Hypothesis
    abort: tuple[AbortCondition, ...]
    abort_check_every_s: float
    rollbacks: tuple[Rollback, ...]
    blast_radius: BlastRadius
    slo: SloConfig
    recovery_timeout_s: float
    source: str = "<experiment>"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: A game day runs the faults inside a maintenance window (no SLO budget burns) unless this is set.
    burn_budget: bool = False
    #: The fleet file it is written for, as written (relative to ``source``); None: any fleet with its engines.
    fleet: str | None = None

    @property
    def fleet_path(self) -> Path | None:
        """The fleet file it is written for, resolved against the experiment file's directory."""
        if self.fleet is None:
            return None
        path = Path(self.fleet)
        return path if path.is_absolute() else Path(os.path.normpath(Path(self.source).parent / path))

    @property
    def engines(self) -> tuple[str, ...]:
        """Engines the faults touch, in method order."""
        return tuple(dict.fromkeys(s.target.engine for s in self.method))

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(s.action for s in self.method)


# --- loading -------------------------------------------------------------------------------------------

@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return data


def field_path(parts: Iterable[Any]) -> str:
    """``method[1].target.mode`` from jsonschema's ``deque(['method', 1, 'target', 'mode'])``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_problems(data: Any, written: Mapping[str, str] | None = None) -> list[str]:
    """One ``path: reason`` per schema violation; ``written`` maps paths of converted durations to
    what the author wrote, so that a bound names ``'1h30m'`` and not only its seconds."""
    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        # oneOf failures say "is not valid under any of the given schemas"; the branch that got deepest
        # into the document is the one the author meant, and its error says why.
        while error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path = field_path(error.absolute_path)
        message = error.message
        if error.validator == "pattern" and error.validator_value == PATTERN:
            # The regular expression itself helps nobody: say what a duration looks like.
            message = f"{error.instance!r} does not match the duration grammar: use e.g. {EXAMPLES}"
        elif written and path in written:
            message = f"{written[path]!r} = {message}"
        problems.append(f"{path}: {message}")
    return list(dict.fromkeys(problems))


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref", "")
    return schema()["$defs"][ref.rsplit("/", 1)[-1]] if ref.startswith("#/$defs/") else node


def _properties(node: Mapping[str, Any]) -> dict[str, Any]:
    """The properties a value of ``node`` may have, its oneOf/anyOf/allOf branches' included."""
    props: dict[str, Any] = {}
    for branch in [node, *(b for key in ("oneOf", "anyOf", "allOf") for b in node.get(key, []))]:
        for name, sub in _resolve(branch).get("properties", {}).items():
            props.setdefault(name, sub)
    return props


def _seconds(data: Any, node: Mapping[str, Any], path: list[Any], problems: list[str],
             written: dict[str, str]) -> Any:
    """``data`` with every duration string the schema allows turned into seconds.

    Duration fields (``pattern`` is the one grammar's) take a number of seconds or a string such as
    ``1m30s``; once converted, the schema's bounds apply to both spellings alike. Fields that only
    take a string (``window``, ``period``) stay strings but must parse.
    """
    node = _resolve(node)
    if isinstance(data, str) and node.get("pattern") == PATTERN:
        takes_number = "number" in node.get("type", [])
        try:
            seconds = parse_duration(data, allow_zero=takes_number)
        except ValueError as e:
            problems.append(f"{field_path(path)}: {e}")
            return data
        if not takes_number:
            return data
        written[field_path(path)] = data
        return seconds
    if isinstance(data, dict):
        props = _properties(node)
        return {k: _seconds(v, props[k], [*path, k], problems, written) if k in props else v
                for k, v in data.items()}
    if isinstance(data, list) and isinstance(node.get("items"), dict):
        return [_seconds(v, node["items"], [*path, i], problems, written) for i, v in enumerate(data)]
    return data


def _build(data: Mapping[str, Any], source: str, raw: Mapping[str, Any]) -> Experiment:
    """The experiment from validated data (durations in seconds); ``raw`` is what was written, for the journal."""
    load = data["load"]
    method = []
    for i, s in enumerate(data["method"]):
        t = s["target"]
        busy = Busy(t["busy"]["min_in_flight"], t["busy"].get("wait_s", 5.0)) if "busy" in t else None
        stress = Stress(**s["stress"]) if "stress" in s else None
        method.append(Step(i, float(s["at_s"]), s["action"],
                           Target(t["engine"], t["mode"], t.get("value"), t.get("cluster"), t.get("pod"), busy),
                           s.get("duration_s"), s.get("version"), s.get("cpus"), s.get("memory_mb"), s.get("reject"),
                           s.get("probability"), stress, s.get("latency_ms"),
                           repeat=int(s.get("repeat", 1)), gap_s=s.get("gap_s"), query=s.get("query")))
    h = data["hypothesis"]
    alerts = h.get("alerts", {})
    hypothesis = Hypothesis(
        lost_queries=h.get("lost_queries", {}).get("max"),
        failed_queries=h.get("failed_queries", {}).get("max"),
        failed_read_queries=h.get("failed_read_queries", {}).get("max"),
        p99_latency_s=h.get("p99_latency_s", {}).get("max"),
        budget_consumed=h.get("budget_consumed", {}).get("max"),
        failover=dict(h.get("failover", {})),
        drain=dict(h.get("drain", {})),
        recovery_within_s=h.get("recovery", {}).get("within_s"),
        expect_alerts=tuple(ExpectedAlert(a["name"], dict(a.get("labels", {})), a.get("within_s"), a.get("within"))
                            for a in alerts.get("expect", [])),
        forbid_alerts=tuple(alerts.get("forbid", [])),
        background_alerts=tuple(ExpectedAlert(a) if isinstance(a, str) else ExpectedAlert(a["name"],
                                                                                         dict(a.get("labels", {})))
                                for a in alerts.get("background", [])),
        impact=dict(h.get("impact", {})),
    )
    abort = data.get("abort", {})
    conditions = []
    for c in abort.get("conditions", []):
        if "error_ratio" in c:
            e = c["error_ratio"]
            conditions.append(AbortCondition("error_ratio", e["above"], e.get("window_s", 5.0),
                                             e.get("min_queries", 20), e.get("after_s", 0.0),
                                             engines=tuple(e.get("engines", ()))))
        else:
            b = c["burn_rate"]
            conditions.append(AbortCondition("burn_rate", b["above"], parse_duration(b.get("window", "5s")),
                                             after_s=b.get("after_s", 0.0), expr=b.get("expr"),
                                             engines=tuple(b.get("engines", ()))))
    blast = data.get("blast_radius", {})
    slo = data.get("slo", {})
    return Experiment(
        name=data["name"], description=data.get("description", "").strip(),
        load=LoadConfig(float(load["qps"]), float(load["duration_s"]), tuple(load["engines"]),
                        tuple(load["kinds"]) if "kinds" in load else None, int(load.get("seed", 42)),
                        float(load.get("deadline_s", 10.0)),
                        tuple(float(load["weights"].get(e, 1.0)) for e in load["engines"]) if "weights" in load
                        else None),
        method=tuple(method), hypothesis=hypothesis, abort=tuple(conditions),
        abort_check_every_s=float(abort.get("check_every_s", 0.5)),
        rollbacks=tuple(Rollback(r["action"], r.get("engine"), float(r.get("timeout_s", 60.0)))
                        for r in data.get("rollbacks", [])),
        blast_radius=BlastRadius(int(blast.get("max_pods", 1)), int(blast.get("min_ready_nodes_per_engine", 1)),
                                 bool(blast.get("allow_engine_outage", False))),
        slo=SloConfig(float(slo.get("objective", 0.999)), parse_duration(slo.get("period", "12h")),
                      slo.get("profile", "local")),
        recovery_timeout_s=float(data.get("recovery_timeout_s", 60.0)),
        source=source, raw=dict(raw), burn_budget=bool(data.get("burn_budget", False)),
        fleet=data.get("fleet"),
    )


def _semantic_problems(exp: Experiment) -> list[str]:
    problems = [f"load.weights.{e}: not an engine of load.engines ({list(exp.load.engines)})"
                for e in exp.raw.get("load", {}).get("weights", {}) if e not in exp.load.engines]
    if exp.fleet_path is not None and exp.source != "<experiment>" and not exp.fleet_path.is_file():
        problems.append(f"fleet: no fleet file at {exp.fleet_path} (relative to the experiment's file)")
    for step in exp.method:
        if step.at_s >= exp.load.duration_s:
            problems.append(f"{step.path}.at_s: {step.at_s:g} is not before the end of the load "
                            f"(load.duration_s: {exp.load.duration_s:g}); a fault without load proves nothing")
        if step.target.engine not in exp.load.engines and step.action != "restart_gateway":
            problems.append(f"{step.path}.target.engine: {step.target.engine!r} receives no load "
                            f"(load.engines: {list(exp.load.engines)}); its verdicts would have no data")
        if step.duration_s is not None and step.action not in DURABLE_ACTIONS:
            problems.append(f"{step.path}.duration_s: {step.action} does not last; only "
                            f"{', '.join(sorted(DURABLE_ACTIONS))} take a duration")
        if step.version is not None and step.action != "blue_green_upgrade":
            problems.append(f"{step.path}.version: only blue_green_upgrade takes a version")
        problems += _repeat_problems(step, exp.load.duration_s)
        for name in step.params:
            if step.action not in PARAMETERS[name]:
                problems.append(f"{step.path}.{name}: {step.action} does not take it "
                                f"(only {', '.join(sorted(PARAMETERS[name]))})")
    h = exp.hypothesis
    if h.failover and not exp.actions & FAILOVER_ACTIONS:
        problems.append(f"hypothesis.failover: no step of the method is one of {sorted(FAILOVER_ACTIONS)}; "
                        "the failover verdict would judge nothing")
    if h.drain and not exp.actions & DRAIN_ACTIONS:
        problems.append(f"hypothesis.drain: no step of the method is one of {sorted(DRAIN_ACTIONS)}; "
                        "the drain verdict would judge nothing")
    for i, alert in enumerate(h.expect_alerts):
        if alert.within_s is None and alert.within is None:
            problems.append(f"hypothesis.alerts.expect[{i}]: needs within_s or within: page_detection")
    return problems


def _repeat_problems(step: Step, load_s: float) -> list[str]:
    if step.repeat == 1:
        return [f"{step.path}.gap_s: only a repeated step (repeat > 1) takes a gap"] if step.gap_s is not None else []
    if step.gap_s is None:
        return [f"{step.path}.repeat: {step.repeat} repetitions need gap_s, the recovery gap between them"]
    if step.action in ("blue_green_upgrade", "restart_gateway", "drain_engine"):
        return [f"{step.path}.repeat: {step.action} is an operation, not a fault to sample; it cannot repeat"]
    last = step.offsets[-1]
    if last >= load_s:
        return [f"{step.path}.repeat: repetition {step.repeat} would start at {last:g}s, not before the end of "
                f"the load (load.duration_s: {load_s:g}); lengthen the load, or lower repeat or gap_s"]
    return []


def parse_experiment(data: Any, source: str = "<experiment>") -> Experiment:
    """Validate already-parsed YAML; ``source`` names the file in error messages."""
    problems = _schema_problems(data)
    if problems:
        raise ExperimentError(source, problems)
    # Durations written as strings become seconds, and the schema's bounds are checked on them.
    parse_problems: list[str] = []
    written: dict[str, str] = {}
    seconds = _seconds(data, schema(), [], parse_problems, written)
    problems = parse_problems or _schema_problems(seconds, written)
    if problems:
        raise ExperimentError(source, problems)
    exp = _build(seconds, source, raw=data)
    problems = _semantic_problems(exp)
    if problems:
        raise ExperimentError(source, problems)
    return exp


def load_experiment(path: Path | str) -> Experiment:
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as e:
        raise ExperimentError(str(file), [f"(top level): cannot read: {e.strerror or e}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ExperimentError(str(file), [f"(top level): not valid YAML{where}: "
                                          f"{getattr(e, 'problem', None) or e}"]) from None
    return parse_experiment(data, str(file))
