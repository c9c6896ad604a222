"""Names of the series the SLO rules record, and the PromQL that derives every window from them.

Rules, the live evaluator and dashboards share these builders, so a window's error ratio is
computed the same way everywhere: a ratio of sums of the two recorded base series.
"""

from __future__ import annotations

from foundation.durations import format_duration
from foundation.promql import Matcher, Selector

SLO_LABEL = "slo"
TOTAL = "slo:sli_total:rate"  # events per second over the profile's base window
ERRORS = "slo:sli_errors:rate"  # bad events per second over the same window (0 when none)
# The base series summed over one budget interval, recorded once per budget interval: the period's
# sums read these tiles, a fifth (google) or a tenth (local) of the base samples.
TOTAL_TILE = "slo:sli_total:tile_sum"
ERRORS_TILE = "slo:sli_errors:tile_sum"
PERIOD_ERROR_RATIO = "slo:sli_error:ratio_period"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
INFO = "slo:info"


def select(name: str, slo_id: str, *narrower: Matcher) -> Selector:
    """A recorded series of one SLO, optionally narrowed further (to an engine, say)."""
    return Selector(name, (Matcher(SLO_LABEL, "=", slo_id), *narrower))


def selector(name: str, slo_id: str) -> str:
    return select(name, slo_id).promql()


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


def tile(base: str, slo_id: str, interval: int, tile_length: int) -> str:
    """``base`` summed over the last ``tile_length`` seconds, only at every (tile/interval)-th evaluation.

    Recorded in the group that records ``base`` (same evaluation times), so a tile holds exactly the
    last n base samples: the range ends half an interval after the oldest of them, inside the gap to
    the sample before, whether ranges are closed (Prometheus 2) or open on the left (3). Keeping one
    evaluation in n makes consecutive tiles abut, each base sample in exactly one tile.
    """
    if tile_length % interval:
        raise ValueError(f"a tile of {tile_length}s is not a whole number of {interval}s evaluations")
    n = tile_length // interval
    span_ms = (n - 1) * interval * 1000 + interval * 500
    span = format_duration(span_ms // 1000) if span_ms % 1000 == 0 else f"{span_ms}ms"
    now = "vector(time())" if interval == 1 else f"vector(time()) / {interval}"
    return f"sum_over_time({selector(base, slo_id)}[{span}])\nand on () (floor({now}) % {n} == 0)"


def period_error_ratio(slo_id: str, period: int) -> str:
    """The period's error ratio from the tiles, absent (not NaN) when the period had no events at all.

    The tiles' ratio of sums is the base series' ratio of sums: each base sample is in one tile.
    """
    w = format_duration(period)
    return (f"sum_over_time({selector(ERRORS_TILE, slo_id)}[{w}])\n"
            f"/\n(sum_over_time({selector(TOTAL_TILE, slo_id)}[{w}]) > 0)")
