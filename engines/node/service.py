"""The query service of a node: admission, the query core, timeouts, golden signals and spans.

HTTP-agnostic: it takes a statement and answers an :class:`Outcome` carrying a contract error type,
which the server maps to a status code. Every admitted query ends in exactly one
``observe_query``; refusals at the door are counted with ``count_rejected`` (see exporters.golden).
"""

from __future__ import annotations

import asyncio
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from engines.node.admission import Admission, Canceled, Overloaded
from engines.node.core import QueryCore, QueryError, QueryJob, QueryResult, query_text
from engines.node.kinds import summary
from engines.node.lifecycle import Lifecycle
from exporters.contract import USER_ERROR_TYPES
from exporters.golden import QueryServiceMetrics, bounded_kind
from exporters.tracing import get_tracer

INTERRUPT_EVERY_S = 0.05  # DuckDB drops an interrupt that lands before execution starts: repeat it

_tracer = get_tracer("engines.node")


@dataclass
class Outcome:
    result: QueryResult | None
    error_type: str | None = None
    error: str | None = None
    queue_s: float = 0.0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None


def _trace_id(span: trace.Span) -> str | None:
    # The span's trace id even when it is not recorded here: with tracing off in the node, a caller's
    # traceparent still links the exemplar to the caller's (recorded) trace.
    ctx = span.get_span_context()
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else None


