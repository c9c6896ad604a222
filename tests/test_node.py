"""The engine node as a real process: queries, errors, admission, timeouts, drain, metrics, exemplars."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.storage import ensure_storage
from exporters.contract import PLATFORM_ERROR_TYPES
from foundation.process import ManagedProcess, python_module, wait_until
from foundation.promtool import find as find_tool
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

PROMTOOL = str(find_tool("promtool"))
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"

# Realistic work over the fact table. FINITE: a self-join on the part key (~25M pairs), about 1 s on
# an idle core. ENDLESS: a cross join of lineitem with itself (1e12 pairs), ended only by a timeout,
# a drain's grace expiry or the process dying.
FINITE = ("SELECT count(*) FROM lineitem a JOIN lineitem b ON a.l_partkey = b.l_partkey "
          "WHERE a.l_orderkey <= 125000")
ENDLESS = "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_orderkey + b.l_orderkey = 7"


@dataclass
class Node:
    process: ManagedProcess
    url: str
    pod: str

    def query(self, sql: str, **fields: Any) -> httpx.Response:
        headers = fields.pop("headers", None)
        return httpx.post(f"{self.url}/query", json={"sql": sql, **fields}, headers=headers, timeout=60)

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/status", timeout=5).json()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        body = httpx.get(f"{self.url}/metrics", timeout=5).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body) for s in family.samples}


def errors(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], error_type: str) -> float:
    return samples[("engine_query_errors_total", (("error_type", error_type),))]


@pytest.fixture(scope="module")
def storage() -> Path:
    return ensure_storage()


@pytest.fixture(scope="module")
def finite_count(storage: Path) -> int:
    """FINITE's answer, computed apart from any node."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW lineitem AS SELECT * FROM read_parquet('{storage / 'lineitem.parquet'}')")
    (count,) = con.execute(FINITE).fetchone() or (0,)
    con.close()
    return int(count)


@contextlib.contextmanager
def start_node(tmp_path: Path, storage: Path, *extra: str, pod: str = "sales-c1-n1", node_type: str = "S",
               grace: float = 20.0, query_timeout: float = 20.0, env: dict[str, str] | None = None) -> Iterator[Node]:
    port_file = tmp_path / f"{pod}.port"
    argv = python_module(
        "engines.node", "--engine", "sales", "--cluster", "c1", "--node", "n1", "--pod", pod, "--version", "v1",
        "--type", node_type, "--storage", str(storage), "--port", "0", "--port-file", str(port_file),
        "--grace", str(grace), "--query-timeout", str(query_timeout), *extra,
    )
    process = ManagedProcess(pod, argv, log_path=tmp_path / f"{pod}.log", env=env).start()
    try:
        wait_until(lambda: port_file.exists() or not process.alive, timeout=30, what=f"{pod} port file")
        assert process.alive, process.log_tail()
        yield Node(process, f"http://127.0.0.1:{int(port_file.read_text())}", pod)
    finally:
        process.stop(grace=grace + 10)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, storage: Path) -> Iterator[Node]:
    with start_node(tmp_path_factory.mktemp("node"), storage, query_timeout=10) as running:
        yield running


def in_background(count: int, call: Callable[[], httpx.Response]) -> tuple[ThreadPoolExecutor,
                                                                          list[Future[httpx.Response]]]:
    pool = ThreadPoolExecutor(max_workers=count)
    return pool, [pool.submit(call) for _ in range(count)]


# --- queries ---------------------------------------------------------------------------------------------


