"""Alerts that fired during the experiment against those expected (and forbidden).

An observation carries when the rule became active (Prometheus ``activeAt``: the detection) and when
Alertmanager first showed it (the delivery).

Page detection, as the SLO generator's promtool tests define it (slo/promtest.py): a total outage
crosses the fastest page tier's threshold after ``burn rate x error budget x long window`` in theory;
the generated rules measure errors over a base window from scraped counters, so the bound adds one
base window and one scrape, rounded up to an evaluation. The game day goal adds two evaluation
intervals to that bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from chaos.experiment import ExpectedAlert
from chaos.verdicts.base import Criterion, Figures, Verdict


@dataclass(frozen=True)
class AlertObservation:
    name: str
    labels: dict[str, str]
    active_at: float | None  # Prometheus: the evaluation that first found the condition true
    first_seen: float | None  # when the runner first saw it firing in Alertmanager (or Prometheus)
    severity: str = ""
    source: str = "alertmanager"
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertObservation:
        return cls(**data)


@dataclass(frozen=True)
class DetectionBudget:
    theoretical_s: float  # burn rate x error budget x long window: an ideal signal crossing the threshold
    bound_s: float  # plus a base window and a scrape of measurement delay, rounded up to an evaluation
    evaluation_interval_s: float
    tier: str

    @property
    def goal_s(self) -> float:
        return self.bound_s + 2 * self.evaluation_interval_s


@dataclass(frozen=True)
class PageDetection:
    """A detection budget's figures, as the journal keeps them (without the tier it came from)."""

    theoretical_s: float
    bound_s: float
    goal_s: float

    @classmethod
    def of(cls, budget: DetectionBudget) -> PageDetection:
        return cls(budget.theoretical_s, budget.bound_s, budget.goal_s)


@dataclass(frozen=True)
class AlertTiming:
    """An expected alert, from the fault: when Prometheus found it true, when Alertmanager showed it."""

    name: str
    detected_s: float | None  # None: it never fired (with the expected labels)
    delivered_s: float | None


@dataclass(frozen=True)
class AlertFigures(Figures):
    """The journal spells each expected alert's timings ``<name>_detected_s`` and ``<name>_delivered_s``."""

    kind: ClassVar[str] = "alerts"
    fired: tuple[str, ...]  # names, sorted
    fault_ts: float
    page_detection: PageDetection | None = None
    expected: tuple[AlertTiming, ...] = ()

    @property
    def detected(self) -> dict[str, float | None]:
        """Seconds to detection by alert name (an alert expected twice: the later expectation's)."""
        return {t.name: t.detected_s for t in self.expected}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fired": list(self.fired), "fault_ts": self.fault_ts}
        if self.page_detection is not None:
            out["page_detection_theoretical_s"] = self.page_detection.theoretical_s
            out["page_detection_bound_s"] = self.page_detection.bound_s
            out["page_detection_goal_s"] = self.page_detection.goal_s
        for t in self.expected:
            out[f"{t.name}_detected_s"] = t.detected_s
            out[f"{t.name}_delivered_s"] = t.delivered_s
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertFigures:
        detection = None
        if "page_detection_goal_s" in data:
            detection = PageDetection(data["page_detection_theoretical_s"], data["page_detection_bound_s"],
                                      data["page_detection_goal_s"])
        suffix = "_detected_s"
        names = [k[: -len(suffix)] for k in data if k.endswith(suffix)]
        expected = tuple(AlertTiming(n, data[f"{n}{suffix}"], data.get(f"{n}_delivered_s")) for n in names)
        return cls(tuple(data["fired"]), data["fault_ts"], detection, expected)


def page_detection(objective: float, tiers: Sequence[tuple[str, str, float, float]], *, base_window_s: float,
                   scrape_interval_s: float, evaluation_interval_s: float) -> DetectionBudget:
    """``tiers``: (name, severity, burn rate, long window s), in profile order; the first page tier pages
    first (the fastest), as in slo/promtest.py."""
    for name, severity, burn, long_w in tiers:
        if severity != "page" or burn * (1 - objective) >= 1:
            continue
        theoretical = burn * (1 - objective) * long_w
        bound = math.ceil((theoretical + base_window_s + scrape_interval_s) / evaluation_interval_s)
        return DetectionBudget(theoretical, bound * evaluation_interval_s, evaluation_interval_s, name)
    raise ValueError("no page tier can fire at this objective")


def local_page_detection(objective: float) -> DetectionBudget:
    """The 'local' window profile of slo/ (1 s scrapes and evaluations, 3 s base window)."""
    from slo.windows import LOCAL

    tiers = [(t.name, t.severity, float(t.burn_rate(LOCAL.period)), float(t.long_window)) for t in LOCAL.tiers]
    return page_detection(objective, tiers, base_window_s=LOCAL.base_window, scrape_interval_s=LOCAL.scrape_interval,
                          evaluation_interval_s=LOCAL.interval)


def matches(name: str, labels: Mapping[str, str], want: ExpectedAlert) -> bool:
    """The alert is the one wanted: same name, and every label the expectation names."""
    return name == want.name and all(labels.get(k) == v for k, v in want.labels.items())


def alerts_verdict(observed: Sequence[AlertObservation], expected: Sequence[ExpectedAlert],
                   forbidden: Sequence[str], fault_ts: float, *,
                   detection: DetectionBudget | None = None) -> Verdict:
    criteria = []
    timings: list[AlertTiming] = []
    for want in expected:
        hits = [o for o in observed if matches(o.name, o.labels, want)]
        limit = want.within_s
        if want.within == "page_detection":
            limit = detection.goal_s if detection is not None else None
        detected = min((o.active_at for o in hits if o.active_at is not None), default=None)
        delivered = min((o.first_seen for o in hits if o.first_seen is not None), default=None)
        delay = None if detected is None else detected - fault_ts
        timings.append(AlertTiming(want.name, delay, None if delivered is None else delivered - fault_ts))
        if limit is None:
            criteria.append(Criterion(f"{want.name} fired", bool(hits), "fired (no time limit known)", bool(hits)))
        else:
            criteria.append(Criterion(f"{want.name} fired within", delay, f"<= {limit:.3g} s",
                                      delay is not None and delay <= limit))
    for name in forbidden:
        hits = [o for o in observed if o.name == name]
        criteria.append(Criterion(f"{name} did not fire", not hits, "== True", not hits))
    notes = [f"{o.name} {label_summary(o.labels)}: active {_rel(o.active_at, fault_ts)}, "
             f"seen {_rel(o.first_seen, fault_ts)}" for o in observed]
    figures = AlertFigures(tuple(sorted({o.name for o in observed})), fault_ts,
                           None if detection is None else PageDetection.of(detection), tuple(timings))
    return Verdict("alerts during the experiment", figures, tuple(criteria), tuple(notes))


def label_summary(labels: Mapping[str, str]) -> str:
    """The labels that tell one alert from another in a report line."""
    keep = {k: v for k, v in labels.items() if k in ("engine", "severity", "slo", "slo_tier", "cluster", "pod")}
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(keep.items())) + "}"


def _rel(ts: float | None, t0: float) -> str:
    return "?" if ts is None else f"{ts - t0:+.2f}s"
