"""Charts of an experiment (matplotlib, Agg: no display): throughput, error ratio, p99 latency and the
error budget burn over time, with the faults marked where they happened."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: a game day runs headless
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from chaos.fault import Fault  # noqa: E402
from chaos.verdicts.budget import burn_series  # noqa: E402
from chaos.verdicts.queries import time_series  # noqa: E402

COLORS = {"kill_pod": "#d62728", "kill_cluster": "#8c0000", "terminate_pod": "#ff7f0e", "pause_pod": "#9467bd",
          "drain_engine": "#ff7f0e", "blue_green_upgrade": "#2ca02c", "restart_gateway": "#1f77b4"}


def experiment_chart(df: pd.DataFrame, faults: Sequence[Fault], t0: float, t1: float, path: Path, *,
                     title: str, objective: float, period_s: float, step_s: float = 1.0) -> Path:
    series = time_series(df, t0, t1, step_s)
    burn = burn_series(df, objective, period_s, t0, t1, step_s)
    fig, axes = plt.subplots(4, 1, figsize=(10, 9), sharex=True)
    ax_tp, ax_err, ax_p99, ax_burn = axes
    ax_tp.plot(series["t"], series["throughput"], color="#1f77b4", drawstyle="steps-post")
    ax_tp.set_ylabel("answers / s")
    ax_err.plot(series["t"], series["error_ratio"].fillna(0.0), color="#d62728", drawstyle="steps-post")
    ax_err.set_ylabel("error ratio")
    ax_err.set_ylim(-0.02, 1.02)
    ax_p99.plot(series["t"], series["p99_s"], color="#9467bd", drawstyle="steps-post")
    ax_p99.set_ylabel("p99 latency (s)")
    ax_burn.plot(burn["t"], burn["budget_consumed"] * 100, color="#8c564b", label="budget consumed (% of period)")
    ax_burn.set_ylabel("budget consumed (%)")
    twin = ax_burn.twinx()
    twin.plot(burn["t"], burn["burn_rate"], color="#bcbd22", alpha=0.6, label="burn rate")
    twin.set_ylabel("burn rate (x)")
    ax_burn.set_xlabel("seconds since the load started")
    for ax in axes:
        ax.grid(alpha=0.3)
        for f in faults:
            color = COLORS.get(f.action, "black")
            start = f.ts - t0
            ax.axvline(start, color=color, linestyle="--", linewidth=1)
            if f.lifted_ts is not None and f.lifted_ts - f.ts > step_s / 2:
                ax.axvspan(start, f.lifted_ts - t0, color=color, alpha=0.1)
    for f in faults:
        ax_tp.annotate(f"{f.action}" + ("" if f.injected else " (NOT injected)"), (f.ts - t0, 1.0),
                       xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right", fontsize=8,
                       color=COLORS.get(f.action, "black"))
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