class QueryService:
    def __init__(self, core: QueryCore, metrics: QueryServiceMetrics, lifecycle: Lifecycle,
                 query_timeout_s: float) -> None:
        self.core = core
        self.metrics = metrics
        self.lifecycle = lifecycle
        self.query_timeout_s = query_timeout_s
        node_type = core.node_type
        self.admission = Admission(node_type.slots, node_type.queue_capacity, metrics.set_load)
        metrics.set_capacity(node_type.slots, node_type.queue_capacity, node_type.memory_limit_bytes)
        metrics.set_load(0, 0)
        # One worker per slot: admission guarantees there is always a free one for an admitted query.
        self._executor = ThreadPoolExecutor(max_workers=node_type.slots, thread_name_prefix="slot")
        self._inflight: set[QueryJob] = set()
        self._running: set[futures.Future[QueryResult]] = set()
        self._canceling = False

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop the workers and the core. False when a worker would not stop (then exit hard).

        After a normal drain no query runs any more; this is the safety net for one that escaped its
        handler, which would otherwise keep the process alive forever (the interpreter joins workers).
        """
        deadline = time.monotonic() + timeout_s
        while self._running and time.monotonic() < deadline:
            self.core.interrupt_all()
            futures.wait(self._running, timeout=INTERRUPT_EVERY_S)
        stuck = bool(self._running)
        self._executor.shutdown(wait=not stuck, cancel_futures=True)
        if not stuck:
            self.core.close()
        return not stuck

    def reject(self, error_type: str, parent: Context | None = None) -> None:
        """Count a request refused before it became a query (malformed, too large)."""
        self.metrics.count_rejected(error_type, _trace_id(trace.get_current_span(parent)))

    async def execute(self, sql: str, kind_hint: str | None = None, timeout_s: float | None = None,
                      parent: Context | None = None) -> Outcome:
        started = time.perf_counter()
        with _tracer.start_as_current_span("node.query", context=parent, kind=SpanKind.SERVER,
                                           record_exception=False, set_status_on_exception=False) as span:
            outcome = await self._execute(span, sql, kind_hint, timeout_s, started)
            if outcome.error_type is not None:
                span.set_attribute("error.type", outcome.error_type)
                if outcome.error_type not in USER_ERROR_TYPES:  # a client's bad SQL is not our failure
                    span.set_status(trace.StatusCode.ERROR, outcome.error)
            return outcome

    async def _execute(self, span: trace.Span, sql: str, kind_hint: str | None, timeout_s: float | None,
                       started: float) -> Outcome:
        trace_id = _trace_id(span)
        if not self.lifecycle.accepting:
            self.metrics.count_rejected("unavailable", trace_id)
            return Outcome(None, "unavailable", f"node is {self.lifecycle.state}: retry on another node")
        timeout = min(timeout_s, self.query_timeout_s) if timeout_s and timeout_s > 0 else self.query_timeout_s
        deadline = started + timeout

        context = trace.set_span_in_context(span) if span.is_recording() else None
        job = QueryJob(sql, kind_hint, context, kind=bounded_kind(kind_hint))
        try:
            await self._admit(deadline)
        except Overloaded as exc:
            self.metrics.count_rejected("overloaded", trace_id)
            return Outcome(None, "overloaded", f"node overloaded: {exc}")
        except (TimeoutError, Canceled) as exc:
            error_type = "timeout" if isinstance(exc, TimeoutError) else "canceled"
            queue_s = time.perf_counter() - started
            self.metrics.observe_query(job.kind, "error", 0.0, queue_s, error_type=error_type, trace_id=trace_id)
            return Outcome(None, error_type, f"query {error_type} while queued", queue_s, queue_s)

        admitted = time.perf_counter()
        try:
            outcome = await self._run(job, deadline)
        finally:
            self.admission.release()
        finished = time.perf_counter()
        outcome.queue_s, outcome.elapsed_s = admitted - started, finished - started
        result = outcome.result
        self.metrics.observe_query(
            job.kind, "ok" if outcome.ok else "error", finished - admitted, outcome.queue_s,
            result.scanned_bytes if result else 0, result.scanned_rows if result else 0,
            outcome.error_type, trace_id)
        if result is not None:
            self.metrics.add_spilled(result.spilled_bytes)
        if span.is_recording():
            span.set_attributes({
                "db.system.name": "duckdb", "db.operation.name": job.operation,
                "db.query.summary": summary(sql, job.operation), "db.query.text": query_text(sql),
                "enginewatch.query.kind": job.kind, "enginewatch.queue_s": outcome.queue_s,
            })
            if result is not None:
                span.set_attribute("db.response.returned_rows", result.row_count)
        return outcome

    async def _admit(self, deadline: float) -> None:
        if self.admission.running < self.admission.slots and not self.admission.queued:
            await self.admission.acquire()  # a free slot: no queue span, no timer on the hot path
            return
        with _tracer.start_as_current_span("core.queue"):
            await asyncio.wait_for(self.admission.acquire(), timeout=max(deadline - time.perf_counter(), 0.0))

    async def _run(self, job: QueryJob, deadline: float) -> Outcome:
        self._inflight.add(job)
        if self._canceling:
            job.cancel("canceled")
        submitted = self._executor.submit(self.core.run, job)
        self._running.add(submitted)
        submitted.add_done_callback(self._running.discard)
        future = asyncio.wrap_future(submitted)
        try:
            done, _ = await asyncio.wait({future}, timeout=max(deadline - time.perf_counter(), 0.0))
            if not done:
                job.cancel("timeout")
                await _interrupt_until_done(job, future)
            try:
                return Outcome(future.result())
            except QueryError as exc:
                return Outcome(None, exc.error_type, str(exc))
            except Exception as exc:  # a bug of ours: still one answer, one observation, a free slot
                return Outcome(None, "internal", f"{type(exc).__name__}: {exc}")
        finally:
            self._inflight.discard(job)

    async def wait_idle(self) -> None:
        await self.admission.wait_idle()

    async def cancel_all(self) -> int:
        """Grace expired: fail queued queries, interrupt running ones; return once all are answered."""
        # A queued query handed a slot just now is not queued any more and not yet in flight: the flag
        # makes it cancel itself before it starts.
        self._canceling = True
        canceled = self.admission.cancel_queued() + len(self._inflight)
        idle = asyncio.ensure_future(self.admission.wait_idle())
        while not idle.done():
            for job in list(self._inflight):
                job.cancel("canceled")  # again and again: an interrupt before execution starts is lost
            await asyncio.wait({idle}, timeout=INTERRUPT_EVERY_S)
        return canceled


async def _interrupt_until_done(job: QueryJob, future: asyncio.Future[QueryResult]) -> None:
    while not future.done():
        job.interrupt()
        await asyncio.wait({future}, timeout=INTERRUPT_EVERY_S)
