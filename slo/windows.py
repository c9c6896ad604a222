"""Window profiles: the SLO period, the burn-rate tiers and the rule cadence that go together.

``google-30d`` and ``google-28d`` are the SRE Workbook / Sloth tables (share of the period's budget
over a long and a short window). ``local`` is ``google-30d`` with time compressed 60×: a 12 h period,
1 s scrapes and evaluations, 1 m/5 s page windows. Shares and burn rates are the same, so the alert
semantics are the same, and a total outage pages within seconds under ``enginewatch up``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from foundation.deployment import cadence
from foundation.durations import format_duration
from slo.errors import SpecError
from slo.model import SLO, Tier

H = 3600
D = 86400


@dataclass(frozen=True)
class WindowProfile:
    name: str
    period: int
    tiers: tuple[Tier, ...]
    interval: int  # evaluation interval of the SLO rule groups
    base_window: int  # range of the only two rules that read raw series; keep >= 2 scrape intervals
    budget_interval: int  # the period-long budget rules change slowly: evaluate them less often
    scrape_interval: int  # the scrape interval the profile assumes (and generated tests use)
    no_data_for: int

    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)


def _tiers(period: int, rows: list[tuple[str, str, str | Fraction, int, int, int]]) -> tuple[Tier, ...]:
    """Rows of (name, severity, share or "burn:X", long, short, for)."""
    out = []
    for name, severity, share, long_w, short_w, for_ in rows:
        if isinstance(share, str):
            share = Fraction(share.removeprefix("burn:")) * long_w / period
        out.append(Tier(name, severity, long_w, short_w, Fraction(share), for_))  # type: ignore[arg-type]
    return tuple(out)


def _google(period: int) -> tuple[Tier, ...]:
    return _tiers(period, [
        ("page-fast", "page", Fraction(2, 100), 1 * H, 5 * 60, 0),
        ("page-slow", "page", Fraction(5, 100), 6 * H, 30 * 60, 0),
        ("ticket-fast", "ticket", Fraction(10, 100), 1 * D, 2 * H, 0),
        ("ticket-slow", "ticket", Fraction(10, 100), 3 * D, 6 * H, 0),
    ])


# The base window is the estimator's only lag (half of it at an incident's start, all of it at its
# end): 1m keeps our alerts within one evaluation of Sloth's exact-range alerts. It needs two scrapes
# per minute, so the Google profiles assume the slowest scrape that allows (30 s), not a deployment's
# cadence; with a slower scrape the base series vanish and SLONoData says so.
GOOGLE_30D = WindowProfile("google-30d", 30 * D, _google(30 * D), interval=60, base_window=60,
                           budget_interval=300, scrape_interval=30, no_data_for=15 * 60)
GOOGLE_28D = WindowProfile("google-28d", 28 * D, _google(28 * D), interval=60, base_window=60,
                           budget_interval=300, scrape_interval=30, no_data_for=15 * 60)
_LOCAL_PERIOD = 12 * H
# The local stack's own cadence (foundation.deployment), which `enginewatch up` gives Prometheus.
_LOCAL_CADENCE = cadence("local")
LOCAL = WindowProfile("local", _LOCAL_PERIOD, _tiers(_LOCAL_PERIOD, [
    ("page-fast", "page", Fraction(2, 100), 60, 5, 0),
    ("page-slow", "page", Fraction(5, 100), 6 * 60, 30, 0),
    ("ticket-fast", "ticket", Fraction(10, 100), 24 * 60, 2 * 60, 0),
    ("ticket-slow", "ticket", Fraction(10, 100), 72 * 60, 6 * 60, 0),
]), interval=_LOCAL_CADENCE.evaluation_interval, base_window=3 * _LOCAL_CADENCE.scrape_interval, budget_interval=10,
    scrape_interval=_LOCAL_CADENCE.scrape_interval, no_data_for=15)

# Policies to compare against in backtests (not meant for generation, though they work).
WORKBOOK_30D = WindowProfile("workbook-30d", 30 * D, _tiers(30 * D, [
    ("page-fast", "page", Fraction(2, 100), 1 * H, 5 * 60, 0),
    ("page-slow", "page", Fraction(5, 100), 6 * H, 30 * 60, 0),
    ("ticket-slow", "ticket", Fraction(10, 100), 3 * D, 6 * H, 0),
]), interval=60, base_window=60, budget_interval=300, scrape_interval=30, no_data_for=15 * 60)
PYRRA_30D = WindowProfile("pyrra-30d", 30 * D, _tiers(30 * D, [
    ("page-fast", "page", "burn:14", 1 * H, 5 * 60, 2 * 60),
    ("page-slow", "page", "burn:7", 6 * H, 30 * 60, 15 * 60),
    ("ticket-fast", "ticket", "burn:2", 1 * D, 2 * H, 1 * H),
    ("ticket-slow", "ticket", "burn:1", 4 * D, 6 * H, 3 * H),
]), interval=60, base_window=60, budget_interval=300, scrape_interval=30, no_data_for=15 * 60)

PROFILES: dict[str, WindowProfile] = {
    p.name: p for p in (GOOGLE_30D, GOOGLE_28D, LOCAL, WORKBOOK_30D, PYRRA_30D)
}


def get_profile(name: str) -> WindowProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise SpecError(f"unknown window profile {name!r}; known: {', '.join(PROFILES)}",
                        field="profile") from None


def profile_for(slo: SLO) -> WindowProfile:
    """The SLO's named profile, else the Google one for its period, else Google's burn rates."""
    if slo.profile:
        return get_profile(slo.profile)
    for profile in (GOOGLE_30D, GOOGLE_28D):
        if profile.period == slo.period:
            return profile
    # Other periods keep the Workbook's burn rates and windows; the budget shares follow.
    rows = [(t.name, t.severity, f"burn:{t.burn_rate(GOOGLE_30D.period)}", t.long_window, t.short_window, 0)
            for t in GOOGLE_30D.tiers]
    tiers = _tiers(slo.period, rows)  # type: ignore[arg-type]
    return replace(GOOGLE_30D, name=f"burn-rates-{format_duration(slo.period)}", period=slo.period,
                   tiers=tiers)


def apply_profile(slo: SLO, profile: WindowProfile) -> SLO:
    """The SLO evaluated under another profile (``local`` compresses the period too)."""
    return slo.with_period(profile.period, profile.name)


def effective_tiers(slo: SLO, profile: WindowProfile | None = None) -> tuple[Tier, ...]:
    """The SLO's alert tiers after its overrides, each checked to be able to fire."""
    profile = profile or profile_for(slo)
    alerting = slo.alerting
    if alerting is None:
        return ()
    known = {t.name for t in profile.tiers}
    for name in alerting.tiers:
        if name not in known:
            raise SpecError(f"unknown tier {name!r}; the {profile.name} profile has {', '.join(sorted(known))}",
                            file=slo.source, slo=slo.name, field=f"alerting.tiers.{name}")
    tiers: list[Tier] = []
    base_tiers = profile.tiers if alerting.use_profile_tiers else ()
    for base in (*base_tiers, *alerting.extra_tiers):
        override = alerting.tiers.get(base.name)
        tier = base
        if override:
            if override.disable:
                continue
            long_w = override.long_window or base.long_window
            share = base.budget_share * long_w / base.long_window if override.long_window else base.budget_share
            if override.budget_share is not None:
                share = override.budget_share
            if override.burn_rate is not None:
                share = override.burn_rate * long_w / slo.period
            tier = Tier(base.name, override.severity or base.severity, long_w,
                        override.short_window or base.short_window, share,
                        base.for_ if override.for_ is None else override.for_)
        if tier.severity == "page" and not alerting.page_enabled:
            continue
        if tier.severity == "ticket" and not alerting.ticket_enabled:
            continue
        check_tier(slo, tier, profile)
        tiers.append(tier)
    return tuple(tiers)


