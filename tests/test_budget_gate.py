"""The error-budget release gate: the budget alerts' spec fields, the gate's decision, the SLO service's
answers when Prometheus is away or the SLO unknown, and the orchestrator's side of it against a real
HTTP gate on 127.0.0.1 (allow, deny, down, override, rollback).

The live proof (a budget spent by real traffic refusing a real upgrade) is tests/test_budget_gate_live.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engines.orchestrator.errors import BudgetGateRefused
from engines.orchestrator.events import EventLog
from engines.orchestrator.gate import ReleaseGate
from foundation.budget_gate import BudgetGateClient, GateUnavailable
from foundation.process import LOOPBACK
from slo import SpecError, rules
from slo.loaders import native
from slo.model import BudgetPolicy
from slo.service.app import ServiceConfig, create_app
from slo.service.gate import decide
from slo.service.models import GateDecision
from slo.service.source import GroupState, SLOState
from slo.specs import platform_slos
from slo.windows import LOCAL, apply_profile

# --- spec and rules ---------------------------------------------------------------------------------

SPEC: dict[str, Any] = {"version": "enginewatch/v1", "service": "shop", "slos": [{
    "name": "checkout", "objective": 99, "sli": {"bad": 'errors_total{engine="x"}', "total": "requests_total",
                                                 "group_by": ["engine"]}}]}


def _spec(**budget: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SPEC))
    if budget:
        doc["slos"][0]["budget"] = budget
    return doc


def test_budget_policy_defaults_loads_renders_and_refuses_nonsense() -> None:
    [slo] = native.load(_spec(), "s.yaml")
    assert slo.budget == BudgetPolicy(Fraction(1, 4), Fraction(0))
    [custom] = native.load(_spec(low_percent=10, release_min_percent=5), "s.yaml")
    assert custom.budget == BudgetPolicy(Fraction(1, 10), Fraction(1, 20))
    assert native.load(native.render([custom])[0], "s.yaml")[0].budget == custom.budget
    [quiet] = native.load(_spec(low_percent=None), "s.yaml")
    assert quiet.budget.low is None
    for budget, field in (({"low_percent": 0}, "budget.low_percent"),
                          ({"release_min_percent": 100}, "budget.release_min_percent"),
                          ({"low": 5}, "slos[0].budget.low")):
        with pytest.raises(SpecError) as err:
            native.load(_spec(**budget), "s.yaml")
        assert err.value.field == field and "s.yaml" in str(err.value)


def _alerts(slo: Any) -> dict[str, dict[str, Any]]:
    generated = rules.generate_one(slo)
    return {r["alert"]: r for g in generated.groups for r in g["rules"]
            if r.get("alert") in rules.BUDGET_ALERTS}


def test_budget_alerts_read_the_recorded_budget_and_carry_the_tier_alerts_labels() -> None:
    slo = next(s for s in platform_slos() if s.id == "gateway-availability")
    alerts = _alerts(slo)
    exhausted, low = alerts[rules.BUDGET_EXHAUSTED_ALERT], alerts[rules.BUDGET_LOW_ALERT]
    assert exhausted["expr"] == '100 * slo:error_budget_remaining:ratio{slo="gateway-availability"} <= 0'
    assert low["expr"] == '100 * slo:error_budget_remaining:ratio{slo="gateway-availability"} < 25.0 > 0'
    for rule in (exhausted, low):
        assert rule["labels"] == {"team": "engines", "severity": "warning", "slo": "gateway-availability"}
        assert rule["annotations"]["runbook_url"].endswith(f"/{rule['alert']}.md")
        assert "var-engine={{ $labels.engine }}" in rule["annotations"]["dashboard_url"]
        assert "{{ $labels.engine }}" in rule["annotations"]["description"]
    # They live with the budget rules, at the budget cadence: the series they read changes there.
    budget_group = rules.generate_one(slo).groups[1]
    assert budget_group["name"].endswith("-budget")
    assert {r.get("alert") for r in budget_group["rules"]} >= set(rules.BUDGET_ALERTS)


def test_no_low_threshold_no_low_alert_and_no_alerting_no_budget_alerts() -> None:
    [quiet] = native.load(_spec(low_percent=None), "s.yaml")
    assert set(_alerts(quiet)) == {rules.BUDGET_EXHAUSTED_ALERT}
    [silent] = native.load({**_spec(), "slos": [{**SPEC["slos"][0], "alerting": {"disable": True}}]}, "s.yaml")
    assert _alerts(silent) == {}


# --- the decision -----------------------------------------------------------------------------------

def _group(engine: str | None, budget: float | None) -> GroupState:
    return GroupState(labels={"engine": engine} if engine else {}, sli=None if budget is None else 0.999,
                      sli_period=None, budget_remaining=budget, burn_rate=None, time_to_exhaustion=None,
                      windows=(), tiers=())


def _state(slo_id: str, groups: list[GroupState], release_min: Fraction = Fraction(0)) -> SLOState:
    slo = next(s for s in platform_slos() if s.id == slo_id)
    slo = apply_profile(slo, LOCAL)
    from dataclasses import replace

    return SLOState(replace(slo, budget=BudgetPolicy(release_min=release_min)), LOCAL, (), tuple(groups))


def test_a_spent_budget_denies_its_engine_only_and_names_the_slo_and_budget() -> None:
    states = [_state("gateway-availability", [_group("sales", -0.352), _group("analytics", 0.8)]),
              _state("query-core-availability", [_group("sales", 0.5), _group("analytics", 0.9)])]
    sales = decide(states, 1.0e9, engine="sales")
    assert not sales.allow
    assert sales.reason == ("release denied: SLO gateway-availability (engine sales) has spent its error budget: "
                            "-35.2% of it left, releases need more than 0.0%")
    assert [c.slo for c in sales.checks] == ["gateway-availability", "query-core-availability"]
    body = GateDecision.of(sales)
    assert body.decision == "deny" and body.budget_remaining == -0.352 and body.threshold == 0.0
    assert body.evaluated_at.timestamp() == 1.0e9
    analytics = decide(states, 1.0e9, engine="analytics")
    assert analytics.allow
    assert "the lowest: SLO gateway-availability (engine analytics) has 80.0% of its error budget left" \
        in analytics.reason
    assert not decide(states, 1.0e9).allow  # no engine: every group counts


def test_the_release_threshold_no_data_and_slos_not_split_by_engine() -> None:
    strict = [_state("gateway-availability", [_group("sales", 0.04)], release_min=Fraction(1, 20))]
    verdict = decide(strict, 0.0, engine="sales")
    assert not verdict.allow and "is below its release threshold: 4.0% of it left" in verdict.reason
    assert decide([_state("gateway-availability", [_group("sales", 0.06)], Fraction(1, 20))], 0.0, "sales").allow
    quiet = decide([_state("gateway-availability", [_group(None, None)])], 0.0, engine="sales")
    assert quiet.allow and "no data in their period (counted as allowed)" in quiet.reason
    # The control plane's SLO is not split by engine: it covers every engine's upgrade.
    control = decide([_state("control-plane-engine-start-latency", [_group(None, -0.1)])], 0.0, engine="sales")
    assert not control.allow and "SLO control-plane-engine-start-latency has spent" in control.reason
    assert decide([], 0.0, engine="sales").allow


def test_the_service_answers_404_with_the_known_slos_and_503_when_prometheus_is_away() -> None:
    client = TestClient(create_app(ServiceConfig(prometheus=f"http://{LOOPBACK}:1")))
    unknown = client.get("/api/v1/slos/nope/gate", params={"engine": "sales"})
    assert unknown.status_code == 404 and "gateway-availability" in unknown.json()["known"]
    for path in ("/api/v1/slos/gateway-availability/gate", "/api/v1/gate"):
        down = client.get(path, params={"engine": "sales"})
        assert down.status_code == 503, down.text
        assert "Connection refused" in down.json()["data_source"]
    assert "/api/v1/slos/{name}/gate" in client.get("/openapi.json").json()["paths"]


# --- the orchestrator's side, against a real HTTP gate ------------------------------------------------

class _Gate:
    """A release gate on a free loopback port answering what ``answer`` holds: (status, body)."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, Any]] = (200, {"allow": True, "reason": "release allowed: fine"})
        self.asked: list[str] = []
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                gate.asked.append(self.path)
                status, body = gate.answer
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_gate() -> Iterator[_Gate]:
    g = _Gate()
    yield g
    g.close()


