"""Unit tests of the gateway's parts that need no node: breaker, retry policy, routing, topology."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.gateway.attempt import AttemptResult, Outcome
from engines.gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from engines.gateway.gateway import Gateway, GatewayConfig
from engines.gateway.health import HealthChecker, HealthConfig
from engines.gateway.outlier import LatencyOutliers, OutlierConfig
from engines.gateway.query import BadRequest, parse_query
from engines.gateway.registry import Registry, UnknownCluster, UnknownEngine, UnknownPod
from engines.gateway.reply import _with_attempts
from engines.gateway.retry import Backoff, is_read_only, is_retriable, may_retry
from engines.gateway.routing import choose
from engines.gateway.topology import Topology, TopologyWatcher
from engines.gateway.upstream import InFlight, Upstream
from engines.kinds import classify, guess_operation
from exporters.contract import (
    ERROR_TYPES,
    GATEWAY_EJECTIONS,
    GATEWAY_ERRORS,
    GATEWAY_PROBE_DURATION,
    GATEWAY_REQUEST_DURATION,
    GATEWAY_UPSTREAM_EJECTED,
    GATEWAY_UPSTREAM_REQUESTS,
    GATEWAY_UPSTREAM_UP,
    PLATFORM_ERROR_TYPES,
    UNKNOWN_ENGINE,
    USER_ERROR_TYPES,
)
from exporters.gateway_metrics import GatewayMetrics
from foundation.process import write_atomic


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- breaker --------------------------------------------------------------------------------------

def test_breaker_opens_after_consecutive_failures_and_allows_one_trial() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, base_open_s=1.0, max_open_s=8.0, clock=clock)
    b.on_failure()
    b.on_failure()
    b.on_success()  # success resets the count: failures must be consecutive
    b.on_failure()
    b.on_failure()
    assert b.state == CLOSED and b.allows()
    b.on_failure()
    assert b.state == OPEN and not b.allows() and not b.acquire()
    clock.now += 1.0
    assert b.state == HALF_OPEN and b.allows()
    assert b.acquire()  # the single trial
    assert not b.allows() and not b.acquire()
    b.on_success()
    assert b.state == CLOSED and b.allows()


def test_breaker_open_time_grows_exponentially_and_is_capped() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, base_open_s=1.0, max_open_s=4.0, clock=clock)
    opened_for = []
    b.on_failure()
    for _ in range(4):
        start = clock.now
        while b.state == OPEN:
            clock.now += 0.25
        opened_for.append(clock.now - start)
        assert b.acquire()
        b.on_failure()  # the trial fails
    assert opened_for == [1.0, 2.0, 4.0, 4.0]
    assert b.state_value == 2


def test_breaker_ignores_stragglers_while_open_and_release_frees_the_trial() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, base_open_s=1.0, clock=clock)
    b.on_failure()
    b.on_success()  # an attempt from before the opening must not close it
    b.on_failure()  # nor re-open it for longer
    assert b.state == OPEN and b.open_s == 1.0
    clock.now += 1.0
    assert b.acquire()
    b.release()  # the trial said nothing about the node (client deadline)
    assert b.acquire()


# --- retry policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT 1", "select count(*) from lineitem;", "  -- why\n WITH t AS (SELECT 1) SELECT * FROM t",
    "FROM lineitem LIMIT 3", "VALUES (1), (2)", "SHOW TABLES", "DESCRIBE lineitem",
    "EXPLAIN SELECT 1", "/* c */ (SELECT 1) UNION ALL (SELECT 2)", "SELECT 'insert; drop table x'",
    'SELECT "update" FROM t', "SELECT $$ delete $$", "SUMMARIZE lineitem",
])
def test_read_only_statements(sql: str) -> None:
    assert is_read_only(sql)


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1)", "CREATE TABLE t AS SELECT 1", "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE t", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
    "EXPLAIN ANALYZE DELETE FROM t", "PRAGMA threads=4", "SET threads = 4", "COPY t TO 'f.csv'",
    "SELECT nextval('s')", "SELECT 'unterminated", "SELECT E'it\\'s'; DELETE FROM t", "", "-- only",
    "ATTACH 'x.db'", "UPDATE t SET a = 1",
])
def test_writes_and_doubtful_statements_are_not_read_only(sql: str) -> None:
    assert not is_read_only(sql)


def test_idempotency_key_makes_any_statement_retriable() -> None:
    assert not may_retry("INSERT INTO t VALUES (1)", None)
    assert may_retry("INSERT INTO t VALUES (1)", "k-1")
    assert may_retry("SELECT 1", None)


def _result(outcome: Outcome, status: int = 0, error_type: str | None = None) -> AttemptResult:
    return AttemptResult(Upstream("e", "c1", "n1", "p", "http://127.0.0.1:1"), outcome, status,
                         error_type=error_type)


@pytest.mark.parametrize(("result", "retriable"), [
    (_result(Outcome.REFUSED), True),
    (_result(Outcome.ABANDONED), True),
    (_result(Outcome.NODE_ERROR, 503, "unavailable"), True),
    (_result(Outcome.NODE_ERROR, 503, "overloaded"), True),
    (_result(Outcome.NODE_ERROR, 500, "canceled"), True),
    (_result(Outcome.NODE_ERROR, 500, "internal"), False),
    (_result(Outcome.NODE_ERROR, 500, "oom"), False),
    (_result(Outcome.NODE_ERROR, 504, "timeout"), False),
    (_result(Outcome.ANSWERED, 400, "invalid_sql"), False),
    (_result(Outcome.ANSWERED, 200), False),
    (_result(Outcome.DEADLINE), False),
])
def test_retriable_outcomes(result: AttemptResult, retriable: bool) -> None:
    assert is_retriable(result) is retriable


@pytest.mark.parametrize(("result", "verdict"), [
    (_result(Outcome.REFUSED), False),
    (_result(Outcome.ABANDONED), None),  # the health check's decision, not more evidence for the breaker
    (_result(Outcome.DEADLINE), None),
    (_result(Outcome.NODE_ERROR, 500, "internal"), False),
    (_result(Outcome.NODE_ERROR, 503, "overloaded"), True),
    (_result(Outcome.ANSWERED, 200), True),
])
def test_breaker_verdicts(result: AttemptResult, verdict: bool | None) -> None:
    assert result.breaker_verdict is verdict


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    assert Backoff(base_s=0.01, cap_s=0.05, rng=lambda: 1.0).delay(1) == pytest.approx(0.01)
    assert Backoff(base_s=0.01, cap_s=0.05, rng=lambda: 1.0).delay(3) == pytest.approx(0.04)
    assert Backoff(base_s=0.01, cap_s=0.05, rng=lambda: 1.0).delay(10) == pytest.approx(0.05)
    assert Backoff(base_s=0.01, cap_s=0.05, rng=lambda: 0.0).delay(5) == 0.0
    delays = [Backoff().delay(2) for _ in range(200)]
    assert 0 <= min(delays) < max(delays) <= 0.02


# --- routing --------------------------------------------------------------------------------------

def _up(cluster: str, node: str, outstanding: int = 0) -> Upstream:
    u = Upstream("sales", cluster, node, f"sales-{cluster}-{node}", f"http://127.0.0.1:1/{cluster}{node}")
    u.outstanding = outstanding
    return u


def test_routing_picks_least_outstanding_among_routable() -> None:
    a, b, c = _up("c1", "n1", 3), _up("c1", "n2", 1), _up("c2", "n1", 0)
    c.healthy = False
    assert choose([a, b, c]) is b
    b.drained = True
    assert choose([a, b, c]) is a
    a.breaker = CircuitBreaker(failure_threshold=1)
    a.breaker.on_failure()
    assert choose([a, b, c]) is None


def test_routing_breaks_ties_at_random() -> None:
    ups = [_up("c1", "n1"), _up("c1", "n2"), _up("c2", "n1")]
    seen = {choose(ups).pod for _ in range(200)}  # type: ignore[union-attr]
    assert len(seen) == 3


def test_retry_prefers_an_untried_node_of_another_cluster() -> None:
    a1, a2, b1 = _up("c1", "n1"), _up("c1", "n2"), _up("c2", "n1", outstanding=5)
    assert choose([a1, a2, b1], tried=[a1]) is b1  # another cluster beats fewer outstanding
    assert choose([a1, a2, b1], tried=[a1, b1]) is a2
    a2.outstanding = 2
    assert choose([a1, a2, b1], tried=[a1, a2, b1]) is a1  # nothing else: a tried one, least busy
    a2.outstanding = 0
    b1.health_failures = 1  # suspect: a healthy node of a tried cluster goes first
    assert choose([a1, a2, b1], tried=[a1]) is a2
    b2 = _up("c2", "n2", outstanding=9)
    assert choose([a1, a2, b1, b2], tried=[a1]) is b2


def test_abandoning_inflight_attempts_turns_them_into_timeouts() -> None:
    async def scenario() -> tuple[bool, bool]:
        u = _up("c1", "n1")
        f = InFlight()
        u.begin(f)
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, u.abandon_inflight)
        try:
            async with asyncio.timeout(5) as scope:
                f.scope = scope
                await asyncio.sleep(5)
        except TimeoutError:
            return f.abandoned, True
        finally:
            u.end(f)
        return f.abandoned, False

    assert asyncio.run(asyncio.wait_for(scenario(), 2)) == (True, True)


# --- topology and registry ------------------------------------------------------------------------

def _topology(revision: int, active: list[str], c1_url: str = "http://127.0.0.1:1") -> dict:
    return {"revision": revision, "engines": {"sales": {
        "state": "RUNNING", "active_clusters": active,
        "clusters": {
            "c1": {"version": "v1", "nodes": [
                {"node": "n1", "pod": "sales-c1-n1", "url": c1_url, "state": "RUNNING"}]},
            "c2": {"version": "v2", "nodes": [
                {"node": "n1", "pod": "sales-c2-n1", "url": "http://127.0.0.1:2", "state": "STARTING"}]},
        }}}}


def test_registry_keeps_upstream_state_across_reloads_and_replaces_moved_pods() -> None:
    added: list[str] = []
    removed: list[str] = []
    reg = Registry(on_added=lambda u: added.append(u.pod), on_removed=lambda u: removed.append(u.pod))
    reg.apply(Topology.from_dict(_topology(1, ["c1"])))
    assert sorted(added) == ["sales-c1-n1", "sales-c2-n1"] and not removed
    c1 = reg.engine("sales").upstreams[0]
    c1.ejections = 3
    assert [u.pod for u in reg.engine("sales").candidates] == ["sales-c1-n1"]
    assert not reg.engine("sales").upstreams[1].healthy  # STARTING: not routable until /readyz says so
    reg.apply(Topology.from_dict(_topology(2, ["c1", "c2"])))
    assert reg.engine("sales").upstreams[0] is c1 and c1.ejections == 3
    reg.apply(Topology.from_dict(_topology(3, ["c1", "c2"], c1_url="http://127.0.0.1:9")))
    assert removed == ["sales-c1-n1"] and added[-1] == "sales-c1-n1"  # restarted on a new port
    assert reg.engine("sales").upstreams[0] is not c1


def test_admin_switch_holds_until_the_file_revision_changes() -> None:
    reg = Registry()
    reg.apply(Topology.from_dict(_topology(5, ["c1"])))
    assert reg.set_active_clusters("sales", ["c2"]) == ("c1",)
    assert reg.engine("sales").active_clusters == ("c2",)
    assert [u.cluster for u in reg.engine("sales").candidates] == ["c2"]
    reg.apply(Topology.from_dict(_topology(5, ["c1"])))  # same revision rewritten: admin still wins
    assert reg.engine("sales").active_clusters == ("c2",)
    reg.apply(Topology.from_dict(_topology(6, ["c1"])))  # newer intent: the file wins
    assert reg.engine("sales").active_clusters == ("c1",)
    with pytest.raises(UnknownCluster):
        reg.set_active_clusters("sales", ["c9"])
    with pytest.raises(ValueError):
        reg.set_active_clusters("sales", [])
    with pytest.raises(UnknownEngine, match="known engines: sales"):
        reg.set_active_clusters("nope", ["c1"])
    with pytest.raises(UnknownPod):
        reg.set_drained("nope")
    assert reg.set_drained("sales-c1-n1")[0].routable is False


def test_watcher_reloads_on_change_and_keeps_the_last_good_topology(tmp_path: Path) -> None:
    path = tmp_path / "topology.json"
    seen: list[int] = []

    async def scenario() -> None:
        watcher = TopologyWatcher(path, lambda t: seen.append(t.revision), interval_s=0.02)
        watcher.start()  # no file yet: nothing, and no error
        try:
            write_atomic(path, json.dumps(_topology(1, ["c1"])))
            await _until(lambda: seen == [1])
            write_atomic(path, "{not json")
            await asyncio.sleep(0.1)
            write_atomic(path, json.dumps(_topology(2, ["c1"])))
            await _until(lambda: seen == [1, 2])
        finally:
            await watcher.stop()

    asyncio.run(asyncio.wait_for(scenario(), 5))


async def _until(predicate, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.01)


def test_topology_drops_active_clusters_that_do_not_exist() -> None:
    t = Topology.from_dict(_topology(1, ["c1", "ghost"]))
    assert t.engines["sales"].active_clusters == ("c1",)


# --- request and reply ----------------------------------------------------------------------------

def test_parse_query_validates_and_caps_the_deadline() -> None:
    q = parse_query(b'{"engine": "sales", "sql": "SELECT 1", "deadline_s": 99, "kind": "bogus"}', 10.0)
    assert (q.engine, q.deadline_s, q.kind) == ("sales", 10.0, None) and len(q.query_id) == 32
    assert parse_query(b'{"engine":"e","sql":"x","deadline_s":0.5,"query_id":"q1"}', 10).query_id == "q1"
    for bad in [b"nope", b"[]", b'{"sql": "SELECT 1"}', b'{"engine": "e", "sql": ""}',
                b'{"engine": "e", "sql": "x", "deadline_s": -1}', b'{"engine":"e","sql":"x","deadline_s":true}',
                b'{"engine": "e", "sql": "x", "idempotency_key": 5}']:
        with pytest.raises(BadRequest):
            parse_query(bad, 10.0)


def test_attempts_are_spliced_into_the_node_answer() -> None:
    body = b'{"columns": ["x"], "rows": [[1]], "pod": "p"}\n'
    assert json.loads(_with_attempts(body, 2)) == {"columns": ["x"], "rows": [[1]], "pod": "p",
                                                   "attempts": 2}
    assert json.loads(_with_attempts(b"{}", 1)) == {"attempts": 1}


# --- metrics --------------------------------------------------------------------------------------

def test_metrics_exist_at_zero_before_the_first_event_and_upstreams_come_and_go() -> None:
    def samples(m: GatewayMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        body, _ = m.exposition(None)
        return {tuple(sorted(s.labels.items())): s.value
                for f in text_string_to_metric_families(body.decode()) for s in f.samples if s.name == name}

    m = GatewayMetrics(process=False)
    up = {"value": 1.0}
    m.track_upstream("sales", "c1", "n1", up=lambda: up["value"], breaker_state=lambda: 0.0)
    errors = samples(m, GATEWAY_ERRORS.name)
    # Counters that first appear at 1 have no increase() in Prometheus: every bounded value starts at 0.
    assert {dict(k)["error_type"] for k, v in errors.items() if dict(k)["engine"] == "sales" and v == 0} \
        == set(ERROR_TYPES)
    assert len(samples(m, GATEWAY_UPSTREAM_REQUESTS.name)) == 4
    m.engine("sales").count_error("something unbounded")
    assert samples(m, GATEWAY_ERRORS.name)[(("engine", "sales"), ("error_type", "internal"))] == 1
    up["value"] = 0.0  # read at scrape time
    assert list(samples(m, GATEWAY_UPSTREAM_UP.name).values()) == [0.0]
    m.untrack_upstream("sales", "c1", "n1")
    assert samples(m, GATEWAY_UPSTREAM_UP.name) == {}


# --- answers without a node -----------------------------------------------------------------------

def test_an_unknown_engine_is_a_404_with_its_own_user_error_type(tmp_path: Path) -> None:
    async def ask() -> tuple[int, dict, str | None, bytes]:
        gw = Gateway(GatewayConfig(tmp_path / "topology.json", "token"), GatewayMetrics(process=False))
        await gw.start()
        try:
            rep = await gw.handle_query(json.dumps({"engine": "nope", "sql": "SELECT 1"}).encode(), {},
                                        time.perf_counter())
        finally:
            await gw.stop()
        body, _ = gw.metrics.exposition(None)
        return rep.status, json.loads(rep.body), rep.error_type, body

    status, body, error_type, exposition = asyncio.run(ask())
    # Not invalid_sql: the statement was never looked at, and a client must tell a typo in the
    # engine's name from a typo in its SQL.
    assert status == 404 and body["error_type"] == error_type == "unknown_engine"
    assert "unknown engine 'nope'" in body["error"] and body["attempts"] == 0
    assert "unknown_engine" in USER_ERROR_TYPES and "unknown_engine" not in PLATFORM_ERROR_TYPES
    errors = {tuple(sorted(s.labels.items())): s.value
              for f in text_string_to_metric_families(exposition.decode()) for s in f.samples
              if s.name == GATEWAY_ERRORS.name}
    assert errors[(("engine", UNKNOWN_ENGINE), ("error_type", "unknown_engine"))] == 1


# --- latency outliers -----------------------------------------------------------------------------

def _cluster(n: int = 3) -> list[Upstream]:
    return [_up("c1", f"n{i}") for i in range(1, n + 1)]


def _outliers(cluster: list[Upstream], clock: Clock, **config: Any) -> LatencyOutliers:
    """A detector (EWMA of the last check only) whose nodes have each been checked once, all fast."""
    cfg = OutlierConfig(**{"ratio": 5.0, "floor_s": 0.05, "samples": 3, "alpha": 1.0, "base_ejection_s": 5.0,
                           "max_ejection_s": 20.0, **config})
    detector = LatencyOutliers(cfg, lambda u: cluster, clock=clock)
    _round(detector, cluster, None)
    return detector


def _round(detector: LatencyOutliers, cluster: list[Upstream], slow: Upstream | None, slow_s: float = 0.2,
           fast_s: float = 0.002) -> None:
    """One health check of every node: ``slow`` answers in ``slow_s``, the others in ``fast_s``."""
    for u in cluster:
        detector.observe(u, slow_s if u is slow else fast_s)


def test_a_node_far_slower_than_its_peers_is_ejected_for_a_back_off_whatever_its_checks_say() -> None:
    clock = Clock()
    cluster = _cluster()
    slow = cluster[0]
    detector = _outliers(cluster, clock)
    _round(detector, cluster, slow)
    _round(detector, cluster, slow)
    assert slow.routable and slow.ejection is None  # two slow checks: not yet
    _round(detector, cluster, slow)
    assert not slow.routable and slow.ejection == "latency" and slow.latency_ejected_until == clock.now + 5.0
    assert all(u.routable for u in cluster[1:])
    # Out of traffic it answers fast, as an ejected slow node does: it stays out for the back-off.
    for _ in range(4):
        clock.now += 1.0
        slow.mark_ready()
        _round(detector, cluster, None)
    assert not slow.routable
    clock.now += 1.0
    _round(detector, cluster, None)
    assert slow.routable and slow.ejection is None
    for _ in range(3):  # traffic comes back, and so does the slowness: twice as long this time
        _round(detector, cluster, slow)
    assert slow.ejection == "latency" and slow.latency_ejected_until == clock.now + 10.0
    assert slow.ejections == 2


def test_a_node_still_slow_when_its_back_off_ends_stays_out_longer_and_is_forgiven_later() -> None:
    clock = Clock()
    cluster = _cluster()
    slow = cluster[0]
    detector = _outliers(cluster, clock)
    for _ in range(3):
        _round(detector, cluster, slow)
    clock.now += 5.0
    _round(detector, cluster, slow)  # the back-off is over, the node is not: 10 s more
    assert slow.latency_ejected and slow.latency_ejected_until == clock.now + 10.0
    clock.now += 10.0
    _round(detector, cluster, None)  # fast now: back in
    assert slow.routable and slow.latency_ejections == 2
    clock.now += 20.0  # fast for a whole maximal back-off
    _round(detector, cluster, None)
    assert slow.latency_ejections == 0
    for _ in range(3):
        _round(detector, cluster, slow)
    assert slow.latency_ejected_until == clock.now + 5.0  # the short back-off again


@pytest.mark.parametrize("scenario", ["under the floor", "every node slow", "no healthy peer", "no peer at all",
                                      "max share reached", "disabled"])
def test_no_latency_ejection_without_an_outlier_or_against_the_limits(scenario: str) -> None:
    clock = Clock()
    cluster = _cluster(1 if scenario == "no peer at all" else 2)
    slow = cluster[0]
    config: dict[str, Any] = {"enabled": False} if scenario == "disabled" else {}
    if scenario == "max share reached":
        config["max_ejected_share"] = 0.49  # a cluster of two may lose none of its nodes
    detector = _outliers(cluster, clock, **config)
    if scenario == "no healthy peer":
        cluster[1].eject("unresponsive", "readyz timed out")
    slow_s, fast_s = {"under the floor": (0.04, 0.001), "every node slow": (0.3, 0.2)}.get(scenario, (0.3, 0.002))
    for _ in range(10):
        _round(detector, cluster, slow, slow_s, fast_s)
    assert not slow.latency_ejected and slow.ejection is None
    assert slow.probe_ewma_s == pytest.approx(slow_s)


def test_a_latency_ejection_abandons_in_flight_attempts_and_holds_an_unresponsive_node_out() -> None:
    clock = Clock()
    cluster = _cluster()
    slow = cluster[0]
    detector = _outliers(cluster, clock)

    async def attempt_on_the_slow_node() -> bool:
        inflight = InFlight()
        slow.begin(inflight)
        asyncio.get_running_loop().call_later(0.05, lambda: [_round(detector, cluster, slow) for _ in range(3)])
        try:
            async with asyncio.timeout(5) as scope:
                inflight.scope = scope
                await asyncio.sleep(5)
        except TimeoutError:
            return inflight.abandoned  # retried elsewhere by the dispatcher, as after a hung node
        finally:
            slow.end(inflight)
        return False

    assert asyncio.run(asyncio.wait_for(attempt_on_the_slow_node(), 2))
    assert slow.ejection == "latency"
    hung = cluster[1]
    hung.eject("unresponsive", "readyz unanswered 2x")
    assert hung.ejection == "unresponsive"
    for _ in range(3):
        _round(detector, cluster, hung, slow_s=0.25)
    # The next answered check would readmit an unresponsive node; a latency ejection holds it out.
    hung.mark_ready()
    assert hung.ejection == "latency" and not hung.routable


def test_health_checks_are_timed_and_timeouts_count_at_the_timeout(tmp_path: Path) -> None:
    answers: list[type[Exception] | None] = [None, httpx.ReadTimeout, httpx.ConnectError]

    def handler(request: httpx.Request) -> httpx.Response:
        exc = answers.pop(0)
        if exc is not None:
            raise exc("no answer", request=request)
        return httpx.Response(200, json={"ready": True})

    async def scenario() -> GatewayMetrics:
        metrics = GatewayMetrics(process=False)
        u = _up("c1", "n1")
        u.series = metrics.track_upstream(u.engine, u.cluster, u.node, up=lambda: 1.0, breaker_state=lambda: 0.0,
                                          pod=u.pod, ejection=lambda: u.ejection)
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            checker = HealthChecker(client, HealthConfig(timeout_s=0.25, fall=1))
            for _ in range(3):
                await checker.check(u)
        assert u.ejection == "refused"
        return metrics

    metrics = asyncio.run(scenario())
    body, _ = metrics.exposition(None)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    labels = (("cluster", "c1"), ("engine", "sales"), ("node", "n1"), ("pod", "sales-c1-n1"))
    assert samples[(GATEWAY_PROBE_DURATION.count, labels)] == 2  # the refused check is not timed
    assert samples[(GATEWAY_PROBE_DURATION.sum, labels)] >= 0.25
    ejections = {dict(k)["reason"]: v for (name, k), v in samples.items() if name == GATEWAY_EJECTIONS.name}
    assert ejections == {"refused": 0.0, "unresponsive": 1.0, "latency": 0.0}
    ejected = {dict(k)["reason"]: v for (name, k), v in samples.items() if name == GATEWAY_UPSTREAM_EJECTED.name}
    assert ejected == {"refused": 1.0, "unresponsive": 0.0, "latency": 0.0}


def test_client_latency_is_labelled_with_the_node_s_kind_classifier(tmp_path: Path) -> None:
    async def ask(doc: dict[str, str]) -> bytes:
        gw = Gateway(GatewayConfig(tmp_path / "topology.json", "token"), GatewayMetrics(process=False))
        await gw.start()
        try:
            await gw.handle_query(json.dumps(doc).encode(), {}, time.perf_counter())
        finally:
            await gw.stop()
        body, _ = gw.metrics.exposition(None)
        return body

    def kinds(body: bytes) -> dict[str, float]:
        return {s.labels["kind"]: s.value for f in text_string_to_metric_families(body.decode()) for s in f.samples
                if s.name == GATEWAY_REQUEST_DURATION.count and s.labels["engine"] == UNKNOWN_ENGINE and s.value}

    lookup = "SELECT o_totalprice FROM orders WHERE o_orderkey = 7"
    assert kinds(asyncio.run(ask({"engine": "nope", "sql": lookup}))) == {"lookup": 1}
    assert kinds(asyncio.run(ask({"engine": "nope", "sql": lookup, "kind": "scan"}))) == {"scan": 1}  # the hint
    assert classify(lookup, guess_operation(lookup)) == "lookup"
    assert guess_operation("/* why */ (WITH t AS (SELECT 1) SELECT * FROM t)") == "SELECT"
    assert guess_operation("insert into t values (1)") == "INSERT"


def test_a_node_back_from_a_short_hang_is_judged_on_its_answers_not_on_its_missed_checks() -> None:
    clock = Clock()
    cluster = _cluster()
    detector = _outliers(cluster, clock, samples=5, alpha=0.3)  # the gateway's own smoothing
    for _ in range(3):
        _round(detector, cluster, None)
    hung = cluster[0]
    hung.eject("unresponsive", "readyz unanswered 2x")
    for _ in range(4):  # a 1 s hang: four checks time out, one short of a latency ejection
        _round(detector, cluster, hung, slow_s=0.25)
    assert hung.ejection == "unresponsive" and not hung.latency_ejected
    hung.mark_ready()
    for _ in range(6):  # it answers as fast as its peers: no back-off for the hang it already paid for
        _round(detector, cluster, None)
    assert hung.routable and hung.ejection is None and not hung.latency_ejected
    # Back from another hang, it sheds its backlog with slow answers for a second: within the grace.
    hung.eject("unresponsive", "readyz unanswered 2x")
    hung.mark_ready()
    for _ in range(5):
        clock.now += 0.2
        _round(detector, cluster, hung, slow_s=0.08)
    assert hung.routable and not hung.latency_ejected
    # Still slow once the grace (2 s) is over: a slow node after all, ejected as one.
    for _ in range(10):
        clock.now += 0.2
        _round(detector, cluster, hung, slow_s=0.08)
    assert hung.latency_ejected
