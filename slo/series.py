"""Names of the series the SLO rules record, and the PromQL that derives every window from them.

Rules, the live evaluator and dashboards share these builders, so a window's error ratio is
computed the same way everywhere: a ratio of sums of the two recorded base series.
"""

from __future__ import annotations

from slo.durations import format_duration

SLO_LABEL = "slo"
TOTAL = "slo:sli_total:rate"  # events per second over the profile's base window
ERRORS = "slo:sli_errors:rate"  # bad events per second over the same window (0 when none)
PERIOD_ERROR_RATIO = "slo:sli_error:ratio_period"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
INFO = "slo:info"


def selector(name: str, slo_id: str) -> str:
    return f'{name}{{{SLO_LABEL}="{slo_id}"}}'


def _range(window: int | str) -> str:
    return window if isinstance(window, str) else format_duration(window)


def window_error_ratio(slo_id: str, window: int | str) -> str:
    """Bad over total events in the window: a ratio of sums, never an average of ratios.

    The base series are rates over overlapping ranges; each event is counted the same number of
    times in both sums, so the overlap cancels out of the ratio. 0/0 (no traffic) gives NaN here,
    which no comparison ever matches; budget rules filter it out before it can be recorded.
    """
    w = _range(window)
    return f"sum_over_time({selector(ERRORS, slo_id)}[{w}]) / sum_over_time({selector(TOTAL, slo_id)}[{w}])"


def window_events(slo_id: str, window: int | str) -> str:
    """Events in the window: mean rate × window length, independent of the evaluation interval."""
    seconds = window if isinstance(window, int) else None
    w = _range(window)
    factor = seconds if seconds is not None else f"{w}"
    return f"avg_over_time({selector(TOTAL, slo_id)}[{w}]) * {factor}"


def period_error_ratio(slo_id: str, period: int) -> str:
    """The period's error ratio, absent (not NaN) when the period had no events at all."""
    w = format_duration(period)
    return (f"sum_over_time({selector(ERRORS, slo_id)}[{w}])\n"
            f"/\n(sum_over_time({selector(TOTAL, slo_id)}[{w}]) > 0)")
