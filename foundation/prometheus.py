"""A small typed client of the Prometheus HTTP API (the readers' side of the house).

Every failure — connection refused, timeout, HTTP status, an API error such as a PromQL syntax error —
becomes one exception, PrometheusUnavailable, whose message names the data source and the error, so a
CLI verb or a report can say it plainly instead of showing a stack trace. (slo calls the same exception
DataSourceError.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any

import httpx

from foundation.http import HttpClient

if TYPE_CHECKING:
    import pandas as pd

Timestamp = float | datetime

#: Prometheus refuses range queries of more points per series than this; query_range splits longer ones.
MAX_POINTS = 11_000
# Longer queries go in a POST body: inlined recording rules make expressions of many kilobytes, more
# than a URL should carry.
_MAX_GET_QUERY = 4096


class PrometheusUnavailable(RuntimeError):
    """Prometheus could not answer. ``kind`` is "connection", "http" or "api"."""

    def __init__(self, url: str, kind: str, message: str, status: int | None = None,
                 error_type: str | None = None) -> None:
        self.url = url
        self.kind = kind
        self.status = status
        self.error_type = error_type
        self.message = message
        super().__init__(f"Prometheus at {url}: {message}")


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value)


@dataclass(frozen=True)
class QueryStats:
    samples: int  # samples the query loaded from storage (totalQueryableSamples): its cost in data
    peak_samples: int  # the most it held in memory at once
    seconds: float  # evaluation time as the server measured it


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    labels: dict[str, str]
    health: str  # "up", "down" or "unknown"
    last_error: str
    scrape_url: str
    last_scrape: str


@dataclass(frozen=True)
class Rule:
    group: str
    file: str
    name: str
    type: str  # "alerting" or "recording"
    query: str
    health: str
    last_error: str
    state: str | None  # alerting rules only: "inactive", "pending" or "firing"
    labels: dict[str, str]
    duration: float = 0.0  # alerting rules only: the ``for`` hold, in seconds


@dataclass(frozen=True)
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # "pending" or "firing"
    active_at: str
    value: float

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


def _ts(t: Timestamp) -> str:
    return repr(t.timestamp() if isinstance(t, datetime) else float(t))


def _seconds(t: Timestamp) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def _float(v: str) -> float:
    # Prometheus encodes values as strings, including "NaN", "+Inf" and "-Inf"; float() reads them all.
    return float(v)


def finite(value: float | None) -> float | None:
    """``value``, or None for NaN, ±Inf and None: what a report shows as "no data"."""
    return value if value is not None and math.isfinite(value) else None


class PrometheusClient(HttpClient):
    def __init__(self, url: str, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        super().__init__(url, timeout, client)

    def _unavailable(self, reason: str) -> Exception:
        return PrometheusUnavailable(self.url, "connection", reason)

    # --- transport -----------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        if params and len(params.get("query", "")) > _MAX_GET_QUERY:
            # The query endpoints take the same parameters form-encoded in a POST body.
            r = self._send("POST", path, data=params)
        else:
            r = self._send("GET", path, params=params)
        try:
            body = r.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            # 400 bad_data (PromQL), 422 execution errors, 503 timeouts: the API says what went wrong.
            raise PrometheusUnavailable(self.url, "api", f"{body.get('errorType')}: {body.get('error')}",
                                        status=r.status_code, error_type=body.get("errorType"))
        if r.status_code != 200 or not isinstance(body, dict):
            raise PrometheusUnavailable(self.url, "http", f"HTTP {r.status_code} for {path}",
                                        status=r.status_code)
        return body.get("data")

    # --- API -----------------------------------------------------------------------------------------

    def ready(self) -> bool:
        try:
            return self._client.get(f"{self.url}/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str, time: Timestamp | None = None) -> list[Sample]:
        """Instant query. A scalar comes back as one sample without labels."""
        params = {"query": expr}
        if time is not None:
            params["time"] = _ts(time)
        data = self._get("/api/v1/query", params)
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [Sample(r["metric"], _float(r["value"][1]), float(r["value"][0])) for r in result]
        if kind == "scalar":
            return [Sample({}, _float(result[1]), float(result[0]))]
        raise ValueError(f"{expr!r} returns a {kind}; use query_range, or wrap a range selector in a function")

    def query_stats(self, expr: str, time: Timestamp | None = None) -> QueryStats:
        """What an instant query of ``expr`` costs the server (its result is dropped)."""
        params = {"query": expr, "stats": "all"}
        if time is not None:
            params["time"] = _ts(time)
        stats = self._get("/api/v1/query", params)["stats"]
        return QueryStats(int(stats["samples"]["totalQueryableSamples"]), int(stats["samples"]["peakSamples"]),
                          float(stats["timings"]["evalTotalTime"]))

    def value(self, expr: str, default: float = math.nan) -> float:
        """The single value of ``expr`` (e.g. a sum), ``default`` when it returns nothing."""
        samples = self.query(expr)
        if len(samples) > 1:
            raise ValueError(f"{expr!r} returns {len(samples)} series, expected one")
        return samples[0].value if samples else default

    def query_range(self, expr: str, start: Timestamp, end: Timestamp, step: float) -> list[Series]:
        """Range query; one of more than MAX_POINTS points per series is split into chunks and joined."""
        t0, points = _seconds(start), math.floor((_seconds(end) - _seconds(start)) / step) + 1
        if points <= MAX_POINTS:
            return self._query_range(expr, _ts(start), _ts(end), step)
        joined: dict[tuple[tuple[str, str], ...], Series] = {}
        for first in range(0, points, MAX_POINTS):
            last = min(first + MAX_POINTS, points) - 1
            for s in self._query_range(expr, _ts(t0 + first * step), _ts(t0 + last * step), step):
                key = tuple(sorted(s.labels.items()))
                if key in joined:
                    joined[key].points.extend(s.points)
                else:
                    joined[key] = s
        return list(joined.values())

    def _query_range(self, expr: str, start: str, end: str, step: float) -> list[Series]:
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": repr(float(step))})
        return [Series(r["metric"], [(float(t), _float(v)) for t, v in r["values"]]) for r in data["result"]]

    def query_range_frame(self, expr: str, start: Timestamp, end: Timestamp, step: float) -> pd.DataFrame:
        """query_range as a long DataFrame: one row per point, columns ``timestamp``, ``value`` and labels."""
        import pandas as pd  # pandas is heavy; only the callers that want frames pay for it

        rows = [{**s.labels, "timestamp": pd.Timestamp(t, unit="s", tz="UTC"), "value": v}
                for s in self.query_range(expr, start, end, step) for t, v in s.points]
        return pd.DataFrame(rows, columns=None if rows else ["timestamp", "value"])

    def targets(self) -> list[Target]:
        """Active scrape targets with their final labels (after service discovery and relabelling)."""
        data = self._get("/api/v1/targets", {"state": "active"})
        return [Target(job=t.get("scrapePool", t["labels"].get("job", "")),
                       instance=t["labels"].get("instance", ""), labels=t["labels"], health=t["health"],
                       last_error=t.get("lastError", ""), scrape_url=t.get("scrapeUrl", ""),
                       last_scrape=t.get("lastScrape", ""))
                for t in data["activeTargets"]]

    def config(self) -> dict[str, Any]:
        """The configuration Prometheus runs on (``/api/v1/status/config``), parsed."""
        import yaml

        loaded = yaml.safe_load(self._get("/api/v1/status/config")["yaml"])
        return loaded if isinstance(loaded, dict) else {}

    def rules(self) -> list[Rule]:
        data = self._get("/api/v1/rules")
        return [Rule(group=g["name"], file=g.get("file", ""), name=r["name"], type=r["type"],
                     query=r["query"], health=r.get("health", ""), last_error=r.get("lastError", ""),
                     state=r.get("state"), labels=r.get("labels", {}), duration=float(r.get("duration") or 0))
                for g in data["groups"] for r in g["rules"]]

    def samples(self, selector: str, seconds: float, time: Timestamp) -> list[Series]:
        """The raw samples of ``selector`` in the ``seconds`` before ``time`` (a range-vector instant query):
        every scrape as it was stored, for counts that a rate() would extrapolate."""
        data = self._get("/api/v1/query", {"query": f"{selector}[{max(1, math.ceil(seconds))}s]", "time": _ts(time)})
        return [Series(labels=s["metric"], points=[(float(t), _float(v)) for t, v in s.get("values", [])])
                for s in data.get("result", [])]

    def version(self) -> str:
        """The server's version (``2.42.0``), from its build information."""
        return str((self._get("/api/v1/status/buildinfo") or {}).get("version", ""))

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts as Prometheus sees them (before Alertmanager's grouping)."""
        data = self._get("/api/v1/alerts")
        return [Alert(labels=a["labels"], annotations=a.get("annotations", {}), state=a["state"],
                      active_at=a.get("activeAt", ""), value=_float(a.get("value", "nan")))
                for a in data["alerts"]]

    def wait_for(self, expr: str, predicate: Callable[[list[Sample]], bool], timeout: float = 30.0,
                 interval: float = 0.5) -> list[Sample]:
        """Poll ``expr`` until ``predicate(samples)`` holds; returns those samples.

        Errors while polling count as "not yet" (Prometheus may still be starting); on timeout the
        TimeoutError names the last result or the last error.
        """
        deadline = monotonic() + timeout
        last: str = "no answer yet"
        while True:
            try:
                samples = self.query(expr)
                if predicate(samples):
                    return samples
                last = f"last result {[(s.labels, s.value) for s in samples]}"
            except PrometheusUnavailable as e:
                last = f"last error: {e}"
            if monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {expr!r}; {last}")
            sleep(interval)
