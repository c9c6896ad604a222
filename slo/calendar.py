"""Calendar periods: months and ISO weeks (Monday 00:00) of a timezone, as exact instants.

A calendar SLO is judged per period: January counts January's events only, however long January
is, where a rolling 30-day window at the end of February still holds two days of January. Months
and weeks start at local midnight of the calendar's timezone (UTC unless the spec names one), so a
month is 28 to 31 days long (± an hour across a daylight-saving change). Only the boundaries are
computed here; ``slo.compliance`` turns a period into Prometheus ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Unit = Literal["month", "week"]
UNITS: tuple[str, ...] = get_args(Unit)
#: The length a calendar period stands for where one fixed length is needed: the budget basis of
#: burn rates and the rolling period rules (the Workbook's choice: a month's budget is 30 days').
NOMINAL: dict[str, int] = {"month": 30 * 86400, "week": 7 * 86400}


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; ``ValueError`` naming it when the system does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (use an IANA name such as UTC or Europe/Berlin)") from None


@dataclass(frozen=True)
class Calendar:
    unit: Unit
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown calendar period {self.unit!r}; use one of {', '.join(UNITS)}")
        zone(self.timezone)

    @property
    def nominal(self) -> int:
        return NOMINAL[self.unit]


@dataclass(frozen=True)
class Period:
    """[start, end) of one calendar period, both aware datetimes in UTC."""

    start: datetime
    end: datetime
    label: str  # "2026-02" or "2026-W07" (ISO week-numbering year)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _first_day(cal: Calendar, day: date) -> date:
    if cal.unit == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())  # ISO weeks start on Monday


def _next_first_day(cal: Calendar, first: date) -> date:
    if cal.unit == "month":
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first + timedelta(days=7)


def _label(cal: Calendar, first: date) -> str:
    if cal.unit == "month":
        return f"{first.year:04d}-{first.month:02d}"
    iso = first.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def _period(cal: Calendar, first: date) -> Period:
    tz = zone(cal.timezone)
    return Period(_local_midnight(first, tz), _local_midnight(_next_first_day(cal, first), tz), _label(cal, first))


def period_at(cal: Calendar, at: datetime) -> Period:
    """The period that holds ``at`` (an aware datetime): start <= at < end."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime has no instant; give a timezone")
    first = _first_day(cal, at.astimezone(zone(cal.timezone)).date())
    p = _period(cal, first)
    # Local midnight can be skipped or repeated by a DST change; step to the neighbour if needed.
    if at < p.start:
        return _period(cal, _first_day(cal, first - timedelta(days=1)))
    if at >= p.end:
        return _period(cal, _next_first_day(cal, first))
    return p


def last_periods(cal: Calendar, count: int, now: datetime) -> list[Period]:
    """The ``count`` periods up to the one holding ``now`` (which is last and still running), oldest first."""
    if count < 1:
        raise ValueError("count must be at least 1")
    out = [period_at(cal, now)]
    while len(out) < count:
        out.append(period_at(cal, out[-1].start - timedelta(microseconds=1)))
    return out[::-1]


def parse_instant(text: str) -> datetime:
    """An RFC 3339 time (``2026-03-01T00:00:00Z``; no offset means UTC) or Unix seconds."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an RFC 3339 time (2026-03-01T00:00:00Z) nor Unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
