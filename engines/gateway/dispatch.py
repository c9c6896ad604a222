"""The retry loop: attempts on chosen nodes until one answers for good, within the query's deadline.

Per attempt: choose a node (routing), take its breaker permit, send (attempt), then feed the outcome
back to the breaker, to passive ejection and to the metrics. Between attempts: backoff with full
jitter, never past the deadline.
"""

from __future__ import annotations

import asyncio

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from engines.gateway import reply
from engines.gateway.attempt import UPSTREAM_OUTCOME, AttemptResult, Outcome, send
from engines.gateway.query import QueryRequest
from engines.gateway.registry import Registry
from engines.gateway.retry import RetryPolicy, is_retriable, may_retry
from engines.gateway.routing import choose
from engines.gateway.upstream import Upstream
from engines.gateway.wire import Pool
from exporters.gateway_metrics import EngineSeries
from exporters.tracing import inject_headers


class Dispatcher:
    def __init__(self, pool: Pool, registry: Registry, policy: RetryPolicy, tracer: Tracer | None) -> None:
        """``tracer`` None: no spans; the client's trace headers are forwarded as they came."""
        self.pool = pool
        self.registry = registry
        self.policy = policy
        self.tracer = tracer

    async def run(self, q: QueryRequest, series: EngineSeries,
                  forward: dict[str, str] | None = None) -> reply.Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + q.deadline_s
        payload = q.node_payload()
        tried: list[Upstream] = []
        last: AttemptResult | None = None
        retry_allowed: bool | None = None  # classified only when a retry is on the table
        out_of_time = False
        for n in range(1, self.policy.max_attempts + 1):
            if n > 1:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    out_of_time = True
                    break
                # Never sleep away the time the retry itself needs.
                await asyncio.sleep(min(self.policy.backoff.delay(n - 1), remaining / 2))
            # Looked up again on every attempt: a retry follows an active-cluster switch or a
            # topology reload that happened while the previous attempt was in flight.
            view = self.registry.engines.get(q.engine)
            upstream = choose(view.candidates, tried) if view is not None else None
            if upstream is None:
                break
            upstream.breaker.acquire()
            if n > 1:
                series.retries.inc()
            last = await self._attempt(upstream, payload, deadline, n, series, forward)
            tried.append(upstream)
            if not is_retriable(last):
                break
            if retry_allowed is None:
                retry_allowed = may_retry(q.sql, q.idempotency_key)
            if not retry_allowed:
                break
        return self._reply(q, last, tried, out_of_time, series, retry_allowed)

    async def _attempt(self, upstream: Upstream, payload: dict[str, object], deadline: float, n: int,
                       series: EngineSeries, forward: dict[str, str] | None) -> AttemptResult:
        if self.tracer is None:
            result = await send(self.pool, upstream, payload, forward, deadline)
        else:
            result = await self._traced_send(upstream, payload, deadline, n)
        verdict = result.breaker_verdict
        if verdict is True:
            upstream.breaker.on_success()
        elif verdict is False:
            upstream.breaker.on_failure()
        else:
            upstream.breaker.release()
        if result.outcome == Outcome.REFUSED:
            upstream.eject("refused", result.error)  # passive ejection; the health check brings it back
        series.count_attempt(upstream.cluster, UPSTREAM_OUTCOME[result.outcome])
        return result

    async def _traced_send(self, upstream: Upstream, payload: dict[str, object], deadline: float,
                           n: int) -> AttemptResult:
        assert self.tracer is not None
        with self.tracer.start_as_current_span("gateway.attempt", kind=SpanKind.CLIENT) as span:
            headers: dict[str, str] = {}
            inject_headers(headers)  # W3C traceparent: the node's spans join the client's trace
            result = await send(self.pool, upstream, payload, headers, deadline)
            if span.is_recording():
                span.set_attributes({
                    "enginewatch.engine": upstream.engine, "enginewatch.cluster": upstream.cluster,
                    "enginewatch.node": upstream.node, "enginewatch.pod": upstream.pod,
                    "enginewatch.attempt": n, "enginewatch.outcome": result.outcome.value,
                    "server.address": upstream.url, "http.response.status_code": result.status,
                })
                if result.outcome != Outcome.ANSWERED or result.status >= 400:
                    span.set_status(Status(StatusCode.ERROR, result.error or None))
                    span.set_attribute("error.type", result.error_type or result.outcome.value)
        return result

    def _reply(self, q: QueryRequest, last: AttemptResult | None, tried: list[Upstream],
               out_of_time: bool, series: EngineSeries, retry_allowed: bool | None) -> reply.Reply:
        attempts = len(tried)
        if last is None:
            view = self.registry.engines.get(q.engine)
            clusters = ", ".join(view.active_clusters) if view is not None else ""
            return reply.gateway_error(
                503, "unavailable", f"no healthy upstream for engine {q.engine!r} "
                f"(active clusters: {clusters or 'none'})",
                engine=q.engine, query_id=q.query_id, retriable=True)
        if out_of_time or last.outcome == Outcome.DEADLINE:
            return reply.gateway_error(
                504, "timeout", f"deadline of {q.deadline_s:g}s exceeded after {attempts} attempt(s)"
                + (f"; last: {last.error}" if last.error else ""),
                engine=q.engine, upstream=last.upstream, attempts=attempts, query_id=q.query_id)
        if last.answered:
            if last.status < 500 and last.upstream is not tried[0]:
                series.failovers.inc()
            return reply.from_node(last, attempts, q.query_id)
        # Refused, reset or abandoned, with no retry left (or none allowed for this statement).
        why = "" if retry_allowed is not False else "; not retried: not read-only and no idempotency key"
        return reply.gateway_error(
            503, "unavailable", f"node {last.upstream.pod} did not answer: {last.error}{why}",
            engine=q.engine, upstream=last.upstream, attempts=attempts, query_id=q.query_id,
            retriable=retry_allowed is not False)
