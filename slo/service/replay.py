"""A backtest request → slo.backtest: resolve the SLO, read its history, score the policies.

History comes from an uploaded CSV of per-interval counts or from Prometheus (the SLO's recorded
base rates × interval, one column per group, via ``slo.history.from_prometheus``). pandas is
imported here, never at service start.
"""

from __future__ import annotations

import io
import math
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from foundation.prometheus import MAX_POINTS
from slo.errors import SpecError
from slo.loaders import load_paths
from slo.model import SLO
from slo.service.live import LiveSource
from slo.service.models import BacktestRequest, BacktestResult, RangeHistory, TierScore
from slo.service.source import BadRequest, UnknownSLO, duration_arg
from slo.windows import WindowProfile, apply_profile, effective_tiers, get_profile

if TYPE_CHECKING:
    from slo.history import History



@dataclass(frozen=True)
class Subject:
    slo: SLO  # under the profile its rules were deployed with, when the history comes from Prometheus
    profile: WindowProfile
    policy: str


def _spec_slos(spec: str | dict[str, Any]) -> list[SLO]:
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
    # The loaders read files (and name them in errors): give them one, and name it "spec" in messages.
    with tempfile.TemporaryDirectory(prefix="slo-backtest-") as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text)
        try:
            return load_paths([path])
        except SpecError as exc:
            raise BadRequest(str(exc).replace(str(path), "spec")) from None


def _pick(slos: list[SLO], name: str | None) -> SLO:
    if name is not None:
        by_id = {s.id: s for s in slos}
        if name not in by_id:
            raise UnknownSLO(name, sorted(by_id))
        return by_id[name]
    if len(slos) != 1:
        raise BadRequest(f"the spec has {len(slos)} SLOs; name one with slo: {', '.join(s.id for s in slos)}")
    return slos[0]


def subject(request: BacktestRequest, source: LiveSource) -> Subject:
    if request.spec is not None:
        slo = _pick(_spec_slos(request.spec), request.slo)
    else:
        assert request.slo is not None
        slo = source.spec(request.slo)
    # Only a Prometheus history needs the deployed profile (its recorded resolution); a CSV backtest
    # never touches Prometheus, so it works while Prometheus is down.
    deployed = source.deployed_profiles() if request.range is not None else {}
    resolved = source.resolve(slo, deployed)
    policy = request.policy or resolved.profile.name
    for name in filter(None, (policy, request.compare)):
        try:
            get_profile(name)
        except SpecError as exc:
            raise BadRequest(str(exc)) from None
    return Subject(resolved.slo, resolved.profile, policy)


def _csv_history(text: str, slo: SLO) -> History:
    import pandas as pd

    from slo.backtest import slo_of
    from slo.history import from_long

    try:
        frame = pd.read_csv(io.StringIO(text))
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's bad CSV
        raise BadRequest(f"cannot read the CSV: {exc}") from None
    if "slo" not in frame.columns:
        frame["slo"] = slo.id
    # Rows of other SLOs are ignored; ``id{engine="x"}`` rows are groups of this one.
    frame = frame[frame["slo"].astype(str).map(slo_of) == slo.id]
    if frame.empty:
        raise BadRequest(f"the CSV has no rows for SLO {slo.id!r}")
    try:
        return from_long(frame, "csv")
    except SpecError as exc:
        raise BadRequest(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"cannot read the CSV: {exc}") from None


def default_step(slo: SLO, policies: list[str], resolved: WindowProfile) -> int:
    """The longest interval that divides every tier window (and ``for``) and is no longer than the base window.

    Recorded rates × interval add up to the events only when the samples are at most one base
    window apart; the replay needs every window to be a whole number of intervals.
    """
    windows = []
    for name in policies:
        profile = get_profile(name)
        windows += [w for t in effective_tiers(apply_profile(slo, profile), profile)
                    for w in (t.long_window, t.short_window, t.for_)]
    gcd = reduce(math.gcd, windows, 0) or resolved.base_window
    return max(d for d in range(1, resolved.base_window + 1) if gcd % d == 0)


def _range_history(spec: RangeHistory, slo: SLO, policies: list[str], resolved: WindowProfile,
                   source: LiveSource) -> History:
    from slo.history import from_prometheus

    step = duration_arg(spec.step, "step") if spec.step else default_step(slo, policies, resolved)
    end = spec.end.timestamp() if spec.end else time.time()
    end = math.floor(end / step) * step
    if spec.start:
        start = spec.start.timestamp()
    else:
        # Default: the SLO period, or as much of it as one range query holds.
        start = end - (duration_arg(spec.range, "range") if spec.range else min(slo.period, (MAX_POINTS - 1) * step))
    start = math.ceil(start / step) * step
    points = (end - start) // step + 1
    if points < 2:
        raise BadRequest("range: the history needs at least two intervals of step after start")
    if points > MAX_POINTS:
        raise BadRequest(f"range: {points} intervals of {step}s; Prometheus returns at most {MAX_POINTS} "
                         "per query: shorten the range or lengthen the step")
    try:
        return source.call(lambda c: from_prometheus(cast(Any, c), [slo], start, end, step))
    except SpecError as exc:
        raise BadRequest(str(exc)) from None


def _opt(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def run(request: BacktestRequest, source: LiveSource) -> BacktestResult:
    from slo import backtest

    sub = subject(request, source)
    policies = [sub.policy, *([request.compare] if request.compare and request.compare != sub.policy else [])]
    history = (_csv_history(request.csv, sub.slo) if request.csv is not None
               else _range_history(request.range or RangeHistory(), sub.slo, policies, sub.profile, source))
    slo = sub.slo
    try:
        incidents = backtest.incidents_from(history, [slo])
        table = backtest.compare(history, [slo], policies, incidents=incidents)
    except SpecError as exc:
        raise BadRequest(str(exc)) from None
    rows = []
    for policy in policies:
        part = table[policy]
        for tier, row in part.iterrows():
            rows.append(TierScore(policy=policy, tier=str(tier), alerts=int(row["alerts"]),
                                  precision=_opt(row["precision"]), recall=_opt(row["recall"]),
                                  detection_seconds=_opt(row["detection_s"]), reset_seconds=_opt(row["reset_s"]),
                                  budget_before_page=_opt(row["budget_before_page"])))
    idx = history.total.index
    return BacktestResult(slo=sub.slo.id, policies=policies,
                          history_source="csv" if request.csv is not None else "prometheus",
                          start=idx[0].to_pydatetime().astimezone(UTC), end=idx[-1].to_pydatetime().astimezone(UTC),
                          step_seconds=history.step, intervals=len(idx), incidents=len(incidents), tiers=rows)