DENY = {"allow": False, "decision": "deny", "budget_remaining": -0.35, "threshold": 0.0,
        "reason": "release denied: SLO gateway-availability (engine sales) has spent its error budget: -35.0% of "
                  "it left, releases need more than 0.0%"}


def test_allowed_upgrades_proceed_and_the_decision_is_an_event(http_gate: _Gate) -> None:
    events = EventLog()
    record = ReleaseGate(http_gate.url).check(events, "sales", "v2", None, override=False)
    assert record is not None and record["decision"] == "allow" and not record["overridden"]
    assert http_gate.asked == ["/api/v1/gate?engine=sales"]
    [event] = events.since(0, "budget_gate")
    assert event.engine == "sales" and event.fields["decision"] == "allow"


def test_a_denied_upgrade_is_refused_with_409_naming_the_slo_unless_overridden(http_gate: _Gate) -> None:
    http_gate.answer = (200, DENY)
    events = EventLog()
    with pytest.raises(BudgetGateRefused) as refused:
        ReleaseGate(http_gate.url).check(events, "sales", "v2", None, override=False)
    assert refused.value.status == 409
    assert "upgrade of sales to v2 refused by the error-budget gate" in str(refused.value)
    assert "SLO gateway-availability (engine sales) has spent its error budget: -35.0%" in str(refused.value)
    assert "--override-budget-gate" in str(refused.value)
    assert refused.value.extra["budget_gate"]["budget_remaining"] == -0.35
    record = ReleaseGate(http_gate.url).check(events, "sales", "v2", None, override=True)
    assert record is not None and record["decision"] == "deny" and record["overridden"] is True
    assert [(e.fields["decision"], e.fields["overridden"]) for e in events.since(0, "budget_gate")] == \
        [("deny", False), ("deny", True)]


