"""The query service of a node: admission, the query core, timeouts, golden signals and spans.

HTTP-agnostic: it takes a statement and answers an :class:`Outcome` carrying a contract error type,
which the server maps to a status code. Every admitted query ends in exactly one
``observe_query``; refusals at the door are counted with ``count_rejected`` (see exporters.golden).
Every query, admitted or refused, ends in one record of the query history (engines.node.history),
and an operator can kill a live one by its id (:meth:`QueryService.kill`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from engines.kinds import summary
from engines.node.admission import Admission, Canceled, Overloaded
from engines.node.core import QueryCore, QueryError, QueryJob, QueryResult, query_text
from engines.node.history import LiveQuery, QueryHistory
from engines.node.lifecycle import Lifecycle
from exporters.contract import USER_ERROR_TYPES
from exporters.golden import QueryServiceMetrics, bounded_kind
from exporters.tracing import get_tracer

INTERRUPT_EVERY_S = 0.05  # DuckDB drops an interrupt that lands before execution starts: repeat it

_tracer = get_tracer("engines.node")
log = logging.getLogger("engines.node.query")

#: The message a killed query's client reads: it says who stopped the query, so nobody retries it blindly.
KILLED = "query killed by an operator"
ABANDONED = "query canceled: its client went away (the gateway gave up on this attempt)"


@dataclass
class Outcome:
    result: QueryResult | None
    error_type: str | None = None
    error: str | None = None
    queue_s: float = 0.0
    elapsed_s: float = 0.0
    #: None: as the error type says (engines.node.http.RETRIABLE); False for a query an operator killed.
    retriable: bool | None = None
    query_id: str = ""

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
                 query_timeout_s: float, history: QueryHistory | None = None) -> None:
        self.core = core
        self.history = history or QueryHistory({"engine": "", "cluster": "", "node": "", "pod": ""})
        metrics.watch_oldest_running(self.history.oldest_running_s)
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
                      parent: Context | None = None, query_id: str | None = None,
                      client_gone: Awaitable[object] | None = None) -> Outcome:
        """Run one query. ``client_gone``, when it completes, cancels the query (queued or running): an
        answer nobody reads must not hold a slot, as after a gateway gave up on a hung node and retried
        elsewhere; the node would otherwise resume into a backlog of abandoned work."""
        live = self.history.begin(query_id or uuid.uuid4().hex, sql, bounded_kind(kind_hint))
        started = live.started
        watcher = asyncio.ensure_future(_abandon_when(client_gone, live)) if client_gone is not None else None
        with _tracer.start_as_current_span("node.query", context=parent, kind=SpanKind.SERVER,
                                           record_exception=False, set_status_on_exception=False) as span:
            live.trace_id = _trace_id(span)
            try:
                outcome = await self._execute(span, live, sql, kind_hint, timeout_s, started)
            finally:
                if watcher is not None:
                    watcher.cancel()
            if outcome.error_type is not None:
                span.set_attribute("error.type", outcome.error_type)
                if outcome.error_type not in USER_ERROR_TYPES:  # a client's bad SQL is not our failure
                    span.set_status(trace.StatusCode.ERROR, outcome.error)
        self._record(live, outcome)
        return outcome

    def _record(self, live: LiveQuery, outcome: Outcome) -> None:
        if live.killed and outcome.error_type == "canceled":
            outcome.error, outcome.retriable = KILLED, False  # the client must not run it again elsewhere
        elif live.abandoned and outcome.error_type == "canceled":
            outcome.error = ABANDONED
        outcome.query_id = live.query_id
        result = outcome.result
        elapsed = outcome.elapsed_s or time.perf_counter() - live.started
        self.history.finish(
            live, outcome.error_type, outcome.error, duration_s=elapsed, queue_s=outcome.queue_s,
            row_count=result.row_count if result else 0, scanned_rows=result.scanned_rows if result else 0,
            scanned_bytes=result.scanned_bytes if result else 0, spilled_bytes=result.spilled_bytes if result else 0,
            peak_memory_bytes=result.peak_memory_bytes if result else 0)
        if outcome.error_type is not None and outcome.error_type not in USER_ERROR_TYPES:
            # Failures only: one line per successful query would cost the hot path and drown the log.
            log.warning("query %s failed: %s: %s", live.query_id, outcome.error_type, outcome.error,
                        extra={"query_id": live.query_id, "trace_id": live.trace_id,
                               "error_type": outcome.error_type, "kind": live.kind})

    def kill(self, query_id: str) -> list[LiveQuery]:
        """Cancel every live query with this id (an operator's kill); the ones found.

        Queued: it leaves the queue at once. Running: DuckDB is interrupted, again and again until the
        worker returns (an interrupt that lands before execution starts is lost). Either way it ends
        ``canceled``, answered as not retriable.
        """
        found = self.history.live(query_id)
        for live in found:
            live.killed = True
            if live.cancel is not None:
                live.cancel()
        return found

    async def _execute(self, span: trace.Span, live: LiveQuery, sql: str, kind_hint: str | None,
                       timeout_s: float | None, started: float) -> Outcome:
        trace_id = live.trace_id
        if not self.lifecycle.accepting:
            self.metrics.count_rejected("unavailable", trace_id)
            return Outcome(None, "unavailable", f"node is {self.lifecycle.state}: retry on another node")
        timeout = min(timeout_s, self.query_timeout_s) if timeout_s and timeout_s > 0 else self.query_timeout_s
        deadline = started + timeout

        context = trace.set_span_in_context(span) if span.is_recording() else None
        job = QueryJob(sql, kind_hint, context, kind=bounded_kind(kind_hint))
        try:
            await self._admit(deadline, live)
        except Overloaded as exc:
            self.metrics.count_rejected("overloaded", trace_id)
            return Outcome(None, "overloaded", f"node overloaded: {exc}")
        except (TimeoutError, Canceled) as exc:
            error_type = "timeout" if isinstance(exc, TimeoutError) else "canceled"
            queue_s = time.perf_counter() - started
            self.metrics.observe_query(job.kind, "error", 0.0, queue_s, error_type=error_type, trace_id=trace_id)
            return Outcome(None, error_type, f"query {error_type} while queued", queue_s, queue_s)

        admitted = live.admitted = time.perf_counter()
        try:
            outcome = await self._run(job, deadline, live)
        finally:
            self.admission.release()
            live.kind = job.kind  # classified by the core once parsed
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

    async def _admit(self, deadline: float, live: LiveQuery) -> None:
        if self.admission.running < self.admission.slots and not self.admission.queued:
            await self.admission.acquire()  # a free slot: no queue span, no timer on the hot path
            return
        with _tracer.start_as_current_span("core.queue"):
            acquire = asyncio.ensure_future(self.admission.acquire())
            killed = asyncio.Event()
            live.cancel = killed.set
            waiter = asyncio.ensure_future(killed.wait())
            try:
                await asyncio.wait({acquire, waiter}, timeout=max(deadline - time.perf_counter(), 0.0),
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                live.cancel = None
            if acquire.done():
                acquire.result()  # raises Overloaded or Canceled; a kill that came with the slot acts in _run
                return
            acquire.cancel()  # Admission passes on a slot handed over at this very moment
            await asyncio.gather(acquire, return_exceptions=True)
            if killed.is_set():
                raise Canceled(KILLED)
            raise TimeoutError

    async def _run(self, job: QueryJob, deadline: float, live: LiveQuery) -> Outcome:
        self._inflight.add(job)
        if self._canceling or live.killed or live.abandoned:
            job.cancel("canceled")
        submitted = self._executor.submit(self.core.run, job)
        self._running.add(submitted)
        submitted.add_done_callback(self._running.discard)
        future = asyncio.wrap_future(submitted)

        def kill() -> None:
            job.cancel("canceled")
            asyncio.ensure_future(_interrupt_until_done(job, future))

        live.cancel = kill
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
            live.cancel = None
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


async def _abandon_when(client_gone: Awaitable[object], live: LiveQuery) -> None:
    await client_gone
    live.abandoned = True
    if live.cancel is not None:  # else between queue and slot: _run sees the flag
        live.cancel()


async def _interrupt_until_done(job: QueryJob, future: asyncio.Future[QueryResult]) -> None:
    while not future.done():
        job.interrupt()
        await asyncio.wait({future}, timeout=INTERRUPT_EVERY_S)
