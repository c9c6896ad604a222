"""Stop conditions, checked continuously while the experiment runs (AWS FIS's stop conditions, on our
own signals): the client error ratio over a sliding window, from the load's answers as they arrive,
and the SLO burn rate over a window, from Prometheus. When one trips, the experiment stops at once:
the load ends, no further fault is injected, and the rollbacks run.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence

from chaos.evidence import burn_rate_expr
from chaos.experiment import AbortCondition
from exporters.contract import PLATFORM_ERROR_TYPES
from foundation.prometheus import PrometheusClient, PrometheusUnavailable
from loadgen.ledger import Entry


class AbortMonitor:
    def __init__(self, conditions: Sequence[AbortCondition], *, engines: Sequence[str], objective: float,
                 prometheus_url: str | None, on_abort: Callable[[str], None], check_every_s: float = 0.5) -> None:
        self.conditions = tuple(conditions)
        self.engines = tuple(engines)
        self.objective = objective
        self.prometheus_url = prometheus_url
        self.on_abort = on_abort
        self.check_every_s = check_every_s
        self.reason: str | None = None
        self.skipped: list[str] = []
        self._answers: collections.deque[tuple[float, str, bool]] = collections.deque(maxlen=100_000)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._prom: PrometheusClient | None = None

    def on_result(self, entry: Entry) -> None:
        """The load generator's callback: one answer (or client-side failure) arrived."""
        bad = entry.status != "ok" and (entry.error_type in PLATFORM_ERROR_TYPES or entry.status == "abandoned")
        with self._lock:
            self._answers.append((entry.end, entry.engine, bad))

    def start(self, t0: float) -> AbortMonitor:
        self._t0 = t0
        if self.conditions and self._thread is None:
            if self.prometheus_url and any(c.kind == "burn_rate" for c in self.conditions):
                self._prom = PrometheusClient(self.prometheus_url, timeout=max(1.0, self.check_every_s))
            self._thread = threading.Thread(target=self._run, name="chaos-abort", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._prom is not None:
            self._prom.close()

    def _run(self) -> None:
        while not self._stop.wait(self.check_every_s):
            reason = self.check(time.time())
            if reason:
                self.reason = reason
                self.on_abort(reason)
                return

    def check(self, now: float) -> str | None:
        for cond in self.conditions:
            if now - self._t0 < cond.after_s:
                continue
            value = self.error_ratio(cond, now) if cond.kind == "error_ratio" else self.burn_rate(cond)
            if value is not None and value > cond.above:
                return f"{cond.describe()}: {value:.3g} at +{now - self._t0:.1f}s"
        return None

    def error_ratio(self, cond: AbortCondition, now: float) -> float | None:
        engines = set(cond.engines or self.engines)
        with self._lock:
            window = [bad for end, engine, bad in self._answers if end >= now - cond.window_s and engine in engines]
        if len(window) < cond.min_queries:
            return None  # too few answers to say anything: a single failure is not a 100 % error ratio
        return sum(window) / len(window)

    def burn_rate(self, cond: AbortCondition) -> float | None:
        if self._prom is None:
            if "no Prometheus: burn-rate stop conditions are not checked" not in self.skipped:
                self.skipped.append("no Prometheus: burn-rate stop conditions are not checked")
            return None
        expr = cond.expr or burn_rate_expr(cond.engines or self.engines, self.objective, f"{int(cond.window_s)}s")
        try:
            return self._prom.value(expr)
        except (PrometheusUnavailable, ValueError):
            return None  # no data yet (NaN) or Prometheus busy: the next check will tell
