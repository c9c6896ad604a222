"""The fleet file: the default loads, and every invalid file is refused naming file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engines.orchestrator import DEFAULT_FLEET, FleetError, load_fleet

VALID = {
    "engines": [
        {"name": "sales", "type": "M", "nodes_per_cluster": 2, "clusters": 2, "min_clusters": 1,
         "max_clusters": 4, "version": "v1"},
        {"name": "analytics", "type": "S", "nodes_per_cluster": 1, "clusters": 1, "version": "v1"},
    ],
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _error(tmp_path: Path, data: object) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(FleetError) as info:
        load_fleet(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


def _engine(**overrides: object) -> dict[str, object]:
    engine = dict(VALID["engines"][0])  # type: ignore[index]
    engine.update(overrides)
    return {"engines": [engine]}


def test_default_fleet_is_two_engines_of_two_clusters_of_two_nodes() -> None:
    fleet = load_fleet()
    assert DEFAULT_FLEET.name == "fleet.yaml"
    assert [e.name for e in fleet.engines] == ["sales", "analytics"]
    assert {e.type for e in fleet.engines} == {"M", "S"}
    assert all(e.clusters == 2 and e.nodes_per_cluster == 2 and e.version == "v1" for e in fleet.engines)
    assert fleet.restart_backoff.initial_s == 0.5 and fleet.restart_backoff.max_s == 30


def test_valid_fleet_defaults_optional_settings(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, VALID))
    assert fleet.engine("analytics").max_clusters == 4
    assert fleet.grace_period_s > 0 and fleet.probes.failure_threshold >= 0


@pytest.mark.parametrize(("data", "field", "reason"), [
    (_engine(nodes_per_cluster=0), "engines[0](sales).nodes_per_cluster", "greater than or equal to 1"),
    (_engine(type="XXL"), "engines[0](sales).type", "'S', 'M', 'L', 'XL' or '2XL'"),
    (_engine(name="Sales_1"), "engines[0](Sales_1).name", "DNS label"),
    (_engine(clusters=5), "engines[0](sales).clusters", "<= max_clusters (4)"),
    (_engine(min_clusters=3, clusters=2), "engines[0](sales).clusters", ">= min_clusters (3)"),
    (_engine(min_clusters=3, max_clusters=2, clusters=3), "engines[0](sales).max_clusters", ">= min_clusters"),
    (_engine(version="v 1"), "engines[0](sales).version", "version 'v 1'"),
    (_engine(replicas=3), "engines[0](sales).replicas", "Extra inputs are not permitted"),
    ({**VALID, "grace_period_s": -1}, "grace_period_s", "greater than 0"),
    ({**VALID, "restart_backoff": {"initial_s": 2, "max_s": 1}}, "restart_backoff.max_s", ">= initial_s"),
    ({**VALID, "probes": {"period": 1}}, "probes.period", "Extra inputs are not permitted"),
    ({"engines": []}, "engines", "at least 1 item"),
    ({"engine": VALID["engines"]}, "engines", "Field required"),
])
def test_invalid_fleet_names_file_field_and_reason(tmp_path: Path, data: object, field: str, reason: str) -> None:
    message = _error(tmp_path, data)
    assert f": {field}: " in message, message
    assert reason in message, message


def test_missing_engine_field_is_named(tmp_path: Path) -> None:
    engine = dict(VALID["engines"][1])  # type: ignore[index]
    del engine["version"]
    message = _error(tmp_path, {"engines": [VALID["engines"][0], engine]})  # type: ignore[index]
    assert "engines[1](analytics).version: Field required" in message


def test_duplicate_engine_names_are_refused(tmp_path: Path) -> None:
    engines = VALID["engines"] + [dict(VALID["engines"][0])]  # type: ignore[operator, index]
    message = _error(tmp_path, {"engines": engines})
    assert "engines: duplicate engine name 'sales' (engines[0] and engines[2])" in message


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    message = _error(tmp_path, _engine(nodes_per_cluster=0, type="XXL"))
    assert len(message.splitlines()) == 2


def test_not_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("engines:\n  - name: sales\n    type: [M\n")
    with pytest.raises(FleetError, match=rf"^{path}:\d+:\d+: .*not valid YAML"):
        load_fleet(path)


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert "expected a mapping" in _error(tmp_path, ["sales"])
    with pytest.raises(FleetError, match="nope.yaml: cannot read"):
        load_fleet(tmp_path / "nope.yaml")


def test_the_game_day_fleet_is_the_default_fleet_and_reporting() -> None:
    """engines/fleet.gameday.yaml copies the default fleet (YAML has no include): they must not drift
    apart, except for what the game day changes on purpose."""
    default = load_fleet(DEFAULT_FLEET)
    gameday = load_fleet(DEFAULT_FLEET.with_name("fleet.gameday.yaml"))
    assert [e.name for e in gameday.engines] == [*(e.name for e in default.engines), "reporting"]
    assert gameday.engines[:-1] == default.engines
    reporting = gameday.engines[-1]
    assert (reporting.type, reporting.storage_latency_ms) == ("2XL", 2500)
    # The one setting the game day changes: kills spread over four pods meet the initial back-off.
    assert gameday.restart_backoff.reset_after_s == 10 and default.restart_backoff.reset_after_s == 30
    compared_above = {"restart_backoff": {"reset_after_s"}, "engines": True}
    assert gameday.model_dump(exclude=compared_above) == default.model_dump(exclude=compared_above)
