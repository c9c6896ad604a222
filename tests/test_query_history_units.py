"""Query-level observability in process: the node's history (bounds, rotation, restart), the gateway's
merge, the log store's LogQL, the JSON log lines, the cost meter and the kill's retry rule."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engines.gateway.attempt import AttemptResult, Outcome
from engines.gateway.queries import BadQuery, merge_finished, merge_running, parse_params
from engines.gateway.retry import is_retriable
from engines.gateway.upstream import Upstream
from engines.node.history import SQL_PREFIX_CHARS, QueryHistory
from engines.node.http import history_filters
from enginewatch.logstore import ParseError, Store, parse
from exporters.engine_state import UsageMeter
from foundation.logs import JsonFormatter, log_context, trace_id_of
from foundation.loki import LogLine, logql, selector

IDENTITY = {"engine": "sales", "cluster": "c1", "node": "n1", "pod": "sales-c1-n1"}


def _finish(history: QueryHistory, query_id: str, error_type: str | None = None, duration: float = 0.01,
            sql: str = "SELECT 1") -> None:
    live = history.begin(query_id, sql, "scan", trace_id=f"{query_id:0>32}")
    history.finish(live, error_type, "boom" if error_type else None, duration_s=duration, queue_s=0.0)


# --- the node's history ------------------------------------------------------------------------------

def test_records_name_the_query_and_filters_select_them() -> None:
    h = QueryHistory(IDENTITY)
    _finish(h, "a", duration=0.5)
    _finish(h, "b", "invalid_sql", duration=0.1)
    _finish(h, "c", "canceled", duration=2.0)
    _finish(h, "d", "x" * 0 or None, duration=0.2, sql="SELECT " + "x" * 5000)
    assert [r.query_id for r in h.recent()] == ["d", "c", "b", "a"]  # newest first
    assert [r.query_id for r in h.recent("failed")] == ["c", "b"]
    assert [r.status for r in h.recent("canceled")] == ["canceled"]
    assert [r.query_id for r in h.recent(slowest=2)] == ["c", "a"]
    assert [r.query_id for r in h.recent(limit=1)] == ["d"]
    record = h.find("a")[0]
    assert (record.engine, record.pod, record.trace_id, record.kind) == ("sales", "sales-c1-n1", "0" * 31 + "a", "scan")
    assert len(h.find("d")[0].sql) == SQL_PREFIX_CHARS  # a prefix, never the whole statement


def test_live_queries_and_the_oldest_running_age() -> None:
    h = QueryHistory(IDENTITY)
    queued = h.begin("q", "SELECT 1", "scan")
    running = h.begin("r", "SELECT 2", "scan")
    assert h.oldest_running_s() == 0.0  # nothing holds a slot yet
    running.admitted = time.perf_counter() - 3.0
    assert 3.0 <= h.oldest_running_s() < 4.0
    assert {q.to_dict()["status"] for q in h.running()} == {"queued", "running"}
    assert h.live("q") == [queued]
    h.finish(running, None, None, duration_s=3.0, queue_s=0.0)
    assert h.oldest_running_s() == 0.0 and h.live("r") == []


def test_the_ring_is_bounded() -> None:
    h = QueryHistory(IDENTITY, capacity=5)
    for n in range(12):
        _finish(h, f"q{n}")
    assert [r.query_id for r in h.recent()] == [f"q{n}" for n in range(11, 6, -1)]


def test_segments_rotate_and_a_restart_reads_the_history_back(tmp_path: Path) -> None:
    h = QueryHistory(IDENTITY, tmp_path, capacity=100, segment_rows=3, max_segments=2)
    for n in range(10):
        _finish(h, f"q{n}")
        if n % 2:
            h.flush()  # flushes land in the open segment until it is full
    h.close()
    segments = h.segments()
    assert len(segments) == 2, segments  # 4 segments written (3+3+3+1), the 2 oldest rotated away
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no half file is left
    again = QueryHistory(IDENTITY, tmp_path, capacity=100, segment_rows=3, max_segments=2)
    assert [r.query_id for r in again.recent()] == ["q9", "q8", "q7", "q6"]
    _finish(again, "after")
    assert again.find("after")[0].seq == 11  # numbering goes on after a restart: seq stays unique


def test_close_flushes_what_is_pending(tmp_path: Path) -> None:
    h = QueryHistory(IDENTITY, tmp_path, flush_interval_s=3600)
    h.start()
    _finish(h, "last")
    h.close()
    assert QueryHistory(IDENTITY, tmp_path).find("last")


def test_history_filters_refuse_bad_input_with_a_message() -> None:
    assert history_filters({}) == (None, 100, None)
    assert history_filters({"status": "failed", "limit": "5", "slowest": "3"}) == ("failed", 5, 3)
    for bad, words in (({"status": "weird"}, "status must be"), ({"limit": "0"}, "limit must be"),
                       ({"slowest": "x"}, "slowest must be"), ({"sql": "1"}, "unknown parameter")):
        with pytest.raises(ValueError, match=words):
            history_filters(bad)


# --- the gateway's merge -----------------------------------------------------------------------------

def test_merge_orders_the_fleet_as_one_history() -> None:
    n1 = [{"query_id": "a", "started_at": 10.0, "seq": 1, "duration_s": 0.1},
          {"query_id": "c", "started_at": 30.0, "seq": 2, "duration_s": 5.0}]
    n2 = [{"query_id": "b", "started_at": 20.0, "seq": 1, "duration_s": 1.0}]
    assert [r["query_id"] for r in merge_finished([n1, n2])] == ["c", "b", "a"]
    assert [r["query_id"] for r in merge_finished([n1, n2], limit=2)] == ["c", "b"]
    assert [r["query_id"] for r in merge_finished([n1, n2], slowest=2)] == ["c", "b"]
    live = merge_running([[{"query_id": "x", "running_s": 1.0}], [{"query_id": "y", "running_s": 9.0}]])
    assert [r["query_id"] for r in live] == ["y", "x"]


def test_admin_parameters_are_checked() -> None:
    assert parse_params({"engine": "sales", "slowest": "3"}) == ("sales", False, 3, False, 100)
    assert parse_params({"running": "1"}) == (None, True, None, False, 100)
    for bad in ({"running": "1", "failed": "1"}, {"slowest": "0"}, {"running": "maybe"}, {"pod": "x"}):
        with pytest.raises(BadQuery):
            parse_params(bad)


def test_a_killed_query_is_not_retried_but_a_drained_one_is() -> None:
    upstream = Upstream("sales", "c1", "n1", "sales-c1-n1", "http://127.0.0.1:1")
    drained = AttemptResult(upstream, Outcome.NODE_ERROR, 500, b"", "canceled", "grace expired", None, True)
    killed = AttemptResult(upstream, Outcome.NODE_ERROR, 500, b"", "canceled", "killed", None, False)
    assert is_retriable(drained) and not is_retriable(killed)


# --- logs --------------------------------------------------------------------------------------------

def test_json_lines_carry_static_fields_context_and_extra() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("engine-node", {"pod": "sales-c1-n1"}))
    log = logging.getLogger("tests.query_history")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with log_context(query_id="q1"):
            log.warning("query %s failed", "q1", extra={"trace_id": "ab" * 16, "error_type": "timeout"})
    finally:
        log.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert doc["msg"] == "query q1 failed" and doc["level"] == "warning" and doc["component"] == "engine-node"
    assert (doc["pod"], doc["query_id"], doc["trace_id"], doc["error_type"]) == ("sales-c1-n1", "q1", "ab" * 16,
                                                                                  "timeout")
    assert doc["ts"].endswith("Z")


def test_trace_ids_come_from_well_formed_traceparents_only() -> None:
    assert trace_id_of("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_of("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None
    assert trace_id_of("garbage") is None and trace_id_of(None) is None


def test_the_log_store_answers_the_logql_the_clients_build() -> None:
    store = Store()
    node = {"job": "engine-node", "pod": "sales-c1-n1", "level": "warning"}
    lines = [json.dumps({"msg": "query q1 failed", "trace_id": "t1", "query_id": "q1"}),
             json.dumps({"msg": "query q2 failed", "trace_id": "t2", "query_id": "q2"}), "not json at all"]
    store.push(node, [(3, lines[1]), (1, lines[0]), (2, lines[2])])  # out of order: stored in order
    store.push({"job": "gateway", "level": "info"}, [(4, json.dumps({"msg": "hello", "trace_id": "t1"}))])

    def found(query: str, backward: bool = True) -> list[str]:
        return [line for s in store.query(parse(query), 0, 10, 100, backward) for _, line in s["values"]]

    assert found(logql({"job": "engine-node"}, trace_id="t1")) == [lines[0]]
    assert len(found(logql({"job": "~.+"}, trace_id="t1"))) == 2  # the node's line and the gateway's
    assert found(logql({"job": "engine-node"}, ["not json"])) == [lines[2]]
    assert found(logql({"job": "engine-node"}, level="~error|warning"), backward=False) == lines[:1] + lines[2:3] + \
        lines[1:2]
    assert found('{job="engine-node"} != "q2" |~ "q[0-9]"') == [lines[0]]
    for bad in ('sum(rate({job="x"}[1m]))', '{job=~".*"}', '{job="x"} | logfmt', "{job=}"):
        with pytest.raises(ParseError):
            parse(bad)
    assert selector(pod='a"b') == '{pod="a\\"b"}'  # values are escaped, never pasted


def test_log_lines_expose_their_json_fields() -> None:
    assert LogLine(1, {}, '{"msg": "x"}').fields() == {"msg": "x"}
    assert LogLine(1, {}, "plain").fields() == {}


# --- cost --------------------------------------------------------------------------------------------

def _engine(started: list[float | None]) -> SimpleNamespace:
    pods = [SimpleNamespace(pod=f"p{i}", ready=True, pid=1 if s else None, started_at=s) for i, s in enumerate(started)]
    return SimpleNamespace(name="sales", type="M", state="RUNNING", active_clusters=["c1"],
                           clusters=[SimpleNamespace(name="c1", ready_nodes=2, desired_nodes=2, pods=pods)])


def test_consumed_units_are_node_seconds_times_the_rate_and_never_run_backwards() -> None:
    meter = UsageMeter({"M": 2.0 / 3600})
    now = 10_000.0
    assert meter.values([_engine([now - 1800, now - 1800])], now)[("sales", "M")] == pytest.approx(2.0)
    # A pod ends: its seconds move from live to ended, measured on another clock a hair shorter.
    meter.add_ended("sales", "M", 1800 - 1e-4)
    assert meter.values([_engine([now - 1800, None])], now)[("sales", "M")] == pytest.approx(2.0)
    assert meter.values([_engine([now - 1800, None])], now)[("sales", "M")] >= 2.0  # clamped, never less
    later = meter.values([_engine([now - 1800, None])], now + 1800)[("sales", "M")]
    assert later == pytest.approx(3.0)  # one node for another half hour at 2 units/h
    with pytest.raises(ValueError, match="no consumption rate"):
        meter.add_ended("sales", "XL", 1.0)
