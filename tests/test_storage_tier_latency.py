"""The storage tier's own latency: a fleet setting that reaches every node's argv and adds to the
slow-storage fault, which never lifts it; XL nodes; bad values refused with file, field and reason."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from engines.node.__main__ import parse_args
from engines.node.config import NODE_TYPES
from engines.node.faults import StorageFaults
from engines.orchestrator import FleetError, load_fleet
from engines.orchestrator.pod import Pod, PodConfig

pytestmark = pytest.mark.unit

ENGINE = {"name": "reporting", "type": "XL", "nodes_per_cluster": 2, "clusters": 1, "version": "v1"}


def _fleet(tmp_path: Path, **engine: object) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"engines": [{**ENGINE, **engine}]}))
    return path


def test_xl_doubles_l() -> None:
    xl, large = NODE_TYPES["XL"], NODE_TYPES["L"]
    assert (xl.slots, xl.queue_capacity, xl.memory_limit_bytes, xl.units_per_hour) == (
        2 * large.slots, 2 * large.queue_capacity, 2 * large.memory_limit_bytes, 2 * large.units_per_hour)


def test_the_fleet_setting_reaches_the_node_argv(tmp_path: Path) -> None:
    spec = load_fleet(_fleet(tmp_path, storage_latency_ms=800)).engines[0]
    assert (spec.type, spec.storage_latency_ms) == ("XL", 800)
    config = PodConfig(tmp_path, tmp_path, tmp_path, 10.0, 30.0)
    argv = Pod("reporting", "c1", "n1", 1, "v1", spec.type, True, config, spec.storage_latency_ms).argv()
    assert argv[argv.index("--storage-latency-ms") + 1] == "800"
    assert "--storage-latency-ms" not in Pod("sales", "c1", "n1", 1, "v1", "M", True, config).argv()
    node = parse_args(argv[argv.index("--engine"):])
    assert node.storage_latency_s == pytest.approx(0.8) and node.node_type is NODE_TYPES["XL"]


@pytest.mark.parametrize("value", [-1, 60_001, "slow"])
def test_a_bad_latency_names_file_and_field(tmp_path: Path, value: object) -> None:
    path = _fleet(tmp_path, storage_latency_ms=value)
    with pytest.raises(FleetError) as info:
        load_fleet(path)
    assert str(info.value).startswith(f"{path}: engines[0](reporting).storage_latency_ms:"), str(info.value)


def test_the_node_refuses_a_latency_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["--engine", "e", "--cluster", "c1", "--node", "n1", "--pod", "p", "--storage-latency-ms", "-5"])
    assert info.value.code == 2
    assert "--storage-latency-ms must be within [0, 60000]" in capsys.readouterr().err


def test_the_fault_adds_to_the_tier_and_lifting_it_keeps_the_tier() -> None:
    faults = StorageFaults(baseline_s=0.03)
    started = time.perf_counter()
    assert faults.delay(2) >= 0.06
    assert time.perf_counter() - started >= 0.06
    faults.set_latency(0.02)
    assert faults.per_read_s == pytest.approx(0.05)
    faults.set_latency(0)
    assert faults.per_read_s == pytest.approx(0.03)
    snap = faults.snapshot()
    assert snap["storage_baseline_latency_s"] == 0.03 and snap["storage_latency_s"] == 0 and snap["delayed_reads"] == 2


def test_a_canceled_read_stops_waiting_on_the_tier_too() -> None:
    started = time.perf_counter()
    StorageFaults(baseline_s=5.0).delay(1, canceled=lambda: time.perf_counter() - started > 0.05)
    assert time.perf_counter() - started < 1.0
