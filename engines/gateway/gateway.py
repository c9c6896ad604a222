"""The gateway core, free of HTTP server concerns: topology, health, routing, retries and metrics.

``Gateway.handle_query`` takes the raw body of a ``POST /query`` and returns the ``Reply``; the
ASGI app in ``app.py`` only moves bytes in and out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from engines.gateway import reply
from engines.gateway.breaker import CircuitBreaker
from engines.gateway.dispatch import Dispatcher
from engines.gateway.health import HealthChecker, HealthConfig
from engines.gateway.outlier import LatencyOutliers, OutlierConfig
from engines.gateway.query import BadRequest, parse_query
from engines.gateway.registry import Registry
from engines.gateway.retry import RetryPolicy
from engines.gateway.topology import TopologyWatcher
from engines.gateway.upstream import Upstream
from engines.gateway.wire import Pool
from engines.kinds import classify, guess_operation
from exporters.gateway_metrics import OTHER_KIND, UNKNOWN_ENGINE, GatewayMetrics
from exporters.tracing import extract_context, get_tracer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    base_open_s: float = 1.0
    max_open_s: float = 30.0

    def new(self) -> CircuitBreaker:
        return CircuitBreaker(self.failure_threshold, self.base_open_s, self.max_open_s)


@dataclass(frozen=True)
class GatewayConfig:
    topology_path: Path
    admin_token: str
    deadline_s: float = 30.0
    #: Bearer token of the nodes' admin API, to cancel queries on them; None: no kill from the gateway.
    node_admin_token: str | None = None
    health: HealthConfig = field(default_factory=HealthConfig)
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    #: Connections kept open per node between queries. Shorter than the node's keep-alive timeout
    #: (uvicorn: 5 s), so we never send on a connection the node is closing at that very moment.
    keepalive_expiry_s: float = 2.0


class Gateway:
    def __init__(self, config: GatewayConfig, metrics: GatewayMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or GatewayMetrics()
        self.tracer = get_tracer("engines.gateway")
        self.tracing = False  # decided at start(), once the process has (or has not) set tracing up
        self.registry = Registry(breaker_factory=config.breaker.new, on_added=self._added,
                                 on_removed=self._removed)
        self.watcher = TopologyWatcher(config.topology_path, self.registry.apply)
        self._pool: Pool | None = None
        self._health_client: httpx.AsyncClient | None = None
        self.health: HealthChecker | None = None
        self.dispatcher: Dispatcher | None = None

    async def start(self) -> None:
        cfg = self.config
        # No read timeout on the pool: each attempt is bounded by its query's deadline.
        self._pool = Pool(keepalive_expiry_s=cfg.keepalive_expiry_s)
        # Health checks have a client of their own, off the hot path: they never queue behind queries.
        self._health_client = httpx.AsyncClient(
            timeout=cfg.health.timeout_s, trust_env=False,  # loopback only: no proxy from the env
            limits=httpx.Limits(keepalive_expiry=cfg.keepalive_expiry_s))
        self.health = HealthChecker(self._health_client, cfg.health,
                                    LatencyOutliers(cfg.outliers, self.registry.cluster_of))
        # Spans cost the hot path even as no-ops (context switches, wrappers): make none unless an
        # SDK provider is installed (exporters.tracing.setup_tracing, from the OTEL_* variables).
        self.tracing = not isinstance(trace.get_tracer_provider(),
                                      trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        self.dispatcher = Dispatcher(self._pool, self.registry, cfg.retry,
                                     self.tracer if self.tracing else None)
        for u in self.registry.upstreams():  # a topology applied before start
            self._added(u)
        self.watcher.start()

    async def stop(self) -> None:
        await self.watcher.stop()
        if self.health is not None:
            await self.health.stop()
        if self._pool is not None:
            self._pool.close()
        if self._health_client is not None:
            await self._health_client.aclose()

    @property
    def ready(self) -> bool:
        return self.registry.revision >= 0

    def _added(self, u: Upstream) -> None:
        u.series = self.metrics.track_upstream(u.engine, u.cluster, u.node,
                                               up=lambda: 1.0 if u.routable else 0.0,
                                               breaker_state=lambda: float(u.breaker.state_value),
                                               pod=u.pod, ejection=lambda: u.ejection)
        if self.health is not None:
            self.health.watch(u)

    def _removed(self, u: Upstream) -> None:
        self.metrics.untrack_upstream(u.engine, u.cluster, u.node, u.pod)
        if self.health is not None:
            self.health.unwatch(u)

    async def handle_query(self, body: bytes, trace_headers: dict[str, str], started: float) -> reply.Reply:
        """Answer one ``POST /query``.

        ``trace_headers``: the client's ``traceparent``/``tracestate``, if any. ``started``: the
        ``perf_counter()`` at the request's arrival.
        """
        if not self.tracing:
            # No spans of our own: the client's trace context goes to the node as it came.
            rep, _ = await self._handle(body, trace_headers, started)
            return rep
        ctx = extract_context(trace_headers) if trace_headers else None
        with self.tracer.start_as_current_span("gateway.query", context=ctx, kind=SpanKind.SERVER) as span:
            rep, engine = await self._handle(body, None, started)
            if span.is_recording():
                span.set_attributes({"enginewatch.engine": engine,
                                     "http.response.status_code": rep.status,
                                     "enginewatch.attempts": int(rep.headers.get("x-attempts", "0"))})
                if not rep.ok:
                    span.set_status(Status(StatusCode.ERROR))
                    span.set_attribute("error.type", rep.error_type or "internal")
        return rep

    async def _handle(self, body: bytes, forward: dict[str, str] | None,
                      started: float) -> tuple[reply.Reply, str]:
        assert self.dispatcher is not None, "Gateway.start() first"
        engine = UNKNOWN_ENGINE
        kind = OTHER_KIND
        try:
            q = parse_query(body, self.config.deadline_s)
        except BadRequest as exc:
            # Malformed requests are the client's fault: a user error type, so that they never
            # count against availability. The contract has no separate "bad request" type.
            rep = reply.gateway_error(400, "invalid_sql", f"malformed request: {exc}")
        else:
            # The node's classifier, so that the gateway's latency per kind and the node's agree.
            kind = q.kind or classify(q.sql, guess_operation(q.sql))
            if q.engine not in self.registry.engines:
                rep = reply.gateway_error(404, "unknown_engine", self.registry.unknown_engine_message(q.engine),
                                          engine=q.engine, query_id=q.query_id)
            else:
                engine = q.engine
                series = self.metrics.engine(engine)
                series.inflight.inc()
                try:
                    rep = await self.dispatcher.run(q, series, forward)
                except Exception as exc:
                    # A bug of ours: the client still gets an answer in the contract's shape
                    # (rather than a reset connection) and it counts as a platform error.
                    log.exception("query %s failed inside the gateway", q.query_id)
                    rep = reply.gateway_error(500, "internal", f"gateway error: {type(exc).__name__}",
                                              engine=engine, query_id=q.query_id)
                finally:
                    series.inflight.dec()
        self.observe(engine, rep, started, kind)
        return rep, engine

    def observe(self, engine: str, rep: reply.Reply, started: float, kind: str = OTHER_KIND) -> None:
        """Record a finished client request in the golden signals."""
        series = self.metrics.engine(engine)
        series.observe(kind, rep.error_type is None, time.perf_counter() - started)
        if rep.error_type is not None:
            series.count_error(rep.error_type)
