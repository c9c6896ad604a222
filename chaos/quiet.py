"""Quiet before the load: no alert may be pending when an experiment's steady state starts.

A pending alert is a page on its way: started under the load it would count as a false page of this
experiment, although the previous one (or whatever ran before) caused it. Chaos Toolkit checks its
steady-state hypothesis before the method for the same reason. Firing alerts are left alone: the
steady-state verdict reports them as carried over and does not judge them, and waiting for them to
resolve would cost each experiment its alerts' ``keep_firing_for``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from alerts.rule import ALWAYS_FIRING_SEVERITY
from foundation.prometheus import Alert, PrometheusClient, PrometheusUnavailable

#: Long enough for the slowest pending alert of the local profile to resolve or fire (a latency
#: outlier's 30 s window after the fault that caused it); bounded, so a flapping rule costs that once.
QUIET_TIMEOUT_S = 45.0


def pending(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.state == "pending" and a.labels.get("severity") != ALWAYS_FIRING_SEVERITY]


def describe(alerts: list[Alert]) -> str:
    return ", ".join(sorted({f"{a.labels.get('alertname', '?')}"
                             + (f" ({a.labels['pod']})" if "pod" in a.labels else "") for a in alerts}))


def wait_quiet(prometheus_url: str | None, timeout_s: float = QUIET_TIMEOUT_S,
               say: Callable[[str], None] = lambda _m: None, interval_s: float = 0.5) -> str | None:
    """Wait until Prometheus holds no pending alert; a note when it still did at ``timeout_s`` (the
    experiment goes on, and its steady-state verdict judges what then fires), else None."""
    if prometheus_url is None:
        return None
    deadline = time.monotonic() + timeout_s
    told = False
    with PrometheusClient(prometheus_url, timeout=2) as prom:
        while True:
            try:
                waiting = pending(prom.alerts())
            except PrometheusUnavailable:
                return None  # the steady-state verdict says that nothing could be watched
            if not waiting:
                return None
            if time.monotonic() >= deadline:
                return f"alerts still pending after {timeout_s:g}s of waiting for quiet: {describe(waiting)}"
            if not told:
                say(f"waiting for pending alerts to settle: {describe(waiting)}")
                told = True
            time.sleep(interval_s)
