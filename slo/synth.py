"""Raw input series that make an SLI report a chosen error ratio, for generated tests and backfills.

Only selector-based SLIs can be synthesized: we know which series they read and which label values
make an event good or bad. Free-form templates are refused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from foundation.promql import Matcher, Selector
from slo.history import History
from slo.model import SLO, EventsSLI
from slo.promql import SelectorQuery

_FALLBACKS = ("ok", "200", "500", "429", "timeout", "internal", "x", "1", "0", "")


class CannotSynthesize(ValueError):
    pass


def _regex_candidates(pattern: str) -> list[str]:
    body = pattern.strip("^$")
    while body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    alts = [re.sub(r"\\d|\.", "0", a).replace("\\", "") for a in body.split("|")]
    return [a for a in alts if not re.search(r"[][()*+?{}]", a)]


def _satisfy(m: Matcher) -> str | None:
    """A label value matching ``m`` (None: leave the label out, which matches)."""
    if m.matches({}):
        return None
    candidates = [m.value] if m.op == "=" else [*(_regex_candidates(m.value) if m.op == "=~" else []),
                                                *_FALLBACKS]
    for value in candidates:
        if m.matches({m.name: value}):
            return value
    raise CannotSynthesize(f"no label value found for matcher {m.promql()}")


def labels_for(matchers: tuple[Matcher, ...], base: dict[str, str] | None = None) -> dict[str, str]:
    labels = dict(base or {})
    for m in matchers:
        if m.matches(labels):
            continue
        value = _satisfy(m)
        if value is None:
            labels.pop(m.name, None)
        else:
            labels[m.name] = value
    if not all(m.matches(labels) for m in matchers):
        raise CannotSynthesize("conflicting label matchers: " + ", ".join(m.promql() for m in matchers))
    return labels


def labels_failing(matchers: tuple[Matcher, ...], base: dict[str, str]) -> dict[str, str]:
    """``base`` changed so that at least one of ``matchers`` fails (the other kind of event)."""
    for m in matchers:
        for value in ("", *_FALLBACKS, "other"):
            trial = {**base, m.name: value} if value else {k: v for k, v in base.items() if k != m.name}
            if not m.matches(trial):
                return trial
    raise CannotSynthesize("every label value matches " + ", ".join(m.promql() for m in matchers))


@dataclass(frozen=True)
class CounterSeries:
    """A counter and its increments per second in each phase of a scenario."""

    name: str
    labels: dict[str, str]
    role: str  # total | bad | good | other: which events it counts

    def promql(self) -> str:
        return Selector.series(self.name, self.labels).promql()


@dataclass(frozen=True)
class Plan:
    """How bad and total events map to counters: ``rate(series, total, bad)`` is each one's rate."""

    series: tuple[CounterSeries, ...]

    def rate(self, series: CounterSeries, total: Fraction, bad: Fraction) -> Fraction:
        return {"total": total, "bad": bad, "good": total - bad, "other": total - bad}[series.role]


def plan(slo: SLO, group: dict[str, str] | None = None) -> Plan:
    """Counters such that the SLI sees ``total`` events/s of which ``bad`` are bad."""
    sli = slo.sli
    if not isinstance(sli, EventsSLI):
        raise CannotSynthesize(f"SLO {slo.id}: a raw error-ratio SLI has no events to synthesize")
    events = sli.bad or sli.good
    if not isinstance(sli.total, SelectorQuery) or not isinstance(events, SelectorQuery):
        raise CannotSynthesize(f"SLO {slo.id}: free-form PromQL queries cannot be synthesized; "
                               "use selectors or write the test input by hand")
    group = group or {label: "test" for label in sli.group_by}
    total_sel: Selector = sli.total.selector
    ev_sel: Selector = events.selector
    kind = "bad" if sli.bad is not None else "good"
    if ev_sel.metric == total_sel.metric:
        # The total selector also matches the event series: split total into events and the rest.
        ev_labels = labels_for((*total_sel.matchers, *ev_sel.matchers), group)
        rest = _outside(ev_sel.matchers, total_sel.matchers, ev_labels)
        if rest is None:
            raise CannotSynthesize(f"SLO {slo.id}: cannot find a total series outside {ev_sel.promql()}")
        series = (CounterSeries(ev_sel.metric, ev_labels, kind),
                  CounterSeries(total_sel.metric, rest, "other" if kind == "bad" else "bad"))
    else:
        series = (CounterSeries(total_sel.metric, labels_for(total_sel.matchers, group), "total"),
                  CounterSeries(ev_sel.metric, labels_for(ev_sel.matchers, group), kind))
    return Plan(series)


def _outside(events: tuple[Matcher, ...], total: tuple[Matcher, ...], base: dict[str, str]) -> dict[str, str] | None:
    """Labels that ``total`` matches and ``events`` does not, or None.

    One event matcher at a time is made to fail: failing one the total selector also requires
    (``job="x"`` in both) would be undone when the total's matchers are satisfied again.
    """
    for m in events:
        try:
            trial = labels_for(total, labels_failing((m,), base))
        except CannotSynthesize:
            continue
        if not all(e.matches(trial) for e in events):
            return trial
    return None