def test_select_answers_rows_and_names_who_answered(node: Node) -> None:
    before = node.metrics()
    response = node.query("SELECT l_returnflag, count(*) AS n FROM lineitem GROUP BY 1 ORDER BY 1", query_id="q-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["l_returnflag", "n"]
    assert [row[0] for row in body["rows"]] == ["A", "N", "R"] and sum(row[1] for row in body["rows"]) == 1_000_000
    assert body["row_count"] == 3 and body["query_id"] == "q-1"
    assert body["elapsed_s"] >= body["queue_s"] >= 0
    assert {k: body[k] for k in ("engine", "cluster", "node", "pod")} == {
        "engine": "sales", "cluster": "c1", "node": "n1", "pod": "sales-c1-n1"}
    after = node.metrics()
    key = ("engine_query_duration_seconds_count", (("kind", "aggregate"), ("status", "ok")))
    assert after[key] == before[key] + 1
    assert after[("engine_scanned_rows_total", ())] == before[("engine_scanned_rows_total", ())] + 1_000_000
    assert after[("engine_scanned_bytes_total", ())] > before[("engine_scanned_bytes_total", ())]


def test_large_results_are_counted_but_truncated(node: Node) -> None:
    body = node.query("SELECT l_orderkey, l_shipdate, l_extendedprice FROM lineitem").json()
    assert body["row_count"] == 1_000_000
    assert len(body["rows"]) == 1000
    assert body["rows"][0] == [1, "1998-09-03", 10215.69]  # dates as ISO strings, decimals as numbers


def test_invalid_sql_is_a_user_error_not_a_platform_error(node: Node) -> None:
    before = node.metrics()
    response = node.query("SELEC count(*) FROM lineitem")
    assert response.status_code == 400
    body = response.json()
    assert body["error_type"] == "invalid_sql" and body["retriable"] is False and body["pod"] == "sales-c1-n1"
    assert "syntax error" in body["error"]
    assert node.query("SELECT * FROM no_such_table").json()["error_type"] == "invalid_sql"
    after = node.metrics()
    assert errors(after, "invalid_sql") == errors(before, "invalid_sql") + 2
    for platform in PLATFORM_ERROR_TYPES:
        assert errors(after, platform) == errors(before, platform), platform


def test_the_storage_and_the_node_settings_are_not_the_clients(node: Node) -> None:
    for sql in ("DROP VIEW lineitem", "SET memory_limit = '64GB'", "PRAGMA threads = 8",
                "SELECT * FROM read_csv('/etc/passwd')", "COPY (SELECT 1) TO '/tmp/enginewatch-escape.csv'"):
        response = node.query(sql)
        assert response.status_code == 400 and response.json()["error_type"] == "invalid_sql", sql
    assert not Path("/tmp/enginewatch-escape.csv").exists()
    # Temporary tables are the session's own and vanish with it; the views survive everything above.
    assert node.query("CREATE TEMP TABLE t AS SELECT 42 AS x; SELECT x FROM t").json()["rows"] == [[42]]
    assert node.query("SELECT x FROM t").status_code == 400
    assert node.query("SELECT count(*) FROM lineitem").json()["rows"] == [[1_000_000]]


def test_malformed_requests_are_400(node: Node) -> None:
    malformed = (b"not json", b"[1, 2]", b'{"sq": "SELECT 1"}', b'{"sql": ""}',
                 b'{"sql": "SELECT 1", "timeout_s": "x"}')
    for content in malformed:
        response = httpx.post(f"{node.url}/query", content=content, timeout=10)
        assert response.status_code == 400, content
        assert response.json()["error_type"] == "invalid_sql" and response.json()["node"] == "n1"


def test_oversized_bodies_are_413_whether_declared_or_streamed(node: Node) -> None:
    before = errors(node.metrics(), "too_large")
    big = b'{"sql": "SELECT 1 -- ' + b"x" * (1024 * 1024) + b'"}'
    declared = httpx.post(f"{node.url}/query", content=big, timeout=10)
    assert declared.status_code == 413 and declared.json()["error_type"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: only the bytes that arrive tell the size
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    streamed = httpx.post(f"{node.url}/query", content=chunks(), timeout=10)
    assert streamed.status_code == 413 and streamed.json()["error_type"] == "too_large"
    small = httpx.post(f"{node.url}/query", content=b'{"sql": "SELECT 1 -- ' + b"x" * 1000 + b'"}', timeout=10)
    assert small.status_code == 200
    assert errors(node.metrics(), "too_large") == before + 2


def test_query_timeout_is_504_and_frees_the_slot(node: Node) -> None:
    before = errors(node.metrics(), "timeout")
    started = time.monotonic()
    response = node.query(ENDLESS, timeout_s=0.5)
    assert response.status_code == 504, response.text
    assert response.json()["error_type"] == "timeout" and response.json()["retriable"] is False
    assert time.monotonic() - started < 5
    assert errors(node.metrics(), "timeout") == before + 1
    assert node.status()["running"] == 0
    assert node.query("SELECT 1").status_code == 200


def test_out_of_memory_is_a_platform_error(node: Node) -> None:
    before = errors(node.metrics(), "oom")
    response = node.query("SELECT string_agg(l_shipmode || l_orderkey::VARCHAR, ',') FROM lineitem, range(30)")
    assert response.status_code == 500 and response.json()["error_type"] == "oom", response.text
    assert errors(node.metrics(), "oom") == before + 1
    assert node.query("SELECT 1").status_code == 200


def test_health_readiness_and_status_while_running(node: Node) -> None:
    assert httpx.get(f"{node.url}/healthz").status_code == 200
    ready = httpx.get(f"{node.url}/readyz")
    assert ready.status_code == 200 and ready.json()["state"] == "RUNNING"
    status = node.status()
    assert {k: status[k] for k in ("state", "slots", "queue_capacity", "type", "pod")} == {
        "state": "RUNNING", "slots": 2, "queue_capacity": 8, "type": "S", "pod": "sales-c1-n1"}
    samples = node.metrics()
    assert samples[("engine_node_state", (("state", "RUNNING"),))] == 1
    assert samples[("engine_query_slots", ())] == 2
    assert samples[("engine_memory_limit_bytes", ())] == 256 * 1024 * 1024
    assert samples[("engine_memory_used_bytes", ())] > 10 * 1024 * 1024


# --- exposition ------------------------------------------------------------------------------------------


def test_metrics_pass_promtool(node: Node) -> None:
    node.query("SELECT * FROM orders WHERE o_orderkey = 7")
    body = httpx.get(f"{node.url}/metrics").content
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0 and not check.stdout and not check.stderr, check.stdout + check.stderr


def test_openmetrics_exemplar_links_the_callers_trace(node: Node) -> None:
    response = node.query("SELECT count(*) FROM orders WHERE o_orderstatus = 'F'", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    om = httpx.get(f"{node.url}/metrics", headers={"Accept": OPENMETRICS})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    exemplars = [line for line in om.text.splitlines()
                 if line.startswith('engine_query_duration_seconds_bucket{kind="aggregate"')
                 and f'trace_id="{TRACE_ID}"' in line]
    assert exemplars, "no exemplar with the caller's trace id"
    classic = httpx.get(f"{node.url}/metrics")
    assert classic.headers["content-type"].startswith("text/plain") and TRACE_ID not in classic.text


def test_spans_follow_the_query_through_the_core(tmp_path: Path, storage: Path) -> None:
    with OtlpReceiver() as receiver, start_node(tmp_path, storage, pod="sales-c1-n6", env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50",
    }) as node:
        # Both slots busy for a moment, so the traced query also waits in the queue.
        pool, blockers = in_background(2, lambda: node.query(ENDLESS, timeout_s=1.0))
        try:
            wait_until(lambda: node.status()["running"] == 2, timeout=10, what="busy slots")
            traced = node.query("SELECT * FROM orders WHERE o_orderkey = 7", headers={"traceparent": TRACEPARENT})
            assert traced.status_code == 200
            assert node.query("SELEC 1", headers={"traceparent": TRACEPARENT}).status_code == 400
            assert {b.result(timeout=10).status_code for b in blockers} == {504}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

        def ours(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
            return [s for s in spans if s.trace_id == TRACE_ID]

        spans = ours(receiver.wait_for(lambda spans: sum(s.name == "node.query" for s in ours(spans)) == 2
                                       and any(s.name == "core.fetch" for s in ours(spans))))
        roots = [s for s in spans if s.name == "node.query"]
        assert {s.parent_span_id for s in roots} == {"b7ad6b7169203331"}  # the caller's span
        ok = next(s for s in roots if "error.type" not in s.attributes)
        failed = next(s for s in roots if "error.type" in s.attributes)
        assert failed.attributes["error.type"] == "invalid_sql"
        assert ok.attributes["db.system.name"] == "duckdb" and ok.attributes["db.operation.name"] == "SELECT"
        assert ok.attributes["db.query.summary"] == "SELECT orders"
        assert ok.resource["service.name"] == "enginewatch-node"
        assert ok.resource["service.instance.id"] == "sales-c1-n6"
        children = {s.name for s in spans if s.parent_span_id == ok.span_id}
        assert children == {"core.queue", "core.parse", "core.execute", "core.fetch"}


# --- admission ---------------------------------------------------------------------------------------------


def test_full_queue_is_503_overloaded_with_retry_after(tmp_path: Path, storage: Path) -> None:
    with start_node(tmp_path, storage, pod="sales-c1-n2", query_timeout=30) as node:
        capacity = 2 + 8  # type S: 2 slots, 8 queue places
        pool, calls = in_background(capacity, lambda: node.query(ENDLESS, timeout_s=4))
        try:
            wait_until(lambda: node.status()["queued"] == 8, timeout=10, what="a full queue")
            assert node.status()["running"] == 2
            response = node.query("SELECT 1")
            assert response.status_code == 503
            assert response.json()["error_type"] == "overloaded" and response.json()["retriable"] is True
            assert int(response.headers["retry-after"]) >= 1
            samples = node.metrics()
            assert errors(samples, "overloaded") == 1
            assert samples[("engine_queued_queries", ())] == 8 and samples[("engine_running_queries", ())] == 2
            # The node stays bounded: every one of them ends with the timeout, queued ones included.
            answers = [call.result(timeout=20) for call in calls]
            assert {a.status_code for a in answers} == {504}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        assert node.query("SELECT 1").status_code == 200


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_sigterm_drains_in_flight_queries_and_exits_zero(tmp_path: Path, storage: Path, finite_count: int) -> None:
    with start_node(tmp_path, storage, pod="sales-c1-n3", grace=30) as node:
        pool, calls = in_background(3, lambda: node.query(FINITE))  # two run, one waits in the queue
        try:
            wait_until(lambda: node.status()["running"] == 2 and node.status()["queued"] == 1, timeout=10,
                       what="queries in flight")
            assert node.process.signal(signal.SIGTERM)
            # Readiness drops at once, liveness stays, new queries are refused as retriable.
            ready = httpx.get(f"{node.url}/readyz", timeout=2)
            assert ready.status_code == 503 and ready.json()["state"] == "DRAINING"
            assert httpx.get(f"{node.url}/healthz", timeout=2).status_code == 200
            refused = node.query("SELECT 1")
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert refused.json()["error_type"] == "unavailable" and refused.json()["retriable"] is True
            samples = node.metrics()
            assert samples[("engine_node_state", (("state", "DRAINING"),))] == 1
            assert errors(samples, "unavailable") == 1
            # Everything in flight, the queued query included, completes.
            answers = [call.result(timeout=40) for call in calls]
            assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
            assert [a.json()["rows"] for a in answers] == [[[finite_count]]] * 3
            assert node.process.wait(timeout=15) == 0, node.process.log_tail()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def test_grace_expiry_cancels_what_is_left_and_exits_zero(tmp_path: Path, storage: Path) -> None:
    with start_node(tmp_path, storage, pod="sales-c1-n4", grace=1.0, query_timeout=60) as node:
        pool, calls = in_background(3, lambda: node.query(ENDLESS))
        try:
            wait_until(lambda: node.status()["running"] == 2 and node.status()["queued"] == 1, timeout=10,
                       what="queries in flight")
            signaled = time.monotonic()
            node.process.signal(signal.SIGTERM)
            answers = [call.result(timeout=20) for call in calls]
            assert [a.status_code for a in answers] == [500, 500, 500], [a.text for a in answers]
            assert {a.json()["error_type"] for a in answers} == {"canceled"}
            assert all(a.json()["retriable"] for a in answers)
            assert node.process.wait(timeout=15) == 0, node.process.log_tail()
            assert 1.0 <= time.monotonic() - signaled < 10
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def test_no_drain_node_dies_at_once_with_its_queries(tmp_path: Path, storage: Path) -> None:
    with start_node(tmp_path, storage, "--no-drain", pod="sales-c1-n5", grace=30) as node:
        outcome: list[BaseException | httpx.Response] = []

        def call() -> None:
            try:
                outcome.append(node.query(ENDLESS))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        wait_until(lambda: node.status()["running"] == 1, timeout=10, what="a query in flight")
        signaled = time.monotonic()
        node.process.signal(signal.SIGTERM)
        assert node.process.wait(timeout=5) == -signal.SIGTERM
        assert time.monotonic() - signaled < 2
        caller.join(timeout=10)
        assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError), outcome


def test_an_xl_node_on_a_slow_storage_tier_waits_in_sixteen_slots(tmp_path: Path, storage: Path) -> None:
    """--storage-latency-ms: every read waits on the tier, in a slot but not on the CPU, so an XL node
    holds 16 such queries at once (1 s each: a wide window to see them all running)."""
    lookup = "SELECT o_orderstatus FROM orders WHERE o_orderkey = 7"
    with start_node(tmp_path, storage, "--storage-latency-ms", "1000", pod="sales-c1-n3", node_type="XL") as node:
        started = time.perf_counter()
        assert node.query(lookup).status_code == 200
        assert time.perf_counter() - started >= 1.0
        pool, calls = in_background(16, lambda: node.query(lookup))
        try:
            wait_until(lambda: node.status()["running"] == 16, timeout=10, what="16 queries waiting on storage")
            assert node.status()["queued"] == 0
            assert {c.result(timeout=20).status_code for c in calls} == {200}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        samples = node.metrics()
        assert samples[("engine_query_slots", ())] == 16


def test_a_query_whose_client_goes_away_is_canceled_and_frees_its_slot(tmp_path: Path, storage: Path) -> None:
    """The gateway gives up on an attempt (a hung node, a deadline) by closing the connection: the node
    cancels that query, queued or running, instead of finishing work nobody will read."""
    import socket

    lookup = "SELECT o_orderstatus FROM orders WHERE o_orderkey = 9"
    with start_node(tmp_path, storage, "--storage-latency-ms", "5000", pod="sales-c1-n4", node_type="S") as node:
        port = int(node.url.rsplit(":", 1)[1])
        clients = []
        for i in range(3):  # two slots on an S node: two run, one queues
            one = json.dumps({"sql": lookup, "query_id": f"gone-{i}"}).encode()
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /query HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(one), one))
            clients.append(sock)
        wait_until(lambda: (node.status()["running"], node.status()["queued"]) == (2, 1), timeout=10,
                   what="two queries waiting on storage and one queued")
        closed = time.monotonic()
        for sock in clients:
            sock.close()
        wait_until(lambda: (node.status()["running"], node.status()["queued"]) == (0, 0), timeout=4,
                   what="the abandoned queries canceled")
        assert time.monotonic() - closed < 4  # well before the 5 s storage read would have ended
        history = httpx.get(f"{node.url}/queries", timeout=5).json()["queries"]
        gone = {q["query_id"]: q for q in history if q["query_id"].startswith("gone-")}
        assert set(gone) == {"gone-0", "gone-1", "gone-2"}
        assert {(q["status"], q["error_type"]) for q in gone.values()} == {("canceled", "canceled")}
        assert all("client went away" in q["error"] for q in gone.values())
        # The slots are free for the next client.
        started = time.monotonic()
        assert node.query("SELECT 1").status_code == 200
        assert time.monotonic() - started < 2