def check_tier(slo: SLO, tier: Tier, profile: WindowProfile) -> None:
    def fail(reason: str) -> SpecError:
        return SpecError(reason, file=slo.source, slo=slo.name, field=f"alerting.tiers.{tier.name}")

    if tier.short_window >= tier.long_window:
        raise fail(f"short window {format_duration(tier.short_window)} must be shorter than the long "
                   f"window {format_duration(tier.long_window)}")
    if tier.long_window > slo.period:
        raise fail(f"long window {format_duration(tier.long_window)} is longer than the SLO period "
                   f"{format_duration(slo.period)}")
    if tier.short_window < profile.interval:
        raise fail(f"short window {format_duration(tier.short_window)} is shorter than the evaluation "
                   f"interval {format_duration(profile.interval)}")
    factor = tier.burn_rate(slo.period)
    if factor <= 0:
        raise fail("burn rate must be positive")
    threshold = factor * slo.error_budget
    if threshold >= 1:
        raise fail(
            f"this tier can never fire: burn rate {float(factor):g} × error budget "
            f"{float(slo.error_budget):g} = {float(threshold):g}, and an error ratio cannot exceed 1 "
            f"(objective {float(slo.objective * 100):g}% is too low for {float(tier.budget_share * 100):g}% "
            f"of the budget in {format_duration(tier.long_window)}); disable the tier, lengthen its long "
            f"window or raise the objective")


def min_events(slo: SLO, tier: Tier) -> int:
    """Events the long window needs before the tier may fire (the low-traffic guard).

    Automatic: the smallest count at which one bad event alone stays under the threshold, so a
    single failure on a quiet service never pages.
    """
    if slo.alerting and slo.alerting.min_events is not None:
        return slo.alerting.min_events
    threshold = tier.burn_rate(slo.period) * slo.error_budget
    return max(1, math.ceil(1 / threshold))
