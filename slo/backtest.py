"""Replay alert policies on history, vectorized, and score them the Workbook's way.

Every tier of every SLO is evaluated at every interval at once: window sums come from cumulative
sums (a ratio of sums, exactly what the rules estimate), comparisons are multiplications (no NaN
on intervals without traffic). Scores per tier and per severity: alerts, precision, recall,
detection time, reset time, and the error budget an incident burned before the first page.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from slo.errors import SpecError
from slo.history import History
from slo.model import SLO, RawSLI, Tier
from slo.windows import apply_profile, effective_tiers, get_profile, min_events

CHUNK = 64  # SLOs per block: keeps every working array in a few tens of MB


@dataclass(frozen=True)
class TierPlan:
    """One tier across all SLOs: per-SLO thresholds, so SLOs with different objectives vectorize."""

    name: str
    severity: str
    long: int  # steps
    short: int
    for_: int  # steps the condition must already hold before firing
    threshold: np.ndarray  # factor × budget, per SLO (NaN: tier absent for that SLO)
    guard: np.ndarray  # minimum events in the long window, per SLO


@dataclass
class Replay:
    """Firing state per tier: boolean arrays of shape (SLOs, intervals)."""

    history: History
    policy: str
    tiers: list[TierPlan]
    firing: dict[str, np.ndarray]


def slo_of(column: str) -> str:
    """History columns are SLO ids, or ``id{label="value",...}`` for one group of a split SLO."""
    return column.split("{", 1)[0]


def plan(slos: list[SLO], ids: list[str], profile_name: str, step: int) -> list[TierPlan]:
    profile = get_profile(profile_name)
    by_id = {s.id: s for s in slos}
    ids = [slo_of(i) for i in ids]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SpecError(f"history has SLOs without a spec: {', '.join(missing[:5])}")
    per_slo: list[dict[str, tuple[Tier, SLO]]] = []
    for slo_id in ids:
        slo = apply_profile(by_id[slo_id], profile)
        per_slo.append({t.name: (t, slo) for t in effective_tiers(slo, profile)})
    names = list(dict.fromkeys(n for tiers in per_slo for n in tiers))
    plans = []
    for name in names:
        sample = next(t for tiers in per_slo for n, (t, _) in tiers.items() if n == name)
        for w in (sample.long_window, sample.short_window, sample.for_):
            if w % step:
                raise SpecError(f"tier {name}: window {w}s is not a multiple of the history's {step}s interval")
        threshold = np.full(len(ids), np.nan)
        guard = np.zeros(len(ids))
        for i, tiers in enumerate(per_slo):
            if name in tiers:
                tier, slo = tiers[name]
                if (tier.long_window, tier.short_window) != (sample.long_window, sample.short_window):
                    raise SpecError(f"tier {name}: windows differ between SLOs; backtest them separately")
                threshold[i] = float(tier.burn_rate(slo.period) * slo.error_budget)
                guard[i] = 0 if isinstance(slo.sli, RawSLI) else min_events(slo, tier)
        plans.append(TierPlan(name, sample.severity, sample.long_window // step, sample.short_window // step,
                              sample.for_ // step, threshold, guard))
    return plans


def _window_sums(cum: np.ndarray, w: int) -> np.ndarray:
    """Sums over the last ``w`` intervals (fewer at the start), from cumulative sums with a 0 column."""
    out = np.empty((cum.shape[0], cum.shape[1] - 1))
    out[:, w:] = cum[:, w + 1:] - cum[:, 1:-w]
    out[:, :w] = cum[:, 1:w + 1] - cum[:, :1]
    return out


def _held(cond: np.ndarray, steps: int) -> np.ndarray:
    """True where ``cond`` has held for the last ``steps`` + 1 evaluations (Prometheus ``for``)."""
    if steps == 0:
        return cond
    c = np.concatenate([np.zeros((cond.shape[0], 1), np.int32), np.cumsum(cond, axis=1, dtype=np.int32)], axis=1)
    n = steps + 1
    run = np.zeros_like(cond)
    run[:, n - 1:] = (c[:, n:] - c[:, :-n]) == n
    return run


def _replay_block(errors: np.ndarray, total: np.ndarray, tiers: list[TierPlan], sl: slice) -> dict[str, np.ndarray]:
    zero = np.zeros((errors.shape[0], 1))
    ce = np.concatenate([zero, np.cumsum(errors, axis=1)], axis=1)
    ct = np.concatenate([zero, np.cumsum(total, axis=1)], axis=1)
    sums: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def window(w: int) -> tuple[np.ndarray, np.ndarray]:
        if w not in sums:
            sums[w] = (_window_sums(ce, w), _window_sums(ct, w))
        return sums[w]

    out = {}
    for tier in tiers:
        thr = tier.threshold[sl][:, None]
        el, tl = window(tier.long)
        es, ts = window(tier.short)
        with np.errstate(invalid="ignore"):
            cond = (el > thr * tl) & (es > thr * ts) & (tl >= tier.guard[sl][:, None])
        out[tier.name] = _held(cond, tier.for_)
    return out


def replay(history: History, slos: list[SLO], policy: str, workers: int | None = None) -> Replay:
    tiers = plan(slos, history.slos, policy, history.step)
    errors = np.ascontiguousarray(history.errors.to_numpy().T, dtype=np.float64)
    total = np.ascontiguousarray(history.total.to_numpy().T, dtype=np.float64)
    n = errors.shape[0]
    firing = {t.name: np.zeros(errors.shape, dtype=bool) for t in tiers}
    blocks = [slice(i, min(n, i + CHUNK)) for i in range(0, n, CHUNK)]

    def run(sl: slice) -> None:
        for name, arr in _replay_block(errors[sl], total[sl], tiers, sl).items():
            firing[name][sl] = arr

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(run, blocks))
    return Replay(history, policy, tiers, firing)


# --- scoring ---------------------------------------------------------------------------------------

def episodes(firing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slo index, first interval, last interval) of every firing episode."""
    padded = np.zeros((firing.shape[0], firing.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = firing
    d = np.diff(padded, axis=1)
    si, start = np.nonzero(d == 1)
    ei, end = np.nonzero(d == -1)
    return si, start, end - 1  # np.nonzero is row-major: starts and ends pair up in order


def incidents_from(history: History, slos: list[SLO], burn: float = 2.0, merge: int = 1800,
                   min_budget: float = 0.01, window: int = 300) -> pd.DataFrame:
    """Incidents when none are given: spans burning faster than ``burn`` (over ``window``), merged
    across gaps shorter than ``merge`` seconds, that spent at least ``min_budget`` of the period budget.
    """
    by_id = {s.id: s for s in slos}
    w = max(1, window // history.step)
    e = history.errors.to_numpy().T
    t = history.total.to_numpy().T
    ce = np.concatenate([np.zeros((e.shape[0], 1)), np.cumsum(e, axis=1)], axis=1)
    ct = np.concatenate([np.zeros((t.shape[0], 1)), np.cumsum(t, axis=1)], axis=1)
    ew, tw = _window_sums(ce, w), _window_sums(ct, w)
    rows = []
    gap = merge // history.step
    for i, slo_id in enumerate(history.slos):
        slo = by_id[slo_of(slo_id)]
        budget = float(slo.error_budget)
        hot = ew[i] > burn * budget * tw[i]
        si, start, end = episodes(hot[None, :])
        spans: list[list[int]] = []
        for a, b in zip(start.tolist(), end.tolist(), strict=True):
            a = max(0, a - w + 1)  # the burst began where its window began
            if spans and a - spans[-1][1] <= gap:
                spans[-1][1] = b
            else:
                spans.append([a, b])
        period_events = t[i].mean() * slo.period / history.step
        for a, b in spans:
            spent = e[i, a:b + 1].sum() / (budget * period_events) if period_events else 0.0
            if spent >= min_budget:
                rows.append((slo_id, history.total.index[a] - pd.Timedelta(seconds=history.step),
                             history.total.index[b], spent))
    return pd.DataFrame(rows, columns=["slo", "start", "end", "budget_spent"])


def _incident_index(history: History, incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = {s: i for i, s in enumerate(history.slos)}
    idx = history.total.index
    slo = incidents["slo"].map(pos).to_numpy()
    start = idx.searchsorted(pd.to_datetime(incidents["start"], utc=True), side="right")
    end = idx.searchsorted(pd.to_datetime(incidents["end"], utc=True), side="left")
    keep = ~pd.isna(slo)
    return slo[keep].astype(int), start[keep], np.minimum(end[keep], len(idx) - 1)


def score(rep: Replay, slos: list[SLO], incidents: pd.DataFrame | None = None,
          significant: float = 0.01) -> pd.DataFrame:
    """Per tier and per severity (any tier of it): the Workbook's precision, recall, detection and
    reset time, plus the budget spent before the first page.

    An alert is a true positive when it starts during an incident (or within the tier's long window
    after it); recall counts only significant incidents, those that spent at least ``significant``
    of the period's error budget.
    """
    history = rep.history
    if incidents is None:
        incidents = incidents_from(history, slos)
    all_slo, all_start, all_end = _incident_index(history, incidents)
    step = history.step
    by_id = {s.id: s for s in slos}
    budgets = np.array([float(by_id[slo_of(i)].error_budget) for i in history.slos])
    periods = np.array([by_id[slo_of(i)].period for i in history.slos])
    errors = history.errors.to_numpy()
    total = history.total.to_numpy()
    period_events = total.mean(axis=0) * periods / step * budgets  # the period's budget, in events
    spent_all = np.array([errors[a:b + 1, s].sum() for s, a, b in zip(all_slo, all_start, all_end, strict=True)])
    big = spent_all >= significant * period_events[all_slo] if len(all_slo) else np.zeros(0, bool)
    inc_slo, inc_start, inc_end = all_slo[big], all_start[big], all_end[big]
    groups: dict[str, np.ndarray] = dict(rep.firing)
    for severity in ("page", "ticket"):
        members = [rep.firing[t.name] for t in rep.tiers if t.severity == severity]
        if members:
            groups[severity] = np.logical_or.reduce(members)
    rows = {}
    longest = {t.name: t.long for t in rep.tiers}
    for name, firing in groups.items():
        grace = max(longest.get(name, 0), *(t.long for t in rep.tiers if t.severity == name)) \
            if name in ("page", "ticket") else longest[name]
        si, start, end = episodes(firing)
        true_alerts = 0
        for s, a in zip(si.tolist(), start.tolist(), strict=True):
            mine = all_slo == s
            if np.any((a >= all_start[mine]) & (a <= all_end[mine] + grace)):
                true_alerts += 1
        detect, reset, spent = [], [], []
        for s, a, b in zip(inc_slo.tolist(), inc_start.tolist(), inc_end.tolist(), strict=True):
            row = firing[s, a:min(firing.shape[1], b + grace + 1)]
            hits = np.flatnonzero(row)
            if not len(hits):
                continue
            first = a + int(hits[0])
            detect.append((first - a + 1) * step)
            stop = first
            while stop + 1 < firing.shape[1] and firing[s, stop + 1]:
                stop += 1
            reset.append(max(0, stop - b) * step)
            if name == "page":
                spent.append(errors[a:first + 1, s].sum() / period_events[s])
        n_inc = len(inc_slo)
        rows[name] = {
            "alerts": len(si),
            "precision": true_alerts / len(si) if len(si) else math.nan,
            "recall": len(detect) / n_inc if n_inc else math.nan,
            "detection_s": float(np.median(detect)) if detect else math.nan,
            "reset_s": float(np.median(reset)) if reset else math.nan,
            "budget_before_page": float(np.median(spent)) if spent else math.nan,
            "incidents": n_inc,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "tier"
    return frame


def compare(history: History, slos: list[SLO], policies: list[str],
            incidents: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores of several policies side by side (columns: policy, metric)."""
    if incidents is None:
        incidents = incidents_from(history, slos)
    frames = {p: score(replay(history, slos, p), slos, incidents) for p in policies}
    return pd.concat(frames, axis=1)


def budget_remaining(history: History, slos: list[SLO], profile: str | None = None) -> pd.Series:
    """Share of the period's error budget left at the end of the history, per column (NaN: no data).

    The same ratio of sums as the rules' period budget, on the exact per-interval counts.
    """
    by_id = {s.id: s for s in slos}
    out = {}
    for column in history.slos:
        slo = by_id[slo_of(column)]
        period = get_profile(profile).period if profile else slo.period
        n = period // history.step
        total = history.total[column].to_numpy()[-n:].sum()
        errors = history.errors[column].to_numpy()[-n:].sum()
        out[column] = 1 - (errors / total) / float(slo.error_budget) if total > 0 else math.nan
    return pd.Series(out)
