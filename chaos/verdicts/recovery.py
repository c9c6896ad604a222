"""Recovery: how long until the capacity the faults took is back (every engine at its desired ready nodes).

Readiness is replayed from the platform's events, starting from the ready pods at the start of the
experiment: ``pod_ready`` adds a pod, ``pod_unready``/``pod_exited``/``pod_unhealthy``/``drain_started``
remove it. Measured from the moment the last fault stopped acting (a deliberate 10 s outage is not
slow recovery), and also from the first fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from chaos.fault import Fault
from chaos.verdicts.base import Figures, Verdict, at_most

_DOWN = frozenset({"pod_unready", "pod_exited", "pod_unhealthy", "drain_started"})


@dataclass(frozen=True)
class RecoveryFigures(Figures):
    kind: ClassVar[str] = "recovery"
    time_to_recover_s: float | None  # from the last fault's end; None: not back by the end
    recovered_after_first_fault_s: float | None
    lowest_ready_nodes: dict[str, int]  # per engine
    desired_nodes: dict[str, int]


def capacity_timeline(events: Iterable[Mapping[str, Any]],
                      ready_at_start: Mapping[str, str]) -> list[tuple[float, dict[str, int]]]:
    """[(ts, ready nodes per engine)] after each readiness change; ``ready_at_start`` maps pod -> engine."""
    ready = dict(ready_at_start)
    out = []
    for e in sorted(events, key=lambda e: (float(e["ts"]), e.get("seq", 0))):
        pod, kind = e.get("pod"), e.get("kind")
        if not pod:
            continue
        if kind == "pod_ready":
            ready[pod] = str(e.get("engine"))
        elif kind in _DOWN:
            ready.pop(pod, None)
        else:
            continue
        counts: dict[str, int] = {}
        for engine in ready.values():
            counts[engine] = counts.get(engine, 0) + 1
        out.append((float(e["ts"]), counts))
    return out


def recovered_at(timeline: Sequence[tuple[float, dict[str, int]]], desired: Mapping[str, int], after: float,
                 at_start: Mapping[str, int]) -> float | None:
    """The last moment after ``after`` when every engine got back to its desired ready count (and stayed)."""
    def full(counts: Mapping[str, int]) -> bool:
        return all(counts.get(engine, 0) >= n for engine, n in desired.items())

    state_ok = full(at_start)
    last_ok_since: float | None = after if state_ok else None
    for ts, counts in timeline:
        now_ok = full(counts)
        if now_ok and not state_ok:
            last_ok_since = ts
        elif not now_ok:
            last_ok_since = None
        state_ok = now_ok
    if last_ok_since is None:
        return None
    return max(last_ok_since, after)


def recovery_verdict(events: Sequence[Mapping[str, Any]], faults: Sequence[Fault], ready_at_start: Mapping[str, str],
                     desired: Mapping[str, int], *, within_s: float | None = None) -> Verdict:
    injected = [f for f in faults if f.injected] or list(faults)
    first = min((f.ts for f in injected), default=0.0)
    lifted = max((f.end_ts for f in injected), default=0.0)
    timeline = capacity_timeline(events, ready_at_start)
    start_counts: dict[str, int] = {}
    for engine in ready_at_start.values():
        start_counts[engine] = start_counts.get(engine, 0) + 1
    # Capacity may already be back when the last fault ends: judge from the first fault on.
    back = recovered_at([t for t in timeline if t[0] >= first], desired, lifted, start_counts)
    lowest = {engine: min([start_counts.get(engine, 0)] + [c.get(engine, 0) for ts, c in timeline if ts >= first])
              for engine in desired}
    recover_s = None if back is None else back - lifted
    figures = RecoveryFigures(recover_s, None if back is None else back - first, lowest, dict(desired))
    notes = [] if back is not None else ["capacity was not back by the end of the observation"]
    return Verdict("capacity of " + ", ".join(sorted(desired)), figures,
                   (at_most("time_to_recover_s", recover_s, within_s),), tuple(notes))
