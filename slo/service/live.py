"""Live SLO state: slo's evaluator (``slo.evaluate``) run against the current Prometheus, per request.

The evaluator reads the series the generated rules record, with the rules' own ratio-of-sums PromQL,
so the page can never disagree with the alerts. The window profile is the one the rules in
Prometheus were generated for (the ``profile`` label of ``slo:info``) unless the service was started
with ``--profile``: evaluating a 30-day profile on rules recorded for the 12-hour local one would
show budgets of a period that nothing records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from foundation.durations import format_duration
from foundation.prometheus import MAX_POINTS, PrometheusClient, PrometheusUnavailable, finite
from slo import evaluate, series
from slo.model import SLO, Tier
from slo.service.source import (
    BadRequest,
    BudgetSeries,
    BurnDown,
    DataSourceDown,
    ErrorHook,
    GroupState,
    PrometheusLocator,
    SLOState,
    TierState,
    UnknownSLO,
    WindowState,
    data_source_error,
)
from slo.windows import PROFILES, WindowProfile, apply_profile, effective_tiers, get_profile, profile_for

T = TypeVar("T")
_DROP = {"__name__", series.SLO_LABEL}


def group_labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(labels.items()) if k not in _DROP}


@dataclass(frozen=True)
class Resolved:
    slo: SLO  # with the period of ``profile``
    profile: WindowProfile

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return effective_tiers(self.slo, self.profile)


class LiveSource:
    def __init__(self, slos: list[SLO], locator: PrometheusLocator, profile: str | None = None,
                 on_error: ErrorHook | None = None, workers: int = 4) -> None:
        self._slos = {s.id: s for s in slos}
        self.locator = locator
        self.profile = get_profile(profile) if profile else None
        self._on_error = on_error or (lambda _kind: None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slo-eval")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.locator.close()

    # --- catalog -------------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return sorted(self._slos)

    @property
    def slos(self) -> list[SLO]:
        return [self._slos[n] for n in self.names]

    def spec(self, name: str) -> SLO:
        try:
            return self._slos[name]
        except KeyError:
            raise UnknownSLO(name, self.names) from None

    def resolve(self, slo: SLO, deployed: dict[str, str] | None = None) -> Resolved:
        """The SLO under the forced profile, else the one its rules were generated for, else its own."""
        name = self.profile.name if self.profile else (deployed or {}).get(slo.id)
        if name in PROFILES:
            profile = PROFILES[name]
            return Resolved(apply_profile(slo, profile), profile)
        return Resolved(slo, profile_for(slo))

    # --- Prometheus ----------------------------------------------------------------------------------

    def call(self, fn: Callable[[PrometheusClient], T]) -> T:
        """``fn`` with a client of the current Prometheus; its failures become DataSourceDown."""
        try:
            return fn(self.locator.client())
        except PrometheusUnavailable as exc:  # slo.errors.DataSourceError is the same class
            self._on_error(exc.kind)
            raise data_source_error(exc) from None
        except DataSourceDown as exc:
            self._on_error(exc.kind)
            raise

    def deployed_profiles(self) -> dict[str, str]:
        """SLO id → the window profile its rules in Prometheus were generated for (``slo:info``)."""
        if self.profile:
            return {}
        samples = self.call(lambda c: c.query(series.INFO))
        return {s.labels[series.SLO_LABEL]: s.labels.get("profile", "") for s in samples
                if series.SLO_LABEL in s.labels}

    # --- state ---------------------------------------------------------------------------------------

    def states(self, at: float | None = None) -> list[SLOState]:
        """Every SLO's state, evaluated at ``at`` (unix seconds; default Prometheus's now)."""
        deployed = self.deployed_profiles()
        futures = [self._pool.submit(self._state, self.resolve(slo, deployed), at) for slo in self.slos]
        return [f.result() for f in futures]

    def state(self, name: str, at: float | None = None) -> SLOState:
        slo = self.spec(name)
        return self._state(self.resolve(slo, self.deployed_profiles()), at)

    def _state(self, r: Resolved, at: float | None = None) -> SLOState:
        # Fails with PrometheusUnavailable, whose message the API and the page show.
        report = self.call(lambda c: evaluate.evaluate(r.slo, c, r.profile, at))
        tiers = r.tiers
        groups = [_group(r.slo, tiers, g) for g in report.groups]
        # No series at all is still one row on the page and in the API: the SLO, with no data.
        return SLOState(r.slo, r.profile, tiers, tuple(groups or [_no_data(r.slo, tiers)]))

    # --- history -------------------------------------------------------------------------------------

    def burn_down(self, name: str, range_s: int | None = None, step: int | None = None,
                  end: float | None = None) -> BurnDown:
        """The recorded budget-remaining series on a regular grid, None where nothing was recorded.

        Defaults: the whole period in about 300 steps, never finer than the rules' evaluation
        interval. Between two runs of the (slower) budget rules a short range shows steps: the
        recorded value holds until the next run, which is what Prometheus knows.
        """
        r = self.resolve(self.spec(name), self.deployed_profiles())
        range_s = range_s or r.slo.period
        step = step or max(r.profile.interval, math.ceil(range_s / 300))
        n = range_s // step + 1
        if n > MAX_POINTS:
            raise BadRequest(f"{n} points of {step}s in {format_duration(range_s)}; Prometheus returns at most "
                             f"{MAX_POINTS} per series: lengthen the step or shorten the range")
        stop = math.floor((time.time() if end is None else end) / step) * step
        start = stop - (n - 1) * step
        expr = series.selector(series.BUDGET_REMAINING, r.slo.id)
        found = self.call(lambda c: c.query_range(expr, start, stop, step))
        out = []
        for s in found:
            values = {round((t - start) / step): finite(v) for t, v in s.points}
            out.append(BudgetSeries(group_labels(s.labels), [(start + i * step, values.get(i)) for i in range(n)]))
        return BurnDown(r.slo, start, stop, step, sorted(out, key=lambda b: sorted(b.labels.items())))


def _no_data(slo: SLO, tiers: tuple[Tier, ...]) -> GroupState:
    return _group(slo, tiers, evaluate.GroupStatus({}, evaluate.NO_DATA, None, None, None))


def _group(slo: SLO, tiers: tuple[Tier, ...], g: evaluate.GroupStatus) -> GroupState:
    budget = float(slo.error_budget)
    by_window = {w.window: w for w in g.windows}

    def window(seconds: int) -> WindowState:
        w = by_window.get(format_duration(seconds))
        if w is None:
            return WindowState(seconds, None, None)
        return WindowState(seconds, finite(w.error_ratio), finite(w.burn_rate))

    tier_windows = sorted({w for t in tiers for w in (t.long_window, t.short_window)})
    windows = {w: window(w) for w in tier_windows}
    tstates = tuple(
        TierState(t, float(t.burn_rate(slo.period)), float(t.burn_rate(slo.period) * slo.error_budget),
                  windows[t.long_window], windows[t.short_window], t.name in g.tiers_active)
        for t in tiers)
    pages = [t for t in tstates if t.tier.severity == "page"] or list(tstates)
    current = pages[0].long.burn_rate if pages else None
    remaining = finite(g.budget_remaining)
    # The evaluator says "never" (infinity) when nothing burns; the API says null with burning=false.
    tte = finite(g.time_to_exhaustion_s)
    sli_period = None if remaining is None else 1 - (1 - remaining) * budget
    return GroupState(labels=group_labels(g.labels), sli=finite(g.sli), sli_period=sli_period,
                      budget_remaining=remaining, burn_rate=current, time_to_exhaustion=tte,
                      windows=tuple(windows.values()), tiers=tstates)
