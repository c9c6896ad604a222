"""Reconciliation: the ledger against the platform's own counters.

Every query the client sent must have exactly one outcome in the ledger (the ledger refuses a second
one), and every answer the client got from the gateway must be counted once by the gateway: a query
the gateway counted but the client never saw, or the reverse, is lost. Node executions beyond the
answers clients received are duplicate executions (a hung node finishing a query that was already
answered elsewhere); a killed node's last counts die with it, so that figure is a lower bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def reconcile(df: pd.DataFrame, sent: int, gateway_before: Mapping[str, float] | None,
              gateway_after: Mapping[str, float] | None, node_ok: Mapping[str, float] | None) -> dict[str, Any]:
    answered = df[df["http_status"] > 0]  # an answer from the gateway, whatever its status
    out: dict[str, Any] = {"sent": sent, "ledger_outcomes": int(len(df)), "missing_outcomes": max(0, sent - len(df)),
                           "ledger_gateway_answers": int(len(answered))}
    if gateway_before is not None and gateway_after is not None:
        per_engine = {}
        for engine in sorted(set(df["engine"])):
            counted = gateway_after.get(engine, 0.0) - gateway_before.get(engine, 0.0)
            seen = int((answered["engine"] == engine).sum())
            per_engine[engine] = {"gateway_counted": int(round(counted)), "ledger_answers": seen,
                                  "difference": int(round(counted)) - seen}
        out["gateway"] = per_engine
        out["gateway_mismatch"] = sum(abs(v["difference"]) for v in per_engine.values())
    else:
        out["gateway"] = None
        out["gateway_mismatch"] = None
    if node_ok is not None:
        dup = {}
        for engine in sorted(set(df["engine"])):
            ok = int(((df["engine"] == engine) & (df["status"] == "ok")).sum())
            executed = int(round(node_ok.get(engine, 0.0)))
            dup[engine] = {"node_executions_ok": executed, "ledger_ok": ok,
                           "duplicate_executions": max(0, executed - ok)}
        out["nodes"] = dup
    else:
        out["nodes"] = None
    return out


def duplicates(reconciliation: Mapping[str, Any], engine: str) -> int | None:
    nodes = reconciliation.get("nodes")
    if not nodes or engine not in nodes:
        return None
    return int(nodes[engine]["duplicate_executions"])
