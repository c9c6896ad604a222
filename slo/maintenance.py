"""Maintenance windows: time ranges whose events count in no SLI, no burn-rate window and no budget.

Windows come from two places and reach the rules through one mechanism, the base recording rules
(the only rules that read raw series; every window and the period budget are sums of them):

- declared in a spec (``maintenance:`` of an enginewatch/v1 file, absolute times): the base rules
  compare ``time()`` with the window, so the rule file alone proves the exclusion (promtool);
- opened at runtime through the SLO service (``POST /api/v1/maintenance``), which exports
  ``slo_maintenance_window_active{slo, engine}`` = 1 while a window is open; Prometheus scrapes it and
  the base rules drop their events while a sample of it is within the last base window.

A base sample at ``t`` counts the events of ``(t - base window, t]``: a sample is excluded from the
window's start until one base window after its end, so that no event of the window leaks into the
first samples after it. A window with an ``engine`` excludes only that engine's series, of SLOs
split by engine; without one it excludes the whole SLO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from exporters.contract import SLO_MAINTENANCE_ACTIVE
from foundation.durations import format_duration
from foundation.promql import Matcher, Selector, quote

ENGINE_LABEL = "engine"
#: The SLO label of the runtime metric (the recorded series' label too: slo.series.SLO_LABEL).
SLO_LABEL = "slo"


@dataclass(frozen=True)
class MaintenanceWindow:
    """``[start, end)`` in unix seconds; ``engine`` narrows it to one engine's series."""

    start: int
    end: int
    reason: str = ""
    engine: str | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"end {iso(self.end)} is not after start {iso(self.start)}")

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _inside(window: MaintenanceWindow, base_window: int) -> str:
    """Non-empty (one label-less sample) exactly while base samples of ``window`` are evaluated."""
    return f"(vector(time()) >= {window.start} and vector(time()) < {window.end + base_window})"


def _declared(windows: Sequence[MaintenanceWindow], base_window: int) -> str:
    return " or ".join(_inside(w, base_window) for w in windows)


def runtime_selector(slo_id: str, *, engine_scoped: bool) -> Selector:
    """The runtime metric of one SLO: its engine-scoped windows, or its whole-SLO ones (engine="")."""
    return Selector(SLO_MAINTENANCE_ACTIVE.name, (Matcher(SLO_LABEL, "=", slo_id),
                                                  Matcher(ENGINE_LABEL, "!=" if engine_scoped else "=", "")))


def _runtime(slo_id: str, base_window: int, *, engine_scoped: bool) -> str:
    sel = runtime_selector(slo_id, engine_scoped=engine_scoped).promql()
    return f"max_over_time({sel}[{format_duration(base_window)}]) == 1"


def exclusions(slo_id: str, group_by: Sequence[str], windows: Sequence[MaintenanceWindow],
               base_window: int, runtime: bool = True) -> list[str]:
    """The ``unless`` clauses a base rule of the SLO ends with, one per scope (whole SLO, per engine).

    ``unless`` is a set operation: an empty right-hand side (no window open, no runtime metric
    scraped at all) leaves the base series as they are.
    """
    whole = [w for w in windows if w.engine is None]
    scoped = [w for w in windows if w.engine is not None]
    clauses = []
    whole_terms = ([_declared(whole, base_window)] if whole else []) + \
        ([_runtime(slo_id, base_window, engine_scoped=False)] if runtime else [])
    if whole_terms:
        clauses.append("unless on () (\n  " + "\n  or\n  ".join(whole_terms) + "\n)")
    if ENGINE_LABEL in group_by:
        engine_terms = [f'label_replace({_inside(w, base_window)}, "{ENGINE_LABEL}", {quote(w.engine or "")}, "", "")'
                        for w in scoped]
        if runtime:
            engine_terms.append(_runtime(slo_id, base_window, engine_scoped=True))
        if engine_terms:
            clauses.append(f"unless on ({ENGINE_LABEL}) (\n  " + "\n  or\n  ".join(engine_terms) + "\n)")
    return clauses


def exclude(expr: str, clauses: Sequence[str]) -> str:
    """``expr`` without the events of the windows (parenthesized: ``unless`` binds tighter than ``or``)."""
    if not clauses:
        return expr
    return f"(\n{expr}\n)\n" + "\n".join(clauses)


def any_window(slo_id: str, windows: Sequence[MaintenanceWindow], base_window: int, runtime: bool = True) -> str | None:
    """Non-empty while any window of the SLO (either scope) is open: the no-data alert's guard."""
    terms = [_inside(w, base_window) for w in windows]
    if runtime:
        any_scope = Selector(SLO_MAINTENANCE_ACTIVE.name, (Matcher(SLO_LABEL, "=", slo_id),)).promql()
        terms.append(f"max_over_time({any_scope}[{format_duration(base_window)}]) == 1")
    return " or ".join(terms) if terms else None


def check_scope(window: MaintenanceWindow, group_by: Sequence[str]) -> str | None:
    """Why the window cannot apply to an SLO with this grouping, or None."""
    if window.engine is not None and ENGINE_LABEL not in group_by:
        return f"engine {window.engine!r}: the SLO is not split by {ENGINE_LABEL} (group_by: {list(group_by)})"
    return None
