"""Shared fixtures: one live stack for the suite (real pods, gateway, Prometheus), stopped by PID."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otlp_receiver import OtlpReceiver

# A run started in the background of a non-interactive shell (`cmd &`, nohup) inherits SIGINT ignored,
# and so would every process the tests start: the Ctrl-C tests would signal processes that cannot
# hear it. A handler is not inherited across exec, so the tests' processes get the default again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Debian's Chromium, never a downloaded browser; no background traffic (the network is closed here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def enginewatch_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("enginewatch-home")
    old = os.environ.get("ENGINEWATCH_HOME")
    os.environ["ENGINEWATCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("ENGINEWATCH_HOME", None)
    else:
        os.environ["ENGINEWATCH_HOME"] = old


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def _otel_env(receiver: OtlpReceiver, service: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


@pytest.fixture(scope="session")
def stack(enginewatch_home: Path, otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The default fleet (2 engines x 2 clusters x 2 nodes), traced to the session's OTLP receiver."""
    from enginewatch.stack import Stack, StackOptions

    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("stack"),
        node_env=_otel_env(otlp, "enginewatch-node"),
        gateway_env=_otel_env(otlp, "enginewatch-gateway"),
        alerting=True,  # platform + SLO rules of the local profile, and Alertmanager with its routing
        slo_service=True,
        logs=True,  # as `enginewatch up`: runbook diagnoses quote the pods' error lines
    )
    with Stack(options) as s:
        yield s


# --- unit and live tests ----------------------------------------------------------------------------
# A live test starts real processes (pods, gateway, Prometheus, Alertmanager, Chromium) or drives the
# CLI against them; a unit test runs in this process, with at most a short promtool/amtool call.
# `pytest -m unit` is the quick subset (under a minute); `make test` runs both.
LIVE_FIXTURES = frozenset({"stack", "browser", "otlp", "live"})
LIVE_MODULES = frozenset({
    "test_alerts_delivery", "test_chaos_actions", "test_chaos_interrupt", "test_chaos_kernel", "test_chaos_live",
    "test_dashboards_live", "test_gray_detection", "test_meta_alerts",
    "test_engine_cli", "test_gameday", "test_gateway", "test_node", "test_orchestrator", "test_platform",
    "test_prometheus_wiring", "test_query_history", "test_runbooks_live", "test_slo_service_page",
    "test_slo_service_stack", "test_slo_service", "test_slo_sloth_compat", "test_slo_promtest",
    "test_chaos_steady_live", "test_chaos_annotations_live", "test_slo_maintenance_live",
    "test_budget_gate_live", "test_slo_compliance_live",
})
#: Single tests that run a whole promtool test suite or wait out a timeout: seconds each, not unit speed.
LIVE_TESTS = frozenset({
    "test_promtool_unit_tests_pass", "test_the_prometheus_rules_are_the_generated_rule_files_and_pass_promtool",
    "test_a_kill_after_which_nothing_restarts_is_not_injected",
    "test_promtool_iso_weeks_from_the_generated_rules",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        live = (item.get_closest_marker("live") is not None or module in LIVE_MODULES
                or getattr(item, "originalname", item.name) in LIVE_TESTS
                or bool(LIVE_FIXTURES & set(getattr(item, "fixturenames", ()))))
        item.add_marker(pytest.mark.live if live else pytest.mark.unit)