def exact_rates(slo: SLO, burn: Fraction, scale: int = 1) -> tuple[Fraction, Fraction]:
    """(total, bad) events per second whose ratio is exactly ``burn × budget`` in binary floats too.

    Integer rates keep every sum exact, so "1× burn" compares as exactly equal to the threshold.
    """
    ratio = burn * slo.error_budget
    if ratio > 1:
        raise ValueError("error ratio above 1")
    total = Fraction(ratio.denominator * scale)
    while total < 10:
        total *= 10
    return total, total * ratio


def counter_runs(phases: list[tuple[int, Fraction]], scrape: int) -> list[tuple[Fraction, Fraction, int]]:
    """(first value, increment per scrape, samples) of a counter scraped every ``scrape`` s.

    ``phases`` are (samples, per-second rate); the counter continues across phases, each phase's
    first sample already one increment of the new rate above the last one.
    """
    runs = []
    value: Fraction | None = None
    for samples, rate in phases:
        inc = rate * scrape
        start = Fraction(0) if value is None else value + inc
        runs.append((start, inc, samples))
        value = start + inc * (samples - 1)
    return runs


def counter_values(phases: list[tuple[int, Fraction]], scrape: int) -> str:
    """promtool expanding notation (``start+incxN``) of ``counter_runs``."""
    runs = counter_runs(phases, scrape)
    if any(inc.denominator != 1 for _, inc, _ in runs):
        raise ValueError("per-scrape increments must be whole numbers")
    return " ".join(f"{int(start)}+{int(inc)}x{samples - 1}" for start, inc, samples in runs)


# --- synthetic history (backfills, backtests, benchmarks) ------------------------------------------

@dataclass(frozen=True)
class Incident:
    start: int  # seconds from the start of the history
    duration: int
    error_ratio: float


def diurnal(n: int, step: int, low: float, high: float, phase: float = 0.0) -> np.ndarray:
    """Events per second swinging between ``low`` and ``high`` once a day (10× swings: 10 → 100)."""
    t = np.arange(n) * step
    return low + (high - low) * 0.5 * (1 + np.sin(2 * np.pi * (t / 86400 + phase)))


def error_ratios(n: int, step: int, baseline: np.ndarray | float, incidents: list[Incident]) -> np.ndarray:
    ratio = np.broadcast_to(np.asarray(baseline, dtype=float), (n,)).copy()
    t = np.arange(n) * step
    for inc in incidents:
        sel = (t >= inc.start) & (t < inc.start + inc.duration)
        ratio[sel] = np.maximum(ratio[sel], inc.error_ratio)
    return ratio


def fleet(n_slos: int, days: int = 30, step: int = 60, seed: int = 0,
          incidents_per_slo: int = 2) -> tuple[list[SLO], History, pd.DataFrame]:
    """A fleet of synthetic SLOs with daily 10× traffic swings, noise and labelled incidents.

    Returns the SLOs, their per-interval history and the incidents (slo, start, end) injected.
    """
    from slo.model import EventsSLI

    rng = np.random.default_rng(seed)
    n = days * 86400 // step
    objectives = rng.choice([Fraction(999, 1000), Fraction(995, 1000), Fraction(99, 100)], n_slos)
    query = SelectorQuery(Selector("synthetic_events_total"))
    slos = [SLO(service="fleet", name=f"slo-{i:04d}", objective=objectives[i],
                sli=EventsSLI(total=query, bad=query)) for i in range(n_slos)]
    t = np.arange(n) * step
    low = rng.uniform(1, 20, n_slos)[:, None]
    phase = rng.uniform(0, 1, n_slos)[:, None]
    rate = low + 9 * low * 0.5 * (1 + np.sin(2 * np.pi * (t[None, :] / 86400 + phase)))
    total = rng.poisson(rate * step).astype(np.float64)
    budget = np.array([float(1 - o) for o in objectives])[:, None]
    ratio = np.broadcast_to(budget * rng.uniform(0.05, 0.5, (n_slos, 1)), (n_slos, n)).copy()
    rows = []
    index = pd.date_range("2026-01-01", periods=n, freq=f"{step}s", tz="UTC")
    for i in range(n_slos):
        for _ in range(incidents_per_slo):
            duration = int(rng.choice([5, 20, 60, 240, 1440]) * 60)
            burn = float(rng.choice([2, 5, 20, 100, 1000]))
            a = int(rng.integers(3 * 86400 // step, n - duration // step - 1))
            b = a + duration // step
            ratio[i, a:b] = np.minimum(1.0, budget[i, 0] * burn)
            rows.append((slos[i].id, index[a] - pd.Timedelta(seconds=step), index[b - 1]))
    errors = rng.binomial(total.astype(np.int64), ratio).astype(np.float64)
    ids = [s.id for s in slos]
    history = History(pd.DataFrame(errors.T, index=index, columns=ids),
                      pd.DataFrame(total.T, index=index, columns=ids), step)
    return slos, history, pd.DataFrame(rows, columns=["slo", "start", "end"])
