"""A minimal Prometheus HTTP API client (httpx): instant and range queries, errors as DataSourceError."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from slo.errors import DataSourceError

MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


class Prometheus:
    def __init__(self, url: str, timeout: float = 30.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            response = self._client.post(f"{self.url}{path}", data=params)
        except httpx.HTTPError as exc:
            raise DataSourceError(f"Prometheus at {self.url} is unreachable: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            raise DataSourceError(f"Prometheus at {self.url} answered HTTP {response.status_code} "
                                  "without JSON") from None
        if body.get("status") != "success":
            raise DataSourceError(f"Prometheus at {self.url} refused the query: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, time: float | None = None) -> list[Sample]:
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = time
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        return [Sample(r["metric"], float(r["value"][1])) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: int) -> list[Series]:
        """Range query, split into chunks below the server's points-per-series limit."""
        out: dict[tuple[tuple[str, str], ...], Series] = {}
        chunk = (MAX_POINTS - 1) * step
        t = start
        while t <= end:
            stop = min(end, t + chunk)
            data = self._get("/api/v1/query_range", {"query": expr, "start": t, "end": stop, "step": step})
            for r in data["result"]:
                key = tuple(sorted(r["metric"].items()))
                series = out.setdefault(key, Series(r["metric"], []))
                series.points.extend((float(ts), float(v)) for ts, v in r["values"])
            t = stop + step
        return list(out.values())

    def ready(self) -> bool:
        try:
            return self._client.get(f"{self.url}/-/ready").status_code == 200
        except httpx.HTTPError:
            return False


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
