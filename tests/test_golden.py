"""The golden-signals library: contract names, bounded series, exemplars, saturation, exposition."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.cgroup import CpuStat, ThrottleAccount, cpu_cgroup, read_cpu_stat
from exporters.contract import (
    ALL,
    CPU_PERIODS,
    CPU_THROTTLED,
    CPU_THROTTLED_PERIODS,
    GATEWAY_ONLY_ERROR_TYPES,
    NODE_STATES,
    QUERY_CORE_ERROR_TYPES,
    QUERY_KINDS,
    STATUSES,
)
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


# --- CPU throttling from the process's cgroup -----------------------------------------------------

def _fake_proc(tmp_path: Path, cgroup: str, mounts: list[str]) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text("\n".join(mounts) + "\n")
    return proc


def _group(path: Path, stat: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "cpu.stat").write_text(stat)
    return path


def test_the_cpu_cgroup_is_found_in_v1_before_the_unified_mount_and_in_v2_alone(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "cpu", tmp_path / "unified"
    _group(v1 / "pods" / "p1", "nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n")
    _group(v2 / "pods" / "p1", "usage_usec 9\nnr_periods 7\nnr_throttled 3\nthrottled_usec 1500000\n")
    mounts = [f"30 25 0:26 / {v1} rw,relatime shared:9 - cgroup cgroup rw,cpu",
              f"31 25 0:27 / {v2} rw,relatime shared:10 - cgroup2 cgroup2 rw",
              f"32 25 0:28 / {tmp_path / 'memory'} rw shared:11 - cgroup cgroup rw,memory"]
    hybrid = _fake_proc(tmp_path, "4:memory:/x\n1:cpu,cpuacct:/pods/p1\n0::/pods/p1\n", mounts)
    assert cpu_cgroup(hybrid) == v1 / "pods" / "p1"
    assert read_cpu_stat(v1 / "pods" / "p1") == CpuStat(10, 4, 2.5)
    unified = _fake_proc(tmp_path, "0::/pods/p1\n", mounts[1:])
    assert cpu_cgroup(unified) == v2 / "pods" / "p1"
    assert read_cpu_stat(v2 / "pods" / "p1") == CpuStat(7, 3, 1.5)
    # Inside a cgroup namespace the mount's top is the process's own group.
    namespaced = _fake_proc(tmp_path, "0::/../../pods/p1\n", [f"31 25 0:27 /pods/p1 {v2} rw - cgroup2 cgroup2 rw"])
    (v2 / "cpu.stat").write_text("nr_periods 1\n")
    assert cpu_cgroup(namespaced) == v2
    assert cpu_cgroup(_fake_proc(tmp_path, "", [])) is None


def test_throttling_counters_stay_monotonic_when_the_process_moves_between_groups(tmp_path: Path) -> None:
    home = _group(tmp_path / "home", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n")
    quota = _group(tmp_path / "quota", "nr_periods 5\nnr_throttled 5\nthrottled_time 400000000\n")
    where = {"group": home}
    account = ThrottleAccount(lambda: where["group"])
    assert account.read() and account.throttled_s == 0
    where["group"] = quota  # confined: the group's history before the move is not the node's
    assert account.read() and account.throttled_s == 0
    (quota / "cpu.stat").write_text("nr_periods 25\nnr_throttled 23\nthrottled_time 2400000000\n")
    account.read()
    assert (account.periods, account.throttled_periods, account.throttled_s) == (20, 18, pytest.approx(2.0))
    where["group"] = home  # moved back: nothing is lost, nothing is counted twice
    account.read()
    (home / "cpu.stat").write_text("nr_periods 3\nnr_throttled 0\nthrottled_time 0\n")
    account.read()
    assert (account.periods, account.throttled_periods, account.throttled_s) == (23, 18, pytest.approx(2.0))
    shutil.rmtree(quota)
    where["group"] = quota
    assert not account.read()  # no cgroup to read: the series are left out, not made up


def test_the_node_exports_its_cgroup_s_throttling_counters(tmp_path: Path) -> None:
    group = _group(tmp_path / "g", "nr_periods 2\nnr_throttled 1\nthrottled_usec 100000\n")
    metrics = QueryServiceMetrics(throttling=ThrottleAccount(lambda: group))
    (group / "cpu.stat").write_text("nr_periods 12\nnr_throttled 9\nthrottled_usec 1600000\n")
    assert _value(metrics, CPU_THROTTLED.name) == pytest.approx(1.5)
    assert _value(metrics, CPU_THROTTLED_PERIODS.name) == 8
    assert _value(metrics, CPU_PERIODS.name) == 10
    gone = QueryServiceMetrics(throttling=ThrottleAccount(lambda: None))
    assert CPU_THROTTLED.name not in {name for name, _ in _samples(gone)}
