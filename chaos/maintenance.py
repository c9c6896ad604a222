"""A game day's faults in maintenance windows: chaos does not burn production budget unless asked.

Before an experiment runs, the game day opens one maintenance window through the SLO service's API
for the engines its faults target (every SLO split by engine; the whole platform when a step
restarts the gateway, which every engine's traffic crosses), and ends it once the experiment is
over (rollbacks and recovery included). The window covers the whole run: the faults' own instants
are only known as they happen, and the healthy load around them is a few seconds of events.
An experiment with ``burn_budget: true`` (one that proves a page) runs outside any window.

The SLO service creates the matching Alertmanager silence and exports the window to Prometheus;
this module waits until Prometheus has scraped it, so the first fault is already excluded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from chaos.experiment import Experiment
from exporters.contract import SLO_MAINTENANCE_ACTIVE
from foundation.maintenance import MaintenanceAPIError, MaintenanceClient
from foundation.prometheus import PrometheusClient, PrometheusUnavailable

#: How long past the load a window may stay open if the game day dies before ending it.
MARGIN_S = 120.0
SCRAPE_WAIT_S = 10.0
#: Steps that affect every engine's traffic, not only their target's.
PLATFORM_WIDE = frozenset({"restart_gateway"})


def window_scopes(exp: Experiment) -> list[str | None]:
    """The engines to put in maintenance (None: the whole platform), in method order."""
    if any(s.action in PLATFORM_WIDE for s in exp.method):
        return [None]
    return list(exp.engines)


def _max_seconds(exp: Experiment) -> int:
    return int(exp.load.duration_s + exp.load.deadline_s + exp.recovery_timeout_s + MARGIN_S)


def _scraped(prometheus_url: str, windows: list[dict[str, Any]]) -> bool:
    want = {(slo, w.get("engine") or "") for w in windows for slo in w["slos"]}
    with PrometheusClient(prometheus_url, timeout=2) as prom:
        deadline = time.monotonic() + SCRAPE_WAIT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(PrometheusUnavailable):
                seen = {(s.labels.get("slo", ""), s.labels.get("engine", ""))
                        for s in prom.query(f"{SLO_MAINTENANCE_ACTIVE.name} == 1")}
                if want <= seen:
                    return True
            time.sleep(0.25)
    return False


@contextlib.contextmanager
def fault_windows(exp: Experiment, slo_service_url: str | None, prometheus_url: str | None,
                  notes: list[str], say: Callable[[str], None] = lambda _m: None) -> Iterator[list[dict[str, Any]]]:
    """Run the body inside maintenance windows of the experiment's engines (none with ``burn_budget``).

    Never fails the game day: a window that cannot be opened or ended is a note of the report, and
    the faults then burn the budget as they would without this module.
    """
    if exp.burn_budget:
        notes.append(f"{exp.name}: burn_budget: its faults burn the SLO budgets and may page (no maintenance window)")
        yield []
        return
    if not slo_service_url:
        notes.append(f"{exp.name}: no SLO service to open a maintenance window: its faults burn the SLO budgets")
        yield []
        return
    opened: list[dict[str, Any]] = []
    with MaintenanceClient(slo_service_url) as api:
        try:
            for engine in window_scopes(exp):
                opened.append(api.open(f"game day: chaos experiment {exp.name}", engine=engine,
                                       duration=f"{_max_seconds(exp)}s"))
        except MaintenanceAPIError as e:
            notes.append(f"{exp.name}: maintenance window not opened ({e}): its faults burn the SLO budgets")
        if opened:
            where = ", ".join(w.get("engine") or "every engine" for w in opened)
            say(f"maintenance window for {where} ({', '.join(w['id'] for w in opened)})")
            if prometheus_url and not _scraped(prometheus_url, opened):
                notes.append(f"{exp.name}: Prometheus had not scraped the maintenance window "
                             f"{SCRAPE_WAIT_S:g}s after it opened: the first faults may burn budget")
            notes.append(f"{exp.name}: ran inside maintenance window(s) {', '.join(w['id'] for w in opened)} "
                         f"({where}): its faults burn no SLO budget, their SLO alerts are silenced")
        try:
            yield opened
        finally:
            for w in opened:
                try:
                    api.end(w["id"])
                except MaintenanceAPIError as e:
                    notes.append(f"{exp.name}: maintenance window {w['id']} not ended ({e}); it ends at {w['end']}")
