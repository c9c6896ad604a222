"""SLO history as per-interval event counts: what backtests replay and backfills write.

``History`` holds two aligned time × SLO frames (bad events and total events per interval) on a
regular UTC grid. Files use a long layout, one row per interval and SLO:
``timestamp, slo, total, errors`` (or ``good`` instead of ``errors``), as CSV or Parquet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from foundation.prometheus import PrometheusClient
from foundation.promql import Selector
from slo import series
from slo.errors import SpecError
from slo.model import SLO


@dataclass
class History:
    errors: pd.DataFrame  # index: interval end (UTC), columns: SLO ids
    total: pd.DataFrame
    step: int  # seconds per interval

    def __post_init__(self) -> None:
        if not self.errors.index.equals(self.total.index) or list(self.errors.columns) != list(self.total.columns):
            raise ValueError("errors and total must share index and columns")

    @property
    def slos(self) -> list[str]:
        return list(self.total.columns)

    def window(self, start: pd.Timestamp, end: pd.Timestamp) -> History:
        sel = (self.total.index > start) & (self.total.index <= end)
        return History(self.errors.loc[sel], self.total.loc[sel], self.step)

    def to_long(self) -> pd.DataFrame:
        e = self.errors.stack().rename("errors")
        t = self.total.stack().rename("total")
        out = pd.concat([t, e], axis=1).reset_index()
        out.columns = ["timestamp", "slo", "total", "errors"]
        return out


def from_long(frame: pd.DataFrame, source: str = "<frame>") -> History:
    missing = {"timestamp", "slo", "total"} - set(frame.columns)
    if missing or not ({"errors", "good"} & set(frame.columns)):
        need = sorted(missing) or ["errors or good"]
        raise SpecError(f"history needs columns timestamp, slo, total and errors or good; missing {need}",
                        file=source)
    frame = frame.copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    if "errors" not in frame.columns:
        frame["errors"] = frame["total"] - frame["good"]
    total = frame.pivot_table(index="timestamp", columns="slo", values="total", aggfunc="sum").sort_index()
    errors = frame.pivot_table(index="timestamp", columns="slo", values="errors", aggfunc="sum")
    errors = errors.reindex(index=total.index, columns=total.columns)
    steps = np.asarray((total.index[1:] - total.index[:-1]).total_seconds())
    if len(steps) == 0:
        raise SpecError("history needs at least two intervals", file=source)
    step = int(np.median(steps))
    grid = pd.date_range(total.index[0], total.index[-1], freq=f"{step}s")
    # Missing intervals are intervals without events: zero, never NaN.
    total = total.reindex(grid).fillna(0.0)
    errors = errors.reindex(grid).fillna(0.0)
    total.columns.name = errors.columns.name = None
    return History(errors.astype(float), total.astype(float), step)


def read_counts(path: Path) -> History:
    try:
        frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a user's bad file
        raise SpecError(f"cannot read history: {exc}", file=str(path)) from None
    return from_long(frame, str(path))


def write_counts(history: History, path: Path) -> None:
    frame = history.to_long()
    if path.suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def read_incidents(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    if {"slo", "start", "end"} - set(frame.columns):
        raise SpecError("incidents need columns slo, start, end", file=str(path))
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    return frame


def from_prometheus(prom: PrometheusClient, slos: list[SLO], start: float, end: float, step: int) -> History:
    """History from the recorded base series: events per interval = recorded rate × interval.

    With the interval equal to the rules' base window, consecutive base windows tile time, so the
    counts add up to the same sums the rules' windows read.
    """
    errors: dict[str, pd.Series] = {}
    total: dict[str, pd.Series] = {}
    for slo in slos:
        for name, target in ((series.TOTAL, total), (series.ERRORS, errors)):
            for s in prom.query_range(series.selector(name, slo.id), start, end, step):
                labels = {k: v for k, v in s.labels.items() if k not in ("__name__", series.SLO_LABEL)}
                key = Selector.series(slo.id, labels).promql()
                ts = pd.to_datetime([p[0] for p in s.points], unit="s", utc=True)
                target[key] = pd.Series([p[1] * step for p in s.points], index=ts)
    if not total:
        raise SpecError("Prometheus has no recorded SLO series for that range (are the rules loaded?)")
    grid = pd.date_range(pd.to_datetime(start, unit="s", utc=True), pd.to_datetime(end, unit="s", utc=True),
                         freq=f"{step}s")
    t = pd.DataFrame(total).reindex(grid).fillna(0.0)
    e = pd.DataFrame(errors).reindex(index=grid, columns=t.columns).fillna(0.0)
    return History(e, t, step)
