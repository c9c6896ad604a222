"""Client-side figures from the per-query ledger: how many queries, failed, lost, how slow.

The ledger is a DataFrame with the columns of ``loadgen.ledger.Entry``. Only platform errors
count as failures (the metric contract's split): a malformed statement is the client's fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from chaos.verdicts.base import Figures, Verdict, at_most, nan_if_none
from exporters.contract import PLATFORM_ERROR_TYPES
from loadgen.ledger import ABANDONED


def final_attempt_start(df: pd.DataFrame) -> pd.Series:
    """When the attempt that answered began: the end minus the node's queue and execution time.

    Without an answer from a node (``server_s`` NaN) the end itself: the client waited until then.
    """
    server = df["server_s"] if "server_s" in df else pd.Series(np.nan, index=df.index)
    return df["end"] - server.fillna(0.0)


def platform_failed(df: pd.DataFrame) -> pd.Series:
    return (df["status"] == "error") & df["error_type"].isin(PLATFORM_ERROR_TYPES)


@dataclass(frozen=True)
class QueryFigures(Figures):
    """Latencies are NaN when no query was answered."""

    kind: ClassVar[str] = "queries"
    queries: int
    ok: int
    failed: int  # platform errors only
    failed_read: int
    user_errors: int
    lost: int  # abandoned, or sent without any outcome
    retried: int
    p50_s: float
    p99_s: float
    max_s: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueryFigures:
        return cls(data["queries"], data["ok"], data["failed"], data["failed_read"], data["user_errors"],
                   data["lost"], data["retried"], nan_if_none(data["p50_s"]), nan_if_none(data["p99_s"]),
                   nan_if_none(data["max_s"]))


def query_figures(df: pd.DataFrame, sent: int | None = None, engines: Sequence[str] | None = None) -> QueryFigures:
    """Counts and latency percentiles; ``sent`` (queries the generator sent) exposes missing outcomes."""
    if engines:
        df = df[df["engine"].isin(engines)]
    done = df[df["status"] != ABANDONED]
    latency = done["end"] - done["start"]
    failed = platform_failed(df)
    abandoned = int((df["status"] == ABANDONED).sum())
    missing = max(0, int(sent) - len(df)) if sent is not None and not engines else 0
    return QueryFigures(
        queries=int(len(df)),
        ok=int((df["status"] == "ok").sum()),
        failed=int(failed.sum()),
        failed_read=int((failed & df["read_only"].astype(bool)).sum()),
        user_errors=int(((df["status"] == "error") & ~failed).sum()),
        lost=abandoned + missing,
        retried=int((done["attempts"] > 1).sum()),
        p50_s=float(latency.quantile(0.5)) if len(latency) else float("nan"),
        p99_s=float(latency.quantile(0.99)) if len(latency) else float("nan"),
        max_s=float(latency.max()) if len(latency) else float("nan"),
    )


def queries_verdict(df: pd.DataFrame, *, sent: int | None = None, lost_max: float | None = None,
                    failed_max: float | None = None, failed_read_max: float | None = None,
                    p99_max_s: float | None = None) -> Verdict:
    f = query_figures(df, sent)
    criteria = (at_most("lost_queries", f.lost, lost_max),
                at_most("failed_queries", f.failed, failed_max),
                at_most("failed_read_queries", f.failed_read, failed_read_max),
                at_most("p99_latency_s", f.p99_s, p99_max_s))
    notes = []
    errors = df[platform_failed(df)]
    if len(errors):
        by = errors.groupby("error_type").size().to_dict()
        notes.append("platform errors by type: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
    if "client_error" in df:
        # No answer at all from the gateway: the client's own exception is the only clue.
        client = df[df["client_error"].fillna("") != ""].groupby("client_error").size().to_dict()
        notes += [f"no answer from the gateway ({n}x): {message}" for message, n in sorted(client.items())]
    return Verdict("all queries of the experiment", f, criteria, tuple(notes))


def time_series(df: pd.DataFrame, t0: float, t1: float, step_s: float = 1.0) -> pd.DataFrame:
    """Per-bin throughput (answers/s), platform error ratio and p99 latency, by the query's end."""
    edges = np.arange(t0, t1 + step_s, step_s)
    if len(df) == 0 or len(edges) < 2:
        return pd.DataFrame(columns=["t", "throughput", "error_ratio", "p99_s"])
    done = df[df["status"] != ABANDONED].copy()
    done["bin"] = pd.cut(done["end"], edges, labels=edges[:-1], right=False)
    done["bad"] = platform_failed(done)
    done["latency"] = done["end"] - done["start"]
    grouped = done.groupby("bin", observed=False)
    out = pd.DataFrame({
        "t": edges[:-1] - t0,
        "throughput": grouped.size().to_numpy() / step_s,
        "error_ratio": (grouped["bad"].sum() / grouped.size().replace(0, np.nan)).to_numpy(dtype=float),
        "p99_s": grouped["latency"].quantile(0.99).to_numpy(dtype=float),
    })
    return out
