"""The golden-signals library: contract names, bounded series, exemplars, saturation, exposition."""

from __future__ import annotations

import subprocess
import time

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.contract import ALL, GATEWAY_ONLY_ERROR_TYPES, NODE_STATES, QUERY_CORE_ERROR_TYPES, QUERY_KINDS, STATUSES
from exporters.golden import QueryServiceMetrics, render
from foundation.promtool import find as find_tool

PROMTOOL = str(find_tool("promtool"))
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
NODE_METRICS = [m for m in ALL if m.component == "node"]


def _samples(metrics: QueryServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def _value(metrics: QueryServiceMetrics, name: str, **labels: str) -> float:
    return _samples(metrics)[(name, tuple(sorted(labels.items())))]


def _series_names(metrics: QueryServiceMetrics) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {key for key in _samples(metrics) if not key[0].endswith("_created")}


def test_every_node_metric_of_the_contract_is_exposed_under_its_contract_name() -> None:
    names = {name for name, _ in _samples(QueryServiceMetrics())}
    for metric in NODE_METRICS:
        exposed = metric.count if metric.kind == "histogram" else metric.name
        assert exposed in names, metric.name
    assert not {n for n in names if not n.startswith("engine_")}, "only contract metrics"


def test_bounded_series_exist_at_zero_from_the_start() -> None:
    metrics = QueryServiceMetrics()
    for kind in QUERY_KINDS:
        for status in STATUSES:
            assert _value(metrics, "engine_query_duration_seconds_count", kind=kind, status=status) == 0
    for error_type in QUERY_CORE_ERROR_TYPES:
        assert _value(metrics, "engine_query_errors_total", error_type=error_type) == 0
    # A node is never asked about an engine the gateway does not know: no series for it.
    assert not {("engine_query_errors_total", (("error_type", t),)) for t in GATEWAY_ONLY_ERROR_TYPES} \
        & set(_samples(metrics))
    for state in NODE_STATES:
        assert _value(metrics, "engine_node_state", state=state) == 0


def test_observe_query_feeds_latency_traffic_and_errors() -> None:
    metrics = QueryServiceMetrics()
    metrics.observe_query("scan", "ok", 0.02, 0.001, scanned_bytes=4096, scanned_rows=100)
    metrics.observe_query("lookup", "error", 0.5, 0.0, error_type="timeout")
    assert _value(metrics, "engine_query_duration_seconds_count", kind="scan", status="ok") == 1
    assert _value(metrics, "engine_query_duration_seconds_bucket", kind="scan", status="ok", le="0.025") == 1
    assert _value(metrics, "engine_query_duration_seconds_bucket", kind="scan", status="ok", le="0.01") == 0
    assert _value(metrics, "engine_query_duration_seconds_count", kind="lookup", status="error") == 1
    assert _value(metrics, "engine_query_queue_duration_seconds_count") == 2
    assert _value(metrics, "engine_scanned_bytes_total") == 4096
    assert _value(metrics, "engine_scanned_rows_total") == 100
    assert _value(metrics, "engine_query_errors_total", error_type="timeout") == 1
    assert sum(_value(metrics, "engine_query_errors_total", error_type=t) for t in QUERY_CORE_ERROR_TYPES) == 1


def test_refused_requests_count_as_errors_but_not_as_queries() -> None:
    metrics = QueryServiceMetrics()
    metrics.count_rejected("overloaded")
    assert _value(metrics, "engine_query_errors_total", error_type="overloaded") == 1
    assert sum(_value(metrics, "engine_query_duration_seconds_count", kind=k, status=s)
               for k in QUERY_KINDS for s in STATUSES) == 0


def test_unknown_label_values_never_create_series() -> None:
    metrics = QueryServiceMetrics()
    before = _series_names(metrics)
    metrics.observe_query("SELECT * FROM secrets WHERE id = 42", "error", 0.1, 0.0, error_type="kaboom")
    metrics.observe_query(None, "weird-status", 0.1, 0.0)
    metrics.count_rejected("no-such-type")
    assert _series_names(metrics) == before
    assert _value(metrics, "engine_query_duration_seconds_count", kind="other", status="error") == 2
    assert _value(metrics, "engine_query_errors_total", error_type="internal") == 3


def test_exemplars_carry_the_trace_id_in_openmetrics_only() -> None:
    metrics = QueryServiceMetrics()
    metrics.observe_query("aggregate", "ok", 0.3, 0.0, trace_id=TRACE_ID)
    metrics.observe_query("aggregate", "error", 0.3, 0.0, error_type="oom", trace_id=TRACE_ID)
    body, content_type = metrics.render(OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text")
    lines = body.decode().splitlines()
    bucket = [line for line in lines if line.startswith(
        'engine_query_duration_seconds_bucket{kind="aggregate",le="0.5",status="ok"}')]
    assert bucket and f'# {{trace_id="{TRACE_ID}"}} 0.3' in bucket[0]
    errors = [line for line in lines if line.startswith('engine_query_errors_total{error_type="oom"}')]
    assert errors and TRACE_ID in errors[0]
    assert lines[-1] == "# EOF"

    classic, classic_type = metrics.render("text/plain")
    assert classic_type.startswith("text/plain") and TRACE_ID not in classic.decode()
    assert render(metrics.registry, None)[1].startswith("text/plain")


def test_state_is_one_hot() -> None:
    metrics = QueryServiceMetrics()
    metrics.set_state("STARTING")
    metrics.set_state("DRAINING")
    assert {s: _value(metrics, "engine_node_state", state=s) for s in NODE_STATES} == {
        "STARTING": 0, "RUNNING": 0, "DRAINING": 1, "STOPPING": 0, "STOPPED": 0}
    with pytest.raises(ValueError):
        metrics.set_state("EXPLODED")


def test_saturation_gauges() -> None:
    metrics = QueryServiceMetrics()
    metrics.set_capacity(slots=4, queue_capacity=16, memory_limit_bytes=512 << 20)
    metrics.set_load(running=3, queued=5)
    metrics.add_spilled(1 << 20)
    metrics.add_spilled(0)
    assert _value(metrics, "engine_query_slots") == 4
    assert _value(metrics, "engine_query_queue_capacity") == 16
    assert _value(metrics, "engine_memory_limit_bytes") == 512 << 20
    assert _value(metrics, "engine_running_queries") == 3
    assert _value(metrics, "engine_queued_queries") == 5
    assert _value(metrics, "engine_spilled_bytes_total") == 1 << 20


def test_cpu_and_memory_are_sampled_at_scrape_time() -> None:
    process = psutil.Process()

    def cpu_seconds() -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    metrics = QueryServiceMetrics(process=process, cpu_window_s=0.1)
    wall0, cpu0 = time.monotonic(), cpu_seconds()
    # Burn 0.3 s of CPU, however long that takes on a busy machine: the ratio is checked against what
    # this process really used, not against a wall-clock guess.
    while cpu_seconds() - cpu0 < 0.3 and time.monotonic() - wall0 < 20:
        sum(range(10_000))
    ratio = _value(metrics, "engine_cpu_utilization_ratio")
    used = (cpu_seconds() - cpu0) / (time.monotonic() - wall0)
    assert ratio == pytest.approx(used, rel=0.3, abs=0.02)
    assert 0 < ratio <= psutil.cpu_count() + 0.1
    time.sleep(0.5)  # idle now: the next window sees almost no CPU
    assert _value(metrics, "engine_cpu_utilization_ratio") < ratio
    assert _value(metrics, "engine_memory_used_bytes") == pytest.approx(process.memory_info().rss, rel=0.2)


def test_exposition_passes_promtool() -> None:
    metrics = QueryServiceMetrics()
    metrics.set_state("RUNNING")
    metrics.set_capacity(2, 8, 256 << 20)
    metrics.observe_query("join", "ok", 1.5, 0.2, 10_000, 500, trace_id=TRACE_ID)
    metrics.observe_query("scan", "error", 0.1, 0.0, error_type="invalid_sql")
    body, _ = metrics.render()
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0 and not check.stdout and not check.stderr, check.stdout + check.stderr


def test_services_do_not_collide_in_one_process() -> None:
    first, second = QueryServiceMetrics(), QueryServiceMetrics()
    first.observe_query("scan", "ok", 0.01, 0.0)
    assert _value(second, "engine_query_duration_seconds_count", kind="scan", status="ok") == 0
