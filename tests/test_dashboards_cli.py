"""`enginewatch dashboards build | lint`: the typer sub-app and its exit codes (0 ok, 1 findings,
2 the user's mistake)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboards import COMMITTED_DIR
from enginewatch.cli.dashboards import app
from foundation import promtool

runner = CliRunner()


def test_build(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--out", str(tmp_path), "--prometheus-url", "http://127.0.0.1:9999"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "provisioning/datasources/prometheus.yaml").exists()
    assert str(tmp_path / "dashboards" / "enginewatch-overview.json") in result.output


def test_build_json_only(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--json-only", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in COMMITTED_DIR.glob("*.json"))


@pytest.mark.parametrize(("args", "message"), [
    (["--prometheus-url", "localhost:9090"], "is not an http(s) URL"),
    (["--scrape-interval", "fast"], "is not a Prometheus duration"),
    (["--runbook-base-url", "/runbooks"], "is not an http(s) URL"),
    (["--slo-profile", "fortnightly"], "unknown SLO window profile"),
])
def test_build_mistakes_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["build", "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_build_into_a_file_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("")
    for extra in ([], ["--json-only"]):
        result = runner.invoke(app, ["build", "--out", str(target), *extra])
        assert result.exit_code == 2 and "not a directory" in result.output


def test_build_needs_out() -> None:
    assert runner.invoke(app, ["build"]).exit_code == 2


def test_lint_builtin_and_committed_are_clean() -> None:
    for args in ([], [str(COMMITTED_DIR)], [str(COMMITTED_DIR / "enginewatch-slos.json")]):
        result = runner.invoke(app, ["lint", *args])
        assert result.exit_code == 0, result.output
        assert "0 findings" in result.output


def test_lint_findings_exit_1(tmp_path: Path) -> None:
    model = json.loads((COMMITTED_DIR / "enginewatch-gateway.json").read_text())
    panel = next(p for p in model["panels"] if p["type"] != "row")
    panel["description"] = ""
    panel["targets"][0]["expr"] = "sum(gateway_retries_total)"
    (tmp_path / "broken.json").write_text(json.dumps(model))
    (tmp_path / "not-a-dashboard.json").write_text('{"apiVersion": 1}')  # skipped in a directory
    result = runner.invoke(app, ["lint", str(tmp_path)])
    assert result.exit_code == 1
    assert f"[panel-title-description] {model['title']} / {panel['title']}" in result.output
    assert "[target-counter-agg]" in result.output and "1 dashboards, 2 findings" in result.output


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file or directory"),
    ("not json", "not a readable JSON file"),
    ('{"title": "no panels"}', "not a Grafana dashboard"),
])
def test_lint_mistakes_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "d.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 2 and message in result.output


def test_lint_of_a_directory_without_dashboards_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lint", str(tmp_path)])
    assert result.exit_code == 2 and "no Grafana dashboard JSON found" in result.output


def test_lint_without_promtool_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promtool, "DEBIAN_DIR", Path("/nonexistent"))
    monkeypatch.setenv("PATH", "/nonexistent")
    result = runner.invoke(app, ["lint"])
    assert result.exit_code == 2 and "install the Debian package 'prometheus'" in result.output