def test_an_unreachable_gate_fails_closed_and_the_override_still_proceeds(http_gate: _Gate) -> None:
    http_gate.answer = (503, {"error": "the data source (Prometheus) did not answer",
                              "data_source": "Prometheus at http://127.0.0.1:9: cannot connect"})
    events = EventLog()
    with pytest.raises(BudgetGateRefused) as refused:
        ReleaseGate(http_gate.url).check(events, "sales", "v2", None, override=False)
    assert "HTTP 503" in str(refused.value) and "cannot connect" in str(refused.value)
    assert "refused while the budget cannot be checked" in str(refused.value)
    http_gate.close()  # nothing listens any more
    with pytest.raises(BudgetGateRefused, match="cannot connect"):
        ReleaseGate(http_gate.url).check(events, "sales", "v2", None, override=False)
    record = ReleaseGate(http_gate.url).check(events, "sales", "v2", None, override=True)
    assert record is not None and record["decision"] == "unavailable" and record["overridden"]


def test_rollbacks_and_ungated_orchestrators_do_not_ask(http_gate: _Gate) -> None:
    http_gate.answer = (200, DENY)
    events = EventLog()
    record = ReleaseGate(http_gate.url).check(events, "sales", "v1", "v1", override=False)
    assert record is not None and record["decision"] == "skipped" and http_gate.asked == []
    assert ReleaseGate(None).check(events, "sales", "v2", None, override=False) is None


def test_the_client_tells_a_malformed_answer_from_a_decision(http_gate: _Gate) -> None:
    http_gate.answer = (200, {"reason": "no decision here"})
    with BudgetGateClient(http_gate.url) as client, pytest.raises(GateUnavailable, match="no allow/deny decision"):
        client.check("sales")
