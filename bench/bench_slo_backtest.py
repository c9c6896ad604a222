"""Backtest speed: 1,000 SLOs × 30 days at 1-minute resolution, every tier of three policies.

Run: ``.venv/bin/python bench/bench_slo_backtest.py [--slos 1000] [--days 30]``. Goal: one policy
replayed for all SLOs and tiers in <= 10 s on 2 cores. The baseline, run side by side, is a plain
pandas rolling-window replay of the same policy (what one would write first).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from slo import backtest, synth


def pandas_baseline(history, slos, policy: str) -> dict[str, np.ndarray]:
    """The straightforward pandas version: rolling sums per window, column by column."""
    plans = backtest.plan(slos, history.slos, policy, history.step)
    out = {}
    for tier in plans:
        el = history.errors.rolling(tier.long, min_periods=1).sum()
        tl = history.total.rolling(tier.long, min_periods=1).sum()
        es = history.errors.rolling(tier.short, min_periods=1).sum()
        ts = history.total.rolling(tier.short, min_periods=1).sum()
        out[tier.name] = ((el > tl * tier.threshold) & (es > ts * tier.threshold) & (tl >= tier.guard)).to_numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--baseline-slos", type=int, default=100, help="SLOs for the pandas baseline")
    args = parser.parse_args()
    t0 = time.perf_counter()
    slos, history, incidents = synth.fleet(args.slos, args.days)
    cells = history.total.size
    print(f"history: {len(slos)} SLOs x {len(history.total)} intervals ({cells / 1e6:.1f}M cells), "
          f"generated in {time.perf_counter() - t0:.1f}s; {os.cpu_count()} cores")
    results = {}
    for policy in ("google-30d", "workbook-30d", "pyrra-30d"):
        t = time.perf_counter()
        rep = backtest.replay(history, slos, policy)
        replay_s = time.perf_counter() - t
        t = time.perf_counter()
        scores = backtest.score(rep, slos, incidents)
        score_s = time.perf_counter() - t
        results[policy] = scores
        print(f"{policy}: replay of {len(rep.tiers)} tiers {replay_s:.2f}s "
              f"({cells * len(rep.tiers) / replay_s / 1e6:.0f}M tier-cells/s), scoring {score_s:.2f}s, "
              f"total {replay_s + score_s:.2f}s (goal <= 10s)")
    small = history.window(history.total.index[0] - np.timedelta64(1, "s"), history.total.index[-1])
    subset = small.slos[: args.baseline_slos]
    from slo.history import History

    sub = History(small.errors[subset], small.total[subset], small.step)
    t = time.perf_counter()
    base = pandas_baseline(sub, slos, "google-30d")
    base_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = backtest.replay(sub, slos, "google-30d")
    ours_s = time.perf_counter() - t
    same = all(np.array_equal(base[k].T, ours.firing[k]) for k in base)
    print(f"baseline (pandas rolling, {len(subset)} SLOs): {base_s:.2f}s vs ours {ours_s:.2f}s "
          f"= {base_s / ours_s:.1f}x; identical firing: {same}")
    print("\nside by side (median detection/reset in seconds, budget as share of the 30d budget):")
    import pandas as pd

    print(pd.concat(results, axis=1).round(3).to_string())


if __name__ == "__main__":
    main()
