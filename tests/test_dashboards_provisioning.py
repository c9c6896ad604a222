"""Building the Grafana setup, and the committed dashboards/json/ staying in step with the code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import dashboards
from dashboards import provisioning


def test_committed_json_is_up_to_date() -> None:
    stale = dashboards.stale()
    assert stale == [], (f"dashboards/json/ is out of date ({', '.join(stale)}): run "
                         f"`enginewatch dashboards build --json-only --out dashboards/json`")


def test_stale_notices_changed_missing_and_left_over_files(tmp_path: Path) -> None:
    shutil.copytree(dashboards.COMMITTED_DIR, tmp_path, dirs_exist_ok=True)
    assert dashboards.stale(tmp_path) == []
    overview = tmp_path / "enginewatch-overview.json"
    overview.write_text(overview.read_text().replace("Queries per second", "QPS"))
    (tmp_path / "enginewatch-slos.json").unlink()
    (tmp_path / "enginewatch-old.json").write_text("{}")
    assert dashboards.stale(tmp_path) == ["enginewatch-old.json", "enginewatch-overview.json",
                                          "enginewatch-slos.json"]


def test_build_writes_dashboards_and_provisioning(tmp_path: Path) -> None:
    options = dashboards.Options(prometheus_url="http://127.0.0.1:19090", scrape_interval="1s",
                                 runbook_base_url="https://example.org/rb/")
    written = dashboards.build(tmp_path / "grafana", options)
    out = tmp_path / "grafana"
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted([
        *(f"dashboards/{p.name}" for p in dashboards.COMMITTED_DIR.glob("*.json")),
        "provisioning/datasources/prometheus.yaml", "provisioning/dashboards/enginewatch.yaml"])

    [ds] = yaml.safe_load((out / "provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://127.0.0.1:19090" and ds["isDefault"]
    assert ds["jsonData"]["timeInterval"] == "1s"

    [provider] = yaml.safe_load((out / "provisioning/dashboards/enginewatch.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]) == (out / "dashboards").resolve()

    overview = json.loads((out / "dashboards/enginewatch-overview.json").read_text())
    assert any(link["url"] == "https://example.org/rb/EngineNodeDown.md" for link in overview["links"])


def test_build_with_defaults_writes_what_is_committed(tmp_path: Path) -> None:
    dashboards.build(tmp_path)
    for committed in dashboards.COMMITTED_DIR.glob("*.json"):
        assert (tmp_path / "dashboards" / committed.name).read_text() == committed.read_text()


def test_dashboards_path_for_a_grafana_elsewhere(tmp_path: Path) -> None:
    dashboards.build(tmp_path, dashboards.Options(dashboards_path="/var/lib/grafana/dashboards"))
    [provider] = yaml.safe_load((tmp_path / "provisioning/dashboards/enginewatch.yaml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize(("options", "message"), [
    (provisioning.Options(prometheus_url="localhost:9090"), "Prometheus URL"),
    (provisioning.Options(prometheus_url="ftp://x"), "Prometheus URL"),
    (provisioning.Options(runbook_base_url="runbooks/"), "runbook base URL"),
    (provisioning.Options(scrape_interval="15"), "scrape interval"),
])
def test_bad_options_are_refused(tmp_path: Path, options: provisioning.Options, message: str) -> None:
    with pytest.raises(dashboards.BuildError, match=message):
        dashboards.build(tmp_path, options)
    assert not any(tmp_path.iterdir())


def test_build_refuses_a_file_as_output(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(dashboards.BuildError, match="not a directory"):
        dashboards.build(target)
