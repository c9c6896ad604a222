"""What the service shows about an SLO, and the Prometheus it reads it from.

The page and the API render these dataclasses only; how they are computed (slo's live evaluator,
the recorded series) stays behind ``LiveSource``. A missing number is ``None`` ("no data"), never
0, 1 or NaN. Nothing here remembers a failure: every request resolves the Prometheus URL again and
asks it again, so the service recovers by itself as soon as Prometheus answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.durations import parse_seconds
from foundation.prometheus import PrometheusClient, PrometheusUnavailable
from slo.errors import DataSourceError
from slo.model import SLO, Tier
from slo.windows import WindowProfile


class UnknownSLO(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown SLO {name!r}; known SLOs: {', '.join(known) or 'none'}")


class BadRequest(ValueError):
    """The request cannot be answered as asked; the message says how to fix it."""


def duration_arg(text: str, what: str) -> int:
    """A duration given by the client ("6h"), or BadRequest naming the argument."""
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise BadRequest(f"{what}: {exc}") from None


class DataSourceDown(RuntimeError):
    """Prometheus could not answer; the message names it and the error, for the API and the page."""

    def __init__(self, message: str, kind: str = "connection") -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class WindowState:
    seconds: int
    error_ratio: float | None  # None: no events in the window
    burn_rate: float | None  # error ratio over the error budget


@dataclass(frozen=True)
class TierState:
    tier: Tier
    burn_rate_threshold: float  # the tier fires when both windows burn faster than this
    error_ratio_threshold: float
    long: WindowState
    short: WindowState
    active: bool  # the alert condition holds now (without ``for``)


@dataclass(frozen=True)
class GroupState:
    """One series of the SLO: one per value of its group_by labels (for example one per engine)."""

    labels: dict[str, str]
    sli: float | None  # good share over the base window: "now"
    sli_period: float | None  # good share over the whole period: what the objective is about
    budget_remaining: float | None  # share of the period's error budget left (negative: overspent)
    burn_rate: float | None  # over the first page tier's long window: the "current" burn
    time_to_exhaustion: float | None  # seconds at the current burn; 0 when exhausted; None: see burning
    windows: tuple[WindowState, ...]
    tiers: tuple[TierState, ...]

    @property
    def has_data(self) -> bool:
        return self.sli is not None or self.budget_remaining is not None

    @property
    def burning(self) -> bool | None:
        """None: no data; False: no errors now, so the budget is not running out."""
        if self.burn_rate is None:
            return None
        return self.burn_rate > 0

    @property
    def firing(self) -> list[str]:
        return [t.tier.name for t in self.tiers if t.active]


@dataclass(frozen=True)
class SLOState:
    slo: SLO
    profile: WindowProfile
    tiers: tuple[Tier, ...]
    groups: tuple[GroupState, ...]

    @property
    def budget_remaining(self) -> float | None:
        """The worst group's: what the list sorts by. None only when no group has data."""
        return min((g.budget_remaining for g in self.groups), key=sort_key, default=None)

    @property
    def firing(self) -> list[str]:
        return sorted({name for g in self.groups for name in g.firing})


def sort_key(budget: float | None) -> tuple[int, float]:
    """Worst budget first; SLOs without data after every SLO that has some."""
    return (1, 0.0) if budget is None else (0, budget)


@dataclass(frozen=True)
class BudgetSeries:
    labels: dict[str, str]
    points: list[tuple[float, float | None]]  # on the requested grid; None where Prometheus had nothing


@dataclass(frozen=True)
class BurnDown:
    """Budget remaining over [start, end] every ``step`` seconds, one series per group."""

    slo: SLO  # with the period it was evaluated for
    start: float
    end: float
    step: int
    series: list[BudgetSeries]


class PrometheusLocator:
    """The Prometheus URL, given once (``--prometheus``) or read from a file at every request
    (``--prometheus-file``) so that a Prometheus restarted on another port is found again."""

    def __init__(self, url: str | None = None, url_file: Path | None = None) -> None:
        if (url is None) == (url_file is None):
            raise ValueError("give exactly one of a Prometheus URL and a file holding it")
        self._url = url
        self._file = url_file
        self._clients: dict[str, PrometheusClient] = {}
        self._lock = threading.Lock()

    def url(self) -> str:
        if self._url is not None:
            return self._url.rstrip("/")
        assert self._file is not None
        try:
            text = self._file.read_text().strip()
        except OSError as exc:
            raise DataSourceDown(f"the Prometheus URL file {self._file} cannot be read: {exc.strerror}") from None
        if not text:
            raise DataSourceDown(f"the Prometheus URL file {self._file} is empty")
        return text.rstrip("/")

    def client(self) -> PrometheusClient:
        # One client (one connection pool) per URL; httpx reconnects by itself after a restart, so
        # keeping it holds no failure state.
        url = self.url()
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = PrometheusClient(url, timeout=10.0)
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def data_source_error(exc: PrometheusUnavailable | DataSourceError) -> DataSourceDown:
    if isinstance(exc, PrometheusUnavailable):
        return DataSourceDown(str(exc), exc.kind)
    return DataSourceDown(str(exc))


ErrorHook = Callable[[str], None]
