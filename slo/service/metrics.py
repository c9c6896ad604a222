"""The SLO service's own golden signals, registered from the metric contract.

A pure ASGI middleware times every request and labels it with the route *template* (``/slo/{name}``),
never the raw path: a client must not be able to create series by requesting made-up URLs.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exporters.contract import (
    DATASOURCE_ERROR_KINDS,
    SLO_SERVICE_DATASOURCE_ERRORS,
    SLO_SERVICE_ERRORS,
    SLO_SERVICE_INFLIGHT,
    SLO_SERVICE_REQUEST_DURATION,
)

OTHER_ROUTE = "other"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        m = SLO_SERVICE_REQUEST_DURATION
        self.duration = Histogram(m.client_name, m.help, m.labels, buckets=m.buckets, registry=self.registry)
        m = SLO_SERVICE_ERRORS
        self.errors = Counter(m.client_name, m.help, m.labels, registry=self.registry)
        m = SLO_SERVICE_INFLIGHT
        self.inflight = Gauge(m.client_name, m.help, m.labels, registry=self.registry)
        m = SLO_SERVICE_DATASOURCE_ERRORS
        self.datasource_errors = Counter(m.client_name, m.help, m.labels, registry=self.registry)
        # Every kind exists at 0 from the first scrape, so rate() and absent() work from the start.
        for kind in DATASOURCE_ERROR_KINDS:
            self.datasource_errors.labels(kind)

    def datasource_error(self, kind: str) -> None:
        self.datasource_errors.labels(kind if kind in DATASOURCE_ERROR_KINDS else "connection").inc()

    def observe(self, route: str, status: int, seconds: float) -> None:
        cls = status_class(status)
        self.duration.labels(route, cls).observe(seconds)
        if status >= 400:
            self.errors.labels(route, cls).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception before the response started is a server error
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.inflight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.inflight.dec()
            self.metrics.observe(_route(scope), status, time.perf_counter() - start)


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else OTHER_ROUTE
