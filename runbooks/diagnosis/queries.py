"""Queries and logs: which query runs too long (the nodes' query history, through the gateway), and
what a pod last logged as an error (Loki)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alerts.profiles import PROFILES
from exporters import contract as c
from foundation.loki import LogLine, logql
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding

RUNNING = "The longest-running queries, from the nodes' query history"
ERRORS = "The pod's last error lines, from Loki"

#: The local alert's bound (the smaller one): a diagnosis names a long query rather than miss it.
LONG_QUERY_S = min(p.long_query_s for p in PROFILES.values())
SHOWN = 5
SQL_CHARS = 80
LINE_CHARS = 300
ERROR_LEVELS = "~error|warning|critical"


def _sql(text: Any) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= SQL_CHARS else flat[: SQL_CHARS - 1] + "…"


def _running(ctx: Context) -> list[Finding]:
    live = ctx.live_queries()
    found = []
    for q in live[:SHOWN]:
        seconds = float(q.get("running_s") or 0.0)
        trace = f", trace {q['trace_id']}" if q.get("trace_id") else ""
        text = (f"query {q.get('query_id')} on pod {q.get('pod')} (cluster {q.get('cluster')} of {q.get('engine')}) "
                f"has been {q.get('status', 'running')} for {seconds:.1f} s (kind {q.get('kind')}{trace}): "
                f"{_sql(q.get('sql'))}")
        found.append(Finding("problem" if seconds >= LONG_QUERY_S else "info", text, RUNNING, q.get("engine"),
                             q.get("cluster"), q.get("pod")))
    if live:
        longest = live[0]
        for key, value in (("query_id", longest.get("query_id")), ("pod", longest.get("pod")),
                           ("engine", longest.get("engine"))):
            ctx.facts.suggest(key, value)
        if len(live) > SHOWN:
            found.append(Finding("info", f"{len(live) - SHOWN} more live queries", RUNNING))
        return found
    return [Finding("ok", "no query runs or waits on any node of the scope now", RUNNING)]


def _message(line: LogLine) -> str:
    fields = line.fields()
    text = str(fields.get("msg") or line.line)
    if fields.get("exception"):
        text += f" ({str(fields['exception']).strip().splitlines()[-1]})"
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _errors(ctx: Context) -> list[Finding]:
    pod = ctx.facts.get("pod")
    stream = {"job": c.JOB_NODE}
    if pod:
        stream["pod"] = pod
    elif ctx.scope.engine:
        stream["engine"] = ctx.scope.engine
    lines = ctx.log_lines(logql(stream, level=ERROR_LEVELS), limit=SHOWN)
    where = f"pod {pod}" if pod else f"the nodes of {ctx.scope.engine}" if ctx.scope.engine else "the nodes"
    found = []
    for line in lines:
        at = dt.datetime.fromtimestamp(line.ts, dt.UTC).strftime("%H:%M:%S UTC")
        who = line.labels.get("pod") or pod or "?"
        found.append(Finding("info", f"{who} logged at {at}: {_message(line)}", ERRORS, line.labels.get("engine"),
                             line.labels.get("cluster"), who))
    return found or [Finding("ok", f"no error lines from {where} in the last {ctx.scope.window_text}", ERRORS)]


running = Check(RUNNING, "gateway", _running)
pod_errors = Check(ERRORS, "loki", _errors)
