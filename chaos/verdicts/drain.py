"""Drain: a node told to stop (SIGTERM) must stop taking queries at once, finish the ones it has within
the grace period, and exit 0.

Per drained pod:
- routed after unready: queries the client sent after the SIGTERM that the draining process answered
  (the node refuses new work once draining; a restarted process of the same pod is fair game). The
  client's send time is certain where an estimate of the attempt's start is not: under CPU pressure the
  answer's trip back inflates it;
- failed in flight: queries running or queued on the pod at the SIGTERM (the node's own count, read just
  before) that did not finish there, plus any query the pod answered with a platform error meanwhile;
- exit code and drain time from the platform's events (``drain_finished``, else ``pod_exited``).

A drain with nothing in flight is reported as not exercised: it proves the exit, not the draining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import pandas as pd

from chaos.fault import Fault
from chaos.verdicts.base import Criterion, Figures, Verdict, at_least, at_most, equals
from chaos.verdicts.queries import platform_failed

#: Clock tolerance for "sent after the SIGTERM" (the event's timestamp and the client's are both
#: wall clock on one machine, taken a few calls apart).
TOLERANCE_S = 0.05


@dataclass(frozen=True)
class PodDrain:
    """One drained pod's figures (the verdict's figures add them up)."""

    pod: str
    term_ts: float
    in_flight_at_term: int | None  # None: the pod's own count could not be read before the SIGTERM
    finished_in_flight: int
    failed_in_flight: int
    routed_after_unready: int
    exit_code: int | None  # None: no exit seen
    drain_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PodDrain:
        return cls(**data)


@dataclass(frozen=True)
class DrainFigures(Figures):
    kind: ClassVar[str] = "drain"
    step: int
    action: str
    pods: tuple[str, ...]
    in_flight_at_term: int
    finished_in_flight: int
    failed_in_flight: int
    routed_after_unready: int
    exit_code: int | None  # the first non-zero exit of the drained pods, else 0; None without pods
    drain_s: float | None  # the slowest drain; None when a pod's exit was not seen
    grace_s: float
    per_pod: tuple[PodDrain, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "per_pod": [p.to_dict() for p in self.per_pod]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrainFigures:
        return cls(data["step"], data["action"], tuple(data["pods"]), data["in_flight_at_term"],
                   data["finished_in_flight"], data["failed_in_flight"], data["routed_after_unready"],
                   data["exit_code"], data["drain_s"], data["grace_s"],
                   tuple(PodDrain.from_dict(p) for p in data["per_pod"]))


def _term_ts(events: Sequence[Mapping[str, Any]], fault: Fault, pod: str) -> float:
    for e in events:
        if e.get("pod") != pod or float(e["ts"]) < fault.ts - 1:
            continue
        if e.get("kind") == "drain_started" or (e.get("kind") == "pod_signaled" and e.get("signal") == "SIGTERM"):
            return float(e["ts"])
    return fault.ts


def _exit(events: Sequence[Mapping[str, Any]], pod: str, after: float) -> tuple[int | None, float | None]:
    """(exit code, seconds from ``after``) of the pod's first exit after ``after``."""
    for e in events:
        if e.get("pod") != pod or float(e["ts"]) < after:
            continue
        if e.get("kind") == "drain_finished":
            return e.get("exit_code"), float(e.get("seconds", float(e["ts"]) - after))
        if e.get("kind") == "pod_exited":
            return e.get("returncode"), float(e["ts"]) - after
    return None, None


def drain_figures(df: pd.DataFrame, events: Sequence[Mapping[str, Any]], fault: Fault, pod: str) -> PodDrain:
    term = _term_ts(events, fault, pod)
    code, seconds = _exit(events, pod, term)
    exit_ts = term + seconds if seconds is not None else float("inf")
    on_pod = df[df["pod"] == pod]
    # Answered by the process that was told to drain: it ended before that process exited.
    old_process = on_pod[(on_pod["end"] >= term) & (on_pod["end"] <= exit_ts + TOLERANCE_S)]
    routed_after = old_process[old_process["start"] > term + TOLERANCE_S]
    in_flight_rows = old_process[old_process["start"] <= term + TOLERANCE_S]
    finished = int((in_flight_rows["status"] == "ok").sum())
    errored = int(platform_failed(on_pod[(on_pod["end"] >= term) & (on_pod["end"] <= exit_ts + 1)]).sum())
    in_flight = fault.in_flight.get(pod)
    failed = max(0, (in_flight or 0) - finished) + errored
    return PodDrain(pod, term, in_flight, finished, failed, int(len(routed_after)), code, seconds)


def drain_verdict(df: pd.DataFrame, events: Sequence[Mapping[str, Any]], fault: Fault, *, grace_s: float,
                  goals: Mapping[str, float] | None = None, require_in_flight: bool = True) -> Verdict:
    """``goals`` None: figures only (plus the injection check); a mapping judges every criterion, with
    the contract's defaults (0 failed, 0 routed after unready, exit 0, within the grace) for the unset."""
    per_pod = [drain_figures(df, events, fault, pod) for pod in fault.pods]
    worst_code = next((p.exit_code for p in per_pod if p.exit_code != 0), 0 if per_pod else None)
    drain_times = [p.drain_s for p in per_pod if p.drain_s is not None]
    figures = DrainFigures(
        step=fault.step,
        action=fault.action,
        pods=tuple(p.pod for p in per_pod),
        in_flight_at_term=sum(p.in_flight_at_term or 0 for p in per_pod),
        finished_in_flight=sum(p.finished_in_flight for p in per_pod),
        failed_in_flight=sum(p.failed_in_flight for p in per_pod),
        routed_after_unready=sum(p.routed_after_unready for p in per_pod),
        exit_code=worst_code,
        # One drain not seen to end leaves the slowest unknown.
        drain_s=max(drain_times) if per_pod and len(drain_times) == len(per_pod) else None,
        grace_s=grace_s,
        per_pod=tuple(per_pod),
    )
    notes = []
    if any(p.exit_code is None for p in per_pod):
        notes.append("no exit seen for " + ", ".join(p.pod for p in per_pod if p.exit_code is None))
    if figures.in_flight_at_term == 0:
        notes.append("no query was in flight at the SIGTERM: the drain was not exercised")
    judge = goals is not None
    g = dict(goals or {})
    criteria = [
        Criterion("fault_injected", fault.injected, "== True", fault.injected),
        at_most("failed_in_flight", figures.failed_in_flight, g.get("failed_in_flight", 0) if judge else None),
        at_most("routed_after_unready", figures.routed_after_unready,
                g.get("routed_after_unready", 0) if judge else None),
        equals("exit_code", worst_code, int(g.get("exit_code", 0)) if judge else None),
        at_most("drain_s", figures.drain_s, g.get("drain_s", grace_s) if judge else None),
    ]
    if judge and require_in_flight:
        criteria.append(at_least("in_flight_at_term", figures.in_flight_at_term, 1))
    return Verdict(f"step {fault.step} {fault.action} {', '.join(fault.pods)}", figures, tuple(criteria),
                   tuple(notes))
