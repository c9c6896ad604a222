"""Live: an error budget spent by real traffic refuses a real blue-green upgrade; the override proceeds.

On the session stack. The budget burnt is a test-only SLO's (client queries to sales that are valid SQL),
so no platform SLO is touched: its generated rules (local profile) go into the stack's Prometheus, a second
SLO service process serves it, and the orchestrator's gate points at that service for this test only.
Everything else is the stack's own: the gateway, the nodes, Prometheus, the orchestrator's HTTP API, the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from enginewatch.cli import app
from foundation.process import ManagedProcess, python_module, wait_until
from slo import load_paths, rules

pytestmark = pytest.mark.timeout(120)

SLO_ID = "release-gate-test-valid-sql"
SPEC = """\
version: enginewatch/v1
service: release-gate-test
slos:
- name: valid-sql
  objective: 99
  description: Test only. Client queries to sales that are valid SQL (invalid SQL is the bad event).
  sli:
    bad: gateway_errors_total{error_type="invalid_sql",engine="sales"}
    total: gateway_request_duration_seconds_count{engine="sales"}
    group_by: [engine]
  alerting: {disable: true}
"""


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def gate_service(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test SLO's rules loaded into the stack's Prometheus, a service for it, and the orchestrator's gate
    pointing there; all undone afterwards."""
    work = tmp_path_factory.mktemp("budget-gate")
    spec = work / "gate-test.yaml"
    spec.write_text(SPEC)
    rule_file = work / "gate-test.rules.yml"
    rule_file.write_text(rules.dump(rules.rule_file(rules.generate(load_paths([spec]),
                                                                   rules.Options(profile="local")))))
    port_file = work / "port"
    service = ManagedProcess("slo-service-gate-test", python_module(
        "slo.service", "--port", "0", "--port-file", str(port_file), "--prometheus", stack.prometheus_url,
        "--specs", str(spec)), log_path=work / "slo-service.log").start()
    before = list(stack.prometheus.rule_files)
    try:
        wait_until(lambda: port_file.exists() or not service.alive, 30, what="the test SLO service to listen")
        assert service.alive, service.log_tail()
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        stack.prometheus.rule_files = [*before, rule_file]
        stack.prometheus.reload()
        stack.orchestrator.attach_gate(url)
        yield url
    finally:
        stack.orchestrator.attach_gate(stack.slo_service_url)
        stack.prometheus.rule_files = before
        stack.prometheus.reload()
        service.stop(grace=5)


def _queries(gateway: str, sql: str, n: int) -> None:
    with httpx.Client(timeout=30) as client:
        for _ in range(n):
            client.post(f"{gateway}/query", json={"engine": "sales", "sql": sql})
            time.sleep(0.05)


def _gate(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/api/v1/slos/{SLO_ID}/gate", params={"engine": "sales"}, timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _wait_gate(stack: Any, url: str, sql: str, done: Any, what: str) -> dict[str, Any]:
    """Send queries until the gate's answer satisfies ``done`` (the rules need a few evaluations)."""
    deadline = time.monotonic() + 30
    while True:
        _queries(stack.gateway_url, sql, 10)
        body = _gate(url)
        if done(body):
            return body
        assert time.monotonic() < deadline, f"the gate never {what}: {body}"


def test_a_spent_budget_refuses_the_upgrade_and_the_override_proceeds(stack: Any, gate_service: str) -> None:
    t0 = time.monotonic()
    healthy = _wait_gate(stack, gate_service, "SELECT 1", lambda b: b["budget_remaining"] == 1.0,
                         "saw the valid queries")
    assert healthy["allow"] and healthy["decision"] == "allow"
    spent = _wait_gate(stack, gate_service, "SELEKT nonsense", lambda b: not b["allow"], "denied")
    assert spent["budget_remaining"] <= 0 and spent["threshold"] == 0.0
    assert f"SLO {SLO_ID} (engine sales) has spent its error budget" in spent["reason"]
    # The stack's own service answers the same question over every SLO covering sales: the platform's
    # SLOs are untouched (invalid SQL is the user's error), so it does not deny on this test's account.
    platform = httpx.get(f"{stack.slo_service_url}/api/v1/gate", params={"engine": "sales"}, timeout=30).json()
    assert all(c["slo"] != SLO_ID for c in platform["checks"])

    orch, token = stack.orchestrator.url, stack.admin_token
    engine = stack.orchestrator.engine("sales")
    current, target = engine.version, f"gate-{int(time.time())}"
    since = stack.orchestrator.events()[-1].seq
    # The orchestrator's API: 409, the gate's answer in the body, nothing changed.
    refused = httpx.post(f"{orch}/v1/engines/sales/upgrade", json={"version": target},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert refused.status_code == 409, refused.text
    assert refused.json()["budget_gate"]["decision"] == "deny"
    assert f"SLO {SLO_ID} (engine sales) has spent its error budget" in refused.json()["error"]
    # The CLI says it as a refusal, exit code 2.
    cli = CliRunner()
    no = cli.invoke(app, ["engine", "upgrade", "sales", target, "--yes", "--orchestrator", orch, "--token", token])
    assert no.exit_code == 2, no.output
    out = flat(no.output)
    assert "refused by the orchestrator: upgrade of sales to" in out and "refused by the error-budget gate" in out
    assert f"SLO {SLO_ID} (engine sales) has spent its error budget" in out and "--override-budget-gate" in out
    assert stack.orchestrator.engine("sales").version == current
    gated = [e.to_dict() for e in stack.orchestrator.events(since, "budget_gate")]
    assert [(e["decision"], e["overridden"]) for e in gated] == [("deny", False), ("deny", False)]
    finished = [e.to_dict() for e in stack.orchestrator.events(since, "operation_finished")]
    assert [e["outcome"] for e in finished if e["operation"] == "upgrade"] == ["refused", "refused"]

    yes = cli.invoke(app, ["engine", "upgrade", "sales", target, "--yes", "--override-budget-gate", "--json",
                           "--orchestrator", orch, "--token", token])
    assert yes.exit_code == 0, yes.output
    assert stack.orchestrator.engine("sales").version == target
    overridden = [e.to_dict() for e in stack.orchestrator.events(since, "budget_gate")][-1]
    assert overridden["decision"] == "deny" and overridden["overridden"] is True
    assert f"SLO {SLO_ID}" in overridden["reason"]
    print(f"budget spent, refused and overridden in {time.monotonic() - t0:.1f}s")
