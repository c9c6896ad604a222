"""The internal SLO model that every spec format loads into and every generator reads.

Spec formats (Sloth, OpenSLO, ours) differ; this model does not. Windows and periods are whole
seconds and objectives exact fractions, so burn-rate factors such as 14.4 come out exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Literal

from foundation.durations import format_duration
from slo.calendar import Calendar
from slo.errors import SpecError
from slo.maintenance import MaintenanceWindow, check_scope
from slo.promql import Query, TemplateQuery

Severity = Literal["page", "ticket"]
DEFAULT_PERIOD = 30 * 86400
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class EventsSLI:
    """Bad (or good) events over total events, each an events-per-second query.

    Exactly one of ``bad`` and ``good`` is set; ``group_by`` splits the SLO into one series per
    label combination (for example one per engine) for selector queries.
    """

    total: Query
    bad: Query | None = None
    good: Query | None = None
    group_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.bad is None) == (self.good is None):
            raise ValueError("an events SLI needs exactly one of bad (errors) and good events")


@dataclass(frozen=True)
class RawSLI:
    """An error ratio computed elsewhere (Sloth's ``raw``): every evaluation weighs the same."""

    error_ratio: TemplateQuery
    group_by: tuple[str, ...] = ()


SLI = EventsSLI | RawSLI


@dataclass(frozen=True)
class Tier:
    """One multi-window burn-rate condition: fire when both windows burn faster than the factor.

    The factor is derived, not stored: ``budget_share × period / long_window`` (the Workbook's
    "2% of a 30-day budget in 1 hour" is 14.4).
    """

    name: str
    severity: Severity
    long_window: int
    short_window: int
    budget_share: Fraction
    for_: int = 0

    def burn_rate(self, period: int) -> Fraction:
        return self.budget_share * period / self.long_window

    def describe(self, period: int) -> str:
        return (f"{self.name}: {float(self.burn_rate(period)):g}x over {format_duration(self.long_window)}"
                f" and {format_duration(self.short_window)}")


@dataclass(frozen=True)
class TierOverride:
    """Per-SLO changes to a profile tier; unset fields keep the profile's value."""

    disable: bool = False
    burn_rate: Fraction | None = None
    budget_share: Fraction | None = None
    long_window: int | None = None
    short_window: int | None = None
    for_: int | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class NoDataPolicy:
    enabled: bool = True
    for_: int | None = None  # None: the window profile's default
    zero_traffic: bool = True  # also alert when series exist but carry no events


@dataclass(frozen=True)
class Alerting:
    name: str | None = None  # alert name; derived from service and SLO name when unset
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    page_enabled: bool = True
    ticket_enabled: bool = True
    page_labels: dict[str, str] = field(default_factory=dict)
    page_annotations: dict[str, str] = field(default_factory=dict)
    ticket_labels: dict[str, str] = field(default_factory=dict)
    ticket_annotations: dict[str, str] = field(default_factory=dict)
    tiers: dict[str, TierOverride] = field(default_factory=dict)
    # Tiers given in full by the spec (OpenSLO alert conditions); they replace the profile's tiers
    # when use_profile_tiers is false.
    extra_tiers: tuple[Tier, ...] = ()
    use_profile_tiers: bool = True
    min_events: int | None = None  # None: automatic (one bad event alone never fires a tier)
    no_data: NoDataPolicy = field(default_factory=NoDataPolicy)
    runbook_url: str | None = None


@dataclass(frozen=True)
class BudgetPolicy:
    """What the period's remaining error budget means: a warning below ``low``, no releases at or
    below ``release_min`` (0: once the budget is spent)."""

    low: Fraction | None = Fraction(1, 4)  # None: no budget-low alert
    release_min: Fraction = Fraction(0)


@dataclass(frozen=True)
class SLO:
    service: str
    name: str
    objective: Fraction  # share of good events, 0 < objective < 1
    sli: SLI
    description: str = ""
    period: int = DEFAULT_PERIOD
    profile: str | None = None  # window profile name; None picks one by period
    # Judged per calendar month or ISO week (slo.compliance); ``period`` is then the nominal length
    # (30d, 7d) that burn rates and the rolling period rules use as the budget basis.
    calendar: Calendar | None = None
    labels: dict[str, str] = field(default_factory=dict)
    alerting: Alerting | None = field(default_factory=Alerting)
    source: str = "<python>"
    budget: BudgetPolicy = field(default_factory=BudgetPolicy)
    maintenance: tuple[MaintenanceWindow, ...] = ()  # declared windows: no events counted inside

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> Fraction:
        return 1 - self.objective

    @property
    def alert_name(self) -> str:
        if self.alerting and self.alerting.name:
            return self.alerting.name
        return camel(self.service) + camel(self.name) + "BudgetBurn"

    def with_period(self, period: int, profile: str | None) -> SLO:
        return replace(self, period=period, profile=profile)

    def validate(self) -> SLO:
        def fail(field_: str, reason: str) -> SpecError:
            return SpecError(reason, file=self.source, slo=self.name, field=field_)

        if not _NAME_RE.match(self.service or ""):
            raise fail("service", f"{self.service!r} is not a valid service name (letters, digits, - _ .)")
        if not _NAME_RE.match(self.name or ""):
            raise fail("name", f"{self.name!r} is not a valid SLO name (letters, digits, - _ .)")
        if not 0 < self.objective < 1:
            pct = float(self.objective * 100)
            why = "leaves no error budget to alert on" if self.objective >= 1 else "must be above 0%"
            raise fail("objective", f"objective {pct:g}% {why}; use a value in (0, 100)")
        for key in self.labels:
            if not _LABEL_RE.match(key):
                raise fail(f"labels.{key}", "not a valid Prometheus label name")
        for label in self.sli.group_by:
            if not _LABEL_RE.match(label) or label == "slo":
                raise fail("sli.group_by", f"{label!r} cannot be a grouping label")
        for i, window in enumerate(self.maintenance):
            if (why := check_scope(window, self.sli.group_by)) is not None:
                raise fail(f"maintenance[{i}].engine", why)
        low = self.budget.low
        if low is not None and not 0 < low <= 1:
            raise fail("budget.low_percent", f"{float(low * 100):g}% is not a share of the budget; use (0, 100]")
        if not 0 <= self.budget.release_min < 1:
            raise fail("budget.release_min_percent",
                       f"{float(self.budget.release_min * 100):g}% is not a share of the budget; use [0, 100)")
        if self.alerting:
            for where, labels in (("alerting.labels", self.alerting.labels),
                                  ("alerting.page_alert.labels", self.alerting.page_labels),
                                  ("alerting.ticket_alert.labels", self.alerting.ticket_labels)):
                for key in labels:
                    if not _LABEL_RE.match(key):
                        raise fail(f"{where}.{key}", "not a valid Prometheus label name")
            if self.alerting.name and not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", self.alerting.name):
                raise fail("alerting.name", f"{self.alerting.name!r} is not a valid alert name")
        return self


def camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^a-zA-Z0-9]+", text) if part)


def percent_to_objective(value: object) -> Fraction:
    """99.9 → 999/1000, exactly: the decimal text is used, not the binary float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")
    try:
        return Fraction(str(value)) / 100
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a number") from exc


def ratio_to_objective(value: object) -> Fraction:
    """0.999 → 999/1000 (OpenSLO targets are ratios)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")
    try:
        return Fraction(str(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a number") from exc
