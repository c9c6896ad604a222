"""Query-level observability, live: the nodes' history against the load generator's ledger, a long scan
seen running, alerted on and killed, a failed query's log lines found in Loki by its trace id, and the
engines' cost.

One small platform of its own (one engine, one cluster, two S nodes), with the alert rules of the local
profile and the log store: every load is bounded, every process is stopped by PID.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from enginewatch.cli import app
from enginewatch.stack import Stack, StackOptions
from foundation.gateway import GatewayAdminClient
from foundation.loki import LokiClient, logql
from foundation.process import wait_until
from foundation.prometheus import PrometheusClient
from loadgen.ledger import ABANDONED
from loadgen.load import LoadGenerator, LoadSpec

ENGINE = "sales"
# A cross join of the fact table with itself (1e12 pairs): it runs until a timeout or a kill ends it.
ENDLESS = "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_orderkey + b.l_orderkey = 7"
FLEET = f"""
engines:
  - name: {ENGINE}
    type: S
    nodes_per_cluster: 2
    clusters: 1
    min_clusters: 1
    max_clusters: 2
    version: v1
grace_period_s: 5
query_timeout_s: 30
"""
ALERT = "EngineQueryRunningTooLong"


def traceparent() -> tuple[str, str]:
    trace_id = uuid.uuid4().hex
    return trace_id, f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("query-history")
    fleet = state / "fleet.yaml"
    fleet.write_text(FLEET)
    # No run.json: the suite's shared stack may be running in this process; the CLI gets flags.
    options = StackOptions(fleet=fleet, state_dir=state / "stack", alerting=True, logs=True, write_run_state=False)
    with Stack(options) as stack:
        yield stack


@pytest.fixture(scope="module")
def admin(platform: Stack) -> Iterator[GatewayAdminClient]:
    with GatewayAdminClient(platform.gateway_url, platform.admin_token) as client:
        yield client


def cli(platform: Stack, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--gateway", platform.gateway_url, "--token", platform.admin_token])


def test_after_a_load_the_history_matches_the_ledger_query_by_query(platform: Stack,
                                                                    admin: GatewayAdminClient) -> None:
    spec = LoadSpec(qps=25, duration_s=6, engines=(ENGINE,), seed=11, max_queries=300)
    entries = [e for e in LoadGenerator(platform.gateway_url, spec).run().entries() if e.status != ABANDONED]
    assert len(entries) >= 100
    run_tag = entries[0].id.split("-")[0]
    records = [r for r in admin.queries(ENGINE, limit=10_000)["queries"] if r["query_id"].startswith(run_tag)]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_id.setdefault(r["query_id"], []).append(r)
    assert set(by_id) == {e.id for e in entries}, "every query of the ledger, and no other, is in the history"
    for e in entries:
        # A retried query has one record per attempt; the one that answered is on the pod the client saw.
        served = max((r for r in by_id[e.id] if r["pod"] == e.pod), key=lambda r: r["started_at"])
        assert served["kind"] == e.kind
        assert served["status"] == ("ok" if e.status == "ok" else "canceled" if e.error_type == "canceled"
                                    else "error"), (e, served)
        assert (served["error_type"] or "") == e.error_type
        if e.status == "ok":
            # The node's own figure, as it answered the client: elapsed (queue included) to the microsecond.
            assert served["duration_s"] == pytest.approx(e.server_s, abs=2e-6)
            assert served["started_at"] >= e.start - 0.01 and served["started_at"] <= e.end
    scanned = [r for r in records if r["status"] == "ok" and r["scanned_rows"] > 0]
    assert scanned and all(r["peak_memory_bytes"] > 0 for r in scanned)
    # Durable beside the node: Parquet segments under the pod's history directory, within a flush.
    history = platform.orchestrator.state_dir / "history"  # type: ignore[union-attr]
    wait_until(lambda: len(list(history.glob("*/queries-*.parquet"))) == 2, 5, what="history segments")


def test_a_long_scan_is_seen_running_alerted_on_killed_and_the_client_gets_canceled(
        platform: Stack, admin: GatewayAdminClient) -> None:
    query_id = f"long-{uuid.uuid4().hex[:8]}"
    trace_id, header = traceparent()
    answer: dict[str, httpx.Response] = {}
    client = threading.Thread(target=lambda: answer.update(r=httpx.post(
        f"{platform.gateway_url}/query", json={"engine": ENGINE, "sql": ENDLESS, "kind": "scan", "query_id": query_id},
        headers={"traceparent": header}, timeout=60)))
    client.start()
    try:
        wait_until(lambda: any(q["query_id"] == query_id and q["status"] == "running" for q in admin.running(ENGINE)),
                   10, what="the scan to run")
        seen = cli(platform, "queries", "--engine", ENGINE, "--running")
        assert seen.exit_code == 0, seen.output
        assert query_id in seen.output and "running" in seen.output

        started = time.monotonic()
        with PrometheusClient(platform.prometheus_url) as prom:
            wait_until(lambda: bool(prom.query(f'ALERTS{{alertname="{ALERT}", alertstate="firing"}}')), 25,
                       interval=0.25, what=f"{ALERT} to fire")
        fired_after = time.monotonic() - started

        from runbooks.diagnosis import Scope, diagnose_live
        from runbooks.playbooks import get

        book = get(ALERT)
        assert book is not None
        diagnosis = diagnose_live(book, Scope(engine=ENGINE), platform.prometheus_url,
                                  platform.orchestrator.url,  # type: ignore[union-attr]
                                  gateway_url=platform.gateway_url, admin_token=platform.admin_token,
                                  loki_url=platform.loki_url)
        assert diagnosis.complete, diagnosis.to_dict()
        assert f"query {query_id} on pod" in diagnosis.text() and "SELECT count(*) FROM lineitem" in diagnosis.text()
        assert trace_id in diagnosis.text()
        assert f"enginewatch queries kill {query_id}" in [m.command for m in diagnosis.mitigations]

        killed = cli(platform, "queries", "kill", query_id)
        assert killed.exit_code == 0, killed.output
        assert "canceled" in killed.output
    finally:
        client.join(timeout=60)
    response = answer["r"]
    body = response.json()
    assert response.status_code == 500 and body["error_type"] == "canceled", body
    assert body["retriable"] is False and body["attempts"] == 1, body  # a killed query is not run again
    record = next(r for r in admin.queries(ENGINE, failed=True)["queries"] if r["query_id"] == query_id)
    assert (record["status"], record["error_type"], record["trace_id"]) == ("canceled", "canceled", trace_id)
    assert record["duration_s"] >= 10.0  # it ran past the alert's bound before it was killed
    print(f"\n{ALERT} fired {fired_after:.1f}s after the scan was seen running; killed after "
          f"{record['duration_s']:.1f}s")
    again = cli(platform, "queries", "kill", query_id)
    assert again.exit_code == 2 and "already finished" in again.output


def test_loki_returns_the_error_lines_of_a_failed_query_found_by_its_trace_id(
        platform: Stack, admin: GatewayAdminClient) -> None:
    query_id = f"slow-{uuid.uuid4().hex[:8]}"
    trace_id, header = traceparent()
    response = httpx.post(f"{platform.gateway_url}/query", headers={"traceparent": header}, timeout=30, json={
        "engine": ENGINE, "sql": ENDLESS, "kind": "scan", "query_id": query_id, "deadline_s": 1.0})
    assert response.status_code == 504 and response.json()["error_type"] == "timeout", response.text
    pod = response.json()["pod"]
    # The exemplar of the node's error counter carries the trace id ...
    node_url = next(p.url for p in platform.orchestrator.pods() if p.pod == pod)  # type: ignore[union-attr]
    metrics = httpx.get(f"{node_url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}).text
    exemplars = re.findall(r'engine_query_errors_total\{error_type="timeout"\} \S+ # \{trace_id="([0-9a-f]+)"\}',
                           metrics)
    assert trace_id in exemplars, exemplars
    # ... which leads to the query in the history ...
    record = next(r for r in admin.queries(ENGINE, failed=True)["queries"] if r["trace_id"] == trace_id)
    assert (record["query_id"], record["pod"], record["error_type"]) == (query_id, pod, "timeout")
    # ... and to its log lines, the node's and the gateway's.
    with LokiClient(platform.loki_url) as loki:
        def lines() -> list[dict[str, Any]]:
            return [line.fields() | line.labels for line in loki.query_range(logql({"job": "~.+"}, trace_id=trace_id))]

        wait_until(lambda: {d.get("job") for d in lines()} >= {"engine-node", "gateway"}, 10,
                   what="the failed query's lines in Loki")
        found = lines()
    node_lines = [d for d in found if d["job"] == "engine-node"]
    assert node_lines and all(d["query_id"] == query_id and d["pod"] == pod for d in node_lines), found
    assert any(d["level"] == "warning" and d["error_type"] == "timeout" for d in node_lines), found
    assert any(d["job"] == "gateway" and d["query_id"] == query_id for d in found), found


def test_the_cli_lists_slowest_and_failed_and_refuses_bad_flags(platform: Stack) -> None:
    slowest = cli(platform, "queries", "--engine", ENGINE, "--slowest", "3", "--json")
    assert slowest.exit_code == 0, slowest.output
    durations = [q["duration_s"] for q in json.loads(slowest.output)["queries"]]
    assert len(durations) == 3 and durations == sorted(durations, reverse=True)
    failed = cli(platform, "queries", "--engine", ENGINE, "--failed")
    assert failed.exit_code == 0 and "canceled" in failed.output, failed.output
    for args, words in ((["--running", "--failed"], "use one or the other"), (["--engine", "nope"], "unknown engine"),
                        (["--slowest", "0"], "greater than")):
        refused = cli(platform, "queries", *args)
        assert refused.exit_code == 2, refused.output
        assert words in refused.output
    missing = cli(platform, "queries", "kill", "no-such-query")
    assert missing.exit_code == 2 and "no query no-such-query" in missing.output


def test_consumed_units_are_the_nodes_running_time_times_their_rate(platform: Stack) -> None:
    from engines.node.config import NODE_TYPES

    orchestrator = platform.orchestrator
    assert orchestrator is not None
    # Prometheus first: its last scrape was taken before the orchestrator is asked, so it cannot be ahead.
    with PrometheusClient(platform.prometheus_url) as prom:
        series = prom.query(f'engine_consumed_units_total{{engine="{ENGINE}", type="S"}}')
    now = time.time()
    expected = sum(now - (p.started_at or now) for p in orchestrator.pods()) * NODE_TYPES["S"].units_per_second
    measured = orchestrator.consumed_units()[ENGINE]
    assert measured == pytest.approx(expected, rel=0.02)
    assert series and 0 < series[0].value <= measured
