"""Cost of recording the golden signals of one query: the library against bare prometheus_client.

Both sides record the same thing for each query (latency histogram by kind and status, queue time,
scanned bytes and rows, an error by type for 1 query in 20) in the same process, interleaved in rounds
so that machine noise hits both alike. Goal: library <= 1.5x bare. Also reported: the library with
tracing on (a recording span per query and its trace id as the exemplar).

    .venv/bin/python -m bench.bench_golden
"""

from __future__ import annotations

import statistics
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter, Histogram

from exporters import contract as c
from exporters.golden import QueryServiceMetrics

N = 20_000
ROUNDS = 7
KINDS = ("lookup", "aggregate", "scan", "join")


class _Drop(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


def bare_setup():  # type: ignore[no-untyped-def]
    r = CollectorRegistry()
    d = Histogram(c.QUERY_DURATION.client_name, "d", ["kind", "status"], registry=r, buckets=c.QUERY_BUCKETS)
    q = Histogram(c.QUEUE_DURATION.client_name, "q", registry=r, buckets=c.QUEUE_BUCKETS)
    b = Counter(c.SCANNED_BYTES.client_name, "b", registry=r)
    rows = Counter(c.SCANNED_ROWS.client_name, "r", registry=r)
    e = Counter(c.QUERY_ERRORS.client_name, "e", ["error_type"], registry=r)

    def record(i: int) -> None:
        failed = i % 20 == 0
        if failed:
            e.labels(error_type="timeout").inc()
        d.labels(kind=KINDS[i % 4], status="error" if failed else "ok").observe(0.012)
        q.observe(0.0004)
        b.inc(1_000_000)
        rows.inc(10_000)

    return record


def library_setup():  # type: ignore[no-untyped-def]
    m = QueryServiceMetrics()

    def record(i: int) -> None:
        failed = i % 20 == 0
        m.observe_query(KINDS[i % 4], "error" if failed else "ok", 0.012, 0.0004, 1_000_000, 10_000,
                        error_type="timeout" if failed else None)

    return record


def traced_setup():  # type: ignore[no-untyped-def]
    m = QueryServiceMetrics()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    tracer = provider.get_tracer("bench")

    def record(i: int) -> None:
        failed = i % 20 == 0
        with tracer.start_as_current_span("node.query") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            m.observe_query(KINDS[i % 4], "error" if failed else "ok", 0.012, 0.0004, 1_000_000, 10_000,
                            error_type="timeout" if failed else None, trace_id=trace_id)

    return record


def _time(record) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for i in range(N):
        record(i)
    return (time.perf_counter() - t0) / N


def run() -> dict[str, float]:
    sides = {"bare": bare_setup(), "library": library_setup(), "library+tracing": traced_setup()}
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(ROUNDS):
        for name, record in sides.items():
            samples[name].append(_time(record))
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "bare_us": med["bare"] * 1e6,
        "library_us": med["library"] * 1e6,
        "traced_us": med["library+tracing"] * 1e6,
        "library_ratio": med["library"] / med["bare"],
        "traced_ratio": med["library+tracing"] / med["bare"],
    }


if __name__ == "__main__":
    r = run()
    print(f"per query, median of {ROUNDS} rounds x {N}: bare prometheus_client {r['bare_us']:.2f} us, "
          f"library {r['library_us']:.2f} us (ratio {r['library_ratio']:.2f}x, goal <= 1.5x), "
          f"library + tracing {r['traced_us']:.2f} us (ratio {r['traced_ratio']:.2f}x)")
