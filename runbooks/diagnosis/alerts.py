"""Is the alert active in Prometheus right now, and for what? The labels of a firing alert are the
most specific evidence there is: they name the engine, cluster and pod the other checks look at."""

from __future__ import annotations

import datetime as dt

from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding, Level

_SUBJECT_LABELS = ("engine", "cluster", "pod", "job", "slo")


def _since(active_at: str) -> str:
    try:
        t = dt.datetime.fromisoformat(active_at.replace("Z", "+00:00"))
    except ValueError:
        return active_at
    return t.astimezone(dt.UTC).strftime("%H:%M:%S UTC")


def active(alert: str) -> Check:
    title = f"Is {alert} active in Prometheus, and for what?"

    def run(ctx: Context) -> list[Finding]:
        found = []
        for a in sorted(ctx.prom_alerts(), key=lambda a: (a.state != "firing", sorted(a.labels.items()))):
            labels = a.labels
            if a.name != alert or not ctx.scope.covers(labels.get("engine"), labels.get("cluster")):
                continue
            if ctx.scope.engine and "engine" not in labels and "slo" not in labels:
                continue
            subject = ", ".join(f"{k} {labels[k]}" for k in _SUBJECT_LABELS if k in labels) or "the platform"
            level: Level = "problem" if a.state == "firing" else "info"
            found.append(Finding(level, f"{alert} is {a.state} for {subject} since {_since(a.active_at)}", title,
                                 labels.get("engine"), labels.get("cluster"), labels.get("pod")))
            for key in ("engine", "cluster", "pod"):
                ctx.facts.suggest(key, labels.get(key))
        if not found:
            target = f" for engine {ctx.scope.engine}" if ctx.scope.engine else ""
            found.append(Finding("info", f"Prometheus reports no active {alert} alert{target} "
                                         "(it may have resolved, or its rules are not loaded there)", title))
        return found

    return Check(title, "prometheus", run)
