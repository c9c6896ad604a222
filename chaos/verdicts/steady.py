"""Steady state: no alert may fire under load before the first fault. One that does is a false page —
on-call woken by a healthy platform — and the experiment fails, whatever its faults proved.

The evidence is Prometheus' own ``ALERTS`` series, firing and pending, sampled at every rule
evaluation, over the window from the start of the load to the first fault (plus a look-back, to tell
an alert that starts firing in the window from one still firing from before it). An alert firing
since before the window, or pending since before it and firing in it without a break (its ``for``
began counting before the load), is reported as carried over, not judged: it started before this
experiment's steady state (an earlier experiment's fault, say), and the runner already notes alerts
firing when the load starts. Exempt: alerts the experiment declares as background (``hypothesis.alerts.background``)
and dead man's switches (a rule whose expression is ``vector(1)``, the Watchdog convention), which
fire by design.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from alerts.rule import ALWAYS_FIRING_SEVERITY
from chaos.experiment import ExpectedAlert
from chaos.verdicts.alerts import label_summary, matches
from chaos.verdicts.base import Criterion, Figures, Verdict

#: Consecutive samples of one firing alert are one evaluation interval apart; a wider gap means it
#: resolved and fired again.
GAP_INTERVALS = 2.5


@dataclass(frozen=True)
class FalsePage:
    name: str
    labels: dict[str, str]
    fired_at: float  # the first evaluation that found it firing
    severity: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FalsePage:
        return cls(**data)


@dataclass(frozen=True)
class SteadyStateFigures(Figures):
    kind: ClassVar[str] = "steady_state"
    window_start: float  # the load's start
    window_end: float  # the first fault
    watched: bool  # False: no Prometheus answered, nothing could be seen
    false_pages: tuple[FalsePage, ...]
    background: tuple[str, ...]  # exempt alerts that fired in the window
    carried_over: tuple[str, ...]  # alerts firing since before the window

    @property
    def window_s(self) -> float:
        return self.window_end - self.window_start

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "false_pages": [p.to_dict() for p in self.false_pages]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SteadyStateFigures:
        return cls(data["window_start"], data["window_end"], data["watched"],
                   tuple(FalsePage.from_dict(p) for p in data["false_pages"]), tuple(data["background"]),
                   tuple(data["carried_over"]))


def firing_starts(timestamps: Sequence[float], interval_s: float) -> list[float]:
    """The evaluations at which a firing alert (one series' sample times) started firing again."""
    ts = sorted(timestamps)
    gap = GAP_INTERVALS * interval_s
    return [t for i, t in enumerate(ts) if i == 0 or t - ts[i - 1] > gap]


def _pending_since_before(pending: Sequence[float], start: float, fired: float, interval_s: float) -> bool:
    """The alert was pending before ``start`` and stayed pending until it fired at ``fired``."""
    run = [t for t in pending if t < fired]
    if not run or run[0] >= start:
        return False
    gap = GAP_INTERVALS * interval_s
    last_before = max(t for t in run if t < start)
    chain = [last_before] + [t for t in run if t >= start] + [fired]
    return all(b - a <= gap for a, b in zip(chain, chain[1:], strict=False))


def steady_state_verdict(series: Sequence[tuple[Mapping[str, str], Sequence[float]]], start: float, end: float, *,
                         background: Sequence[ExpectedAlert] = (), always_firing: Collection[str] = (),
                         interval_s: float = 1.0, watched: bool = True) -> Verdict:
    """``series``: (labels, sample times) of each ``ALERTS`` series, firing and pending (told apart by
    their ``alertstate`` label; one without it is firing), from a look-back before ``start`` up to
    ``end``. An alert pending since before ``start`` that fires inside the window is carried over."""
    pages: list[FalsePage] = []
    exempt: set[str] = set()
    carried: set[str] = set()
    pending: dict[tuple[tuple[str, str], ...], list[float]] = {}
    firing: list[tuple[dict[str, str], Sequence[float]]] = []
    for raw, times in series:
        labels = {k: v for k, v in raw.items() if k not in ("alertstate", "__name__")}
        if raw.get("alertstate") == "pending":
            pending[tuple(sorted(labels.items()))] = sorted(times)
        else:
            firing.append((labels, times))
    for labels, times in firing:
        name = labels.get("alertname", "")
        starts = firing_starts(times, interval_s)
        inside = [t for t in starts if start <= t < end]
        if inside and inside[0] == starts[0] and _pending_since_before(
                pending.get(tuple(sorted(labels.items())), []), start, inside[0], interval_s):
            # Its condition held before the load began: what ran before caused it, not this steady state.
            inside = inside[1:]
            carried.add(name)
        if any(t < start for t in times) and any(t >= start for t in times) and not inside:
            carried.add(name)
        if not inside:
            continue
        # severity "none" marks an alert that fires by design (the Watchdog), whatever its expression.
        if (name in always_firing or labels.get("severity") == ALWAYS_FIRING_SEVERITY
                or any(matches(name, labels, b) for b in background)):
            exempt.add(name)
            continue
        pages.append(FalsePage(name, labels, inside[0], labels.get("severity", "")))
    pages.sort(key=lambda p: (p.fired_at, p.name))
    figures = SteadyStateFigures(start, end, watched, tuple(pages), tuple(sorted(exempt)), tuple(sorted(carried)))
    notes = [f"false page: {p.name} {label_summary(p.labels)} fired at +{p.fired_at - start:.2f}s, "
             f"{end - p.fired_at:.2f}s before the first fault" for p in pages]
    if exempt:
        notes.append("fired but exempt (background): " + ", ".join(sorted(exempt)))
    if carried:
        notes.append("firing since before the load (not judged): " + ", ".join(sorted(carried)))
    if not watched:
        notes.append("no Prometheus answered: alerts in the steady state could not be observed")
        criterion = Criterion("alerts fired before the first fault", None, "", None)
    else:
        criterion = Criterion("alerts fired before the first fault", len(pages), "== 0", not pages)
    return Verdict(f"steady state, {end - start:.1f}s under load before the first fault", figures, (criterion,),
                   tuple(notes))
