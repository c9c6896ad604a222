"""Impact of one step's fault (all its repetitions), as on-call lives it: when was it detected, when
was it mitigated, and what did clients feel before, during and after.

- time to detect: from the (first) fault to the first firing of an alert the experiment expects
  (Prometheus' ``activeAt`` plus the rule's ``for``, as the alerts verdict times it);
- time to mitigate, per repetition: from the fault until the bad node's routing share — its fraction
  of the engine's queries answered by a node, by the pod each gateway response names, over a sliding
  window of the ledger — dropped to ``mitigated_share`` of what it was before the fault and stayed
  there while the fault acted; the slowest repetition counts. A dead or hung node answers nothing,
  so there the share falls at once (the failover verdict measures what clients lost); for a slow,
  throttled or lossy node, which still answers, it is the time the gateway took to route around it;
- p99 latency of the engine's queries (by start) before the first fault, while a fault acted (and
  ``SETTLE_S`` after), and after, each with its query count; other steps' fault windows are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from chaos.experiment import ExpectedAlert
from chaos.fault import Fault
from chaos.stats import sample_quantile
from chaos.verdicts.alerts import AlertObservation, matches
from chaos.verdicts.base import Criterion, Figures, Verdict, at_most
from chaos.verdicts.failover import SETTLE_S
from chaos.verdicts.queries import final_attempt_start
from loadgen.ledger import ABANDONED

#: Mitigated: the bad node's share is at most this fraction of its pre-fault share.
MITIGATED_SHARE = 0.05
#: The sliding window of the ledger over which the share is counted.
SHARE_WINDOW_S = 2.0
#: Operations that move traffic on purpose: there is no bad node to route around.
NOT_ROUTED_AROUND = frozenset({"blue_green_upgrade", "drain_engine", "restart_gateway"})


@dataclass(frozen=True)
class ImpactFigures(Figures):
    kind: ClassVar[str] = "impact"
    step: int
    action: str
    fault_ts: float  # the first repetition's
    pods: tuple[str, ...]
    repetitions: int
    time_to_detect_s: float | None  # None: no expected alert fired after the fault (or none is expected)
    detected_by: str | None
    time_to_mitigate_s: float | None  # the slowest repetition; None: one was not mitigated, or no share to cut
    mitigated: int  # repetitions whose share dropped and stayed down
    share_before: float | None  # the bad pods' share of answers before the (first) fault
    share_threshold: float | None
    share_window_s: float
    queries_before: int
    latency_before_p99_s: float | None
    queries_during: int
    latency_during_p99_s: float | None
    queries_after: int
    latency_after_p99_s: float | None


def _window(f: Fault) -> tuple[float, float]:
    return f.ts, f.end_ts + SETTLE_S


def _in_any(t: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    out = np.zeros(len(t), dtype=bool)
    for lo, hi in windows:
        out |= (t >= lo) & (t <= hi)
    return out


def latency_phases(df: pd.DataFrame, faults: Sequence[Fault], others: Sequence[Fault] = ()) -> dict[str, Any]:
    """Queries and p99 latency of the faults' engine before, during and after ``faults`` (by start)."""
    engine = faults[0].engine
    done = df[(df["engine"] == engine) & (df["status"] != ABANDONED)]
    start = done["start"].to_numpy(dtype=float)
    latency = (done["end"] - done["start"]).to_numpy(dtype=float)
    mine = [_window(f) for f in faults]
    elsewhere = _in_any(start, [_window(f) for f in others if f.engine == engine])
    during = _in_any(start, mine)
    first = min(f.ts for f in faults)
    phases = {"before": (start < first) & ~elsewhere & ~during, "during": during,
              "after": (start >= first) & ~during & ~elsewhere}
    out: dict[str, Any] = {}
    for name, mask in phases.items():
        values = latency[mask].tolist()
        out[f"queries_{name}"] = len(values)
        out[f"latency_{name}_p99_s"] = sample_quantile(values, 0.99) if values else None
    return out


def routed(df: pd.DataFrame, engine: str) -> pd.DataFrame:
    """The engine's queries a node answered, with ``t``: when the answering attempt began (the
    routing decision), sorted by it."""
    # Ledgers written before the load generator read a null pod as "" hold "None" there.
    answered = df[(df["engine"] == engine) & (df["http_status"] > 0) & ~df["pod"].fillna("").isin(["", "None"])]
    out = answered.assign(t=final_attempt_start(answered))
    return out.sort_values("t", kind="stable")


def share(times: np.ndarray, bad: np.ndarray, lo: float, hi: float) -> float | None:
    """The bad pods' share of the answers routed in [lo, hi); None without answers."""
    sel = (times >= lo) & (times < hi)
    n = int(sel.sum())
    return float(bad[sel].sum()) / n if n else None


def mitigated_at(times: np.ndarray, bad: np.ndarray, start: float, until: float, window_s: float,
                 threshold: float) -> float | None:
    """When routing around the bad pods took hold: the start of the first window ``(t - window_s, t]``
    after which the share of every window ending in ``[start, until]`` stayed at or below
    ``threshold`` (at a threshold near 0: the last answer routed to them). None if the share was still
    above it at ``until``.

    Answers routed before ``start`` are left out: they were routed before the fault. The share only
    changes when an answer enters a window (``t_i``) or leaves it (``t_i + window_s``), so those are
    the only moments to look at.
    """
    sel = (times >= start) & (times <= until)
    t, b = times[sel], bad[sel].astype(float)
    if not b.any():
        return start
    points = np.unique(np.concatenate([t, t + window_s, [until]]))
    points = points[(points >= start) & (points <= until)]
    cum = np.concatenate([[0.0], np.cumsum(b)])
    hi = np.searchsorted(t, points, side="right")
    lo = np.searchsorted(t, points - window_s, side="right")
    total = hi - lo
    above = np.where(total > 0, (cum[hi] - cum[lo]) / np.maximum(total, 1), 0.0) > threshold
    if not above.any():
        return start
    last = int(np.flatnonzero(above)[-1])
    return None if last == len(points) - 1 else max(start, float(points[last + 1]) - window_s)


def _bad_until(f: Fault, events: Sequence[Mapping[str, Any]], end: float) -> float:
    """Until when the pods are bad: a lasting fault until it is lifted; an instant one (a kill) until
    a replacement process of each pod is ready."""
    if f.end_ts > f.ts:
        return min(f.end_ts, end)
    back: dict[str, float] = {}
    for e in sorted(events, key=lambda e: float(e["ts"])):
        if e.get("kind") == "pod_ready" and e.get("pod") in f.pods and float(e["ts"]) > f.ts:
            back.setdefault(str(e["pod"]), float(e["ts"]))
    return min(max(back.values()), end) if back and len(back) == len(set(f.pods)) else end


def about(labels: Mapping[str, str], engine: str, pods: Sequence[str]) -> bool:
    """The alert may tell of this fault: it names no other engine, and no other pod. Several faults of one
    experiment can each be detected by the same alert rule, but only by its series about them."""
    return labels.get("engine", engine) == engine and (pods == () or labels.get("pod", pods[0]) in pods)


def impact_verdict(df: pd.DataFrame, events: Sequence[Mapping[str, Any]], faults: Sequence[Fault], *,
                   alerts: Sequence[AlertObservation] = (), expected: Sequence[ExpectedAlert] = (),
                   others: Sequence[Fault] = (), t0: float | None = None, t1: float | None = None,
                   goals: Mapping[str, float] | None = None) -> Verdict:
    """``faults``: the repetitions of one step; ``others``: every other fault of the experiment."""
    goals = goals or {}
    faults = sorted(faults, key=lambda f: f.ts)
    first = faults[0]
    ratio = float(goals.get("mitigated_share", MITIGATED_SHARE))
    window_s = float(goals.get("window_s", SHARE_WINDOW_S))
    end = float(t1) if t1 is not None else float(df["end"].max()) if len(df) else first.end_ts
    notes: list[str] = []

    pods = tuple(dict.fromkeys(p for f in faults for p in f.pods))
    detected, detected_by = None, None
    firing = sorted((o.active_at, o.name) for o in alerts if o.active_at is not None and o.active_at >= first.ts
                    and about(o.labels, first.engine, pods) and any(matches(o.name, o.labels, w) for w in expected))
    if firing:
        detected, detected_by = firing[0][0] - first.ts, firing[0][1]

    r = routed(df, first.engine)
    times, served_by = r["t"].to_numpy(dtype=float), r["pod"].to_numpy()
    engine_pods = set(served_by)
    mitigations: list[float | None] = []
    share_before = threshold = None
    unmeasured = 0
    if first.action in NOT_ROUTED_AROUND:
        notes.append(f"{first.action} is an operation of the platform, not a fault to route around: no "
                     "mitigation to time")
    elif not pods or any(engine_pods <= set(f.pods) for f in faults):
        notes.append("no routing share to cut: the fault took every node of the engine that answered, "
                     "or named no node")
    else:
        # The share each pod had in the steady state, before the step's first fault: a repetition's
        # pod may have just come back from the previous one, and have had no time to earn its share.
        lo = float(t0) if t0 is not None else -np.inf
        for i, f in enumerate(faults):
            until = _bad_until(f, events, faults[i + 1].ts if i + 1 < len(faults) else end)
            bad = np.isin(served_by, f.pods)
            before = share(times, bad, lo, first.ts)
            if i == 0:
                share_before = before
                threshold = None if before is None else ratio * before
            if not before:
                unmeasured += 1  # it answered nothing before the fault: no share to cut
                continue
            at = mitigated_at(times, bad, f.ts, until, window_s, ratio * before)
            mitigations.append(None if at is None else at - f.ts)
        if unmeasured:
            notes.append(f"{unmeasured} of {len(faults)} repetition(s) hit a node that answered nothing before "
                         "the fault: no share to cut, not timed")
    done = [m for m in mitigations if m is not None]
    time_to_mitigate = max(done) if done and len(done) == len(mitigations) else None
    if mitigations and len(done) < len(mitigations):
        notes.append(f"{len(mitigations) - len(done)} of {len(mitigations)} repetition(s) not mitigated: the "
                     f"node kept more than {ratio:g} of its share while the fault acted")

    phases = latency_phases(df, faults, others)
    figures = ImpactFigures(
        step=first.step, action=first.action, fault_ts=first.ts, pods=pods, repetitions=len(faults),
        time_to_detect_s=detected, detected_by=detected_by, time_to_mitigate_s=time_to_mitigate,
        mitigated=len(done), share_before=share_before, share_threshold=threshold, share_window_s=window_s,
        **phases)
    if expected and detected is None:
        notes.append("none of the expected alerts fired after the fault")
    criteria = (
        Criterion("time_to_detect_s", detected, "", None),
        at_most("time_to_mitigate_s", time_to_mitigate, goals.get("time_to_mitigate_s")),
    )
    times_label = f" x{len(faults)}" if len(faults) > 1 else ""
    return Verdict(f"step {first.step} {first.action}{times_label} {', '.join(pods) or first.target}", figures,
                   criteria, tuple(notes))
