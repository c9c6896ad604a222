"""Each node action on the live platform (the session's stack), verified on the processes themselves.

Every test leaves the platform as it found it: all pods ready again before the next one starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from chaos.activity import Context, run_step
from chaos.backends import LocalBackend
from chaos.experiment import BlastRadius, Busy, Step, Target
from chaos.rollback import run_rollbacks
from chaos.verdicts import drain_verdict, failover_verdict
from foundation.process import wait_until
from loadgen.load import LoadGenerator, LoadSpec

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def backend(stack) -> Iterator[LocalBackend]:  # noqa: ANN001
    b = LocalBackend.from_stack(stack)
    _all_ready(b)
    yield b
    _all_ready(b)


def _all_ready(b: LocalBackend, timeout: float = 60) -> None:
    wait_until(lambda: all(e.ready_nodes == e.desired_nodes and e.state == "RUNNING" for e in b.engines()),
               timeout, what="every pod ready")


def _ctx(b: LocalBackend, **kw: object) -> Context:
    return Context(b, BlastRadius(max_pods=2, min_ready_nodes_per_engine=1), **kw)  # type: ignore[arg-type]


def _load(stack, seconds: float, kinds: tuple[str, ...] = ("aggregate", "join")):  # noqa: ANN001, ANN202
    gen = LoadGenerator(stack.gateway_url, LoadSpec(qps=20, duration_s=seconds, engines=("sales",), kinds=kinds,
                                                    seed=11, max_queries=int(20 * seconds) + 10, deadline_s=10))
    thread = threading.Thread(target=gen.run, daemon=True)
    thread.start()
    return gen, thread


def test_kill_pod_is_verified_and_the_orchestrator_restarts_it(stack, backend: LocalBackend) -> None:  # noqa: ANN001
    seq = backend.last_event_seq()
    gen, thread = _load(stack, 4)
    time.sleep(1)
    fault = run_step(_ctx(backend), Step(0, 1.0, "kill_pod", Target("sales", "one", busy=Busy(1, 2))))
    thread.join(30)
    assert fault.injected, fault.error
    (pod,), pid = fault.pods, fault.pids[fault.pods[0]]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert f"{pod}: pid {pid} gone, exit status -9" in fault.evidence
    events = backend.events(seq)
    assert any(e["kind"] == "pod_exited" and e["pod"] == pod and e["returncode"] == -9 for e in events)
    wait_until(lambda: backend.orchestrator.pod(pod).ready, 30, what=f"{pod} back")
    assert backend.orchestrator.pod(pod).pid != pid
    df = gen.ledger.frame()
    v = failover_verdict(df, backend.events(seq), fault, goals={"client_failures": 0})
    assert v.figures["time_to_detect_s"] is not None and v.figures["time_to_detect_s"] < 2
    assert v.passed, (v.failed, v.notes)


def test_terminate_pod_drains_and_the_drain_verdict_holds(stack, backend: LocalBackend) -> None:  # noqa: ANN001
    seq = backend.last_event_seq()
    gen, thread = _load(stack, 6)
    time.sleep(1.5)
    fault = run_step(_ctx(backend), Step(0, 1.5, "terminate_pod", Target("sales", "one", busy=Busy(1, 4))))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    wait_until(lambda: any(e["kind"] == "pod_exited" and e["pod"] == pod for e in backend.events(seq)), 20,
               what=f"{pod} to exit")
    thread.join(30)
    v = drain_verdict(gen.ledger.frame(), backend.events(seq), fault, grace_s=stack.fleet.grace_period_s, goals={},
                      require_in_flight=False)
    assert v.figures["exit_code"] == 0
    assert v.figures["drain_s"] <= stack.fleet.grace_period_s
    assert v.figures["routed_after_unready"] == 0 and v.figures["failed_in_flight"] == 0
    assert v.passed, (v.failed, v.figures)


def test_pause_pod_stops_the_process_then_resumes_it(backend: LocalBackend) -> None:
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.0, "pause_pod", Target("analytics", "one"), duration_s=1.0))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    pid = fault.pids[pod]
    assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
    wait_until(lambda: psutil.Process(pid).status() != psutil.STATUS_STOPPED, 5, what="SIGCONT after 1 s")
    wait_until(lambda: fault.lifted_ts is not None, 2, what="lift recorded")
    assert fault.end_ts - fault.ts == pytest.approx(1.0, abs=0.5)
    assert backend.orchestrator.pod(pod).pid == pid  # the same process came back: nobody killed it
    results = run_rollbacks(ctx, (), {}, ("analytics",))
    assert [r.detail for r in results] == [f"{pod}: already resumed"]


def test_rollback_resumes_a_paused_pod_before_its_time(backend: LocalBackend) -> None:
    """An abort or Ctrl-C mid-pause: the rollback must SIGCONT at once, not wait for the duration."""
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.0, "pause_pod", Target("analytics", "one"), duration_s=60.0))
    pid = fault.pids[fault.pods[0]]
    assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
    ctx.stop.set()  # what the runner does on abort
    results = run_rollbacks(ctx, (), {}, ("analytics",))
    assert results[0].ok and "resumed" in results[0].detail
    assert psutil.Process(pid).status() != psutil.STATUS_STOPPED


def test_a_kill_of_a_pod_that_is_gone_is_not_injected(backend: LocalBackend) -> None:
    fault = run_step(_ctx(backend), Step(0, 0.0, "kill_pod", Target("sales", "one", pod="sales-c9-n9")))
    assert not fault.injected and fault.pids == {}
    assert fault.error == "no live pod matches one of sales-c9-n9"


def test_blast_radius_is_checked_before_each_fault(backend: LocalBackend) -> None:
    ctx = Context(backend, BlastRadius(max_pods=4, min_ready_nodes_per_engine=4))
    fault = run_step(ctx, Step(0, 0.0, "kill_pod", Target("sales", "one")))
    assert not fault.injected and fault.pids == {}
    assert "min_ready_nodes_per_engine" in (fault.error or "")


def test_http_backend_acts_through_the_orchestrator_api(stack, backend: LocalBackend) -> None:  # noqa: ANN001
    """What `enginewatch chaos run` uses against a stack started by `enginewatch up`."""
    from chaos.backend import BackendError
    from chaos.backends import HttpBackend

    http = HttpBackend(stack.orchestrator.url, stack.admin_token)
    try:
        assert {p.pod for p in http.pods()} == {p.pod for p in backend.pods()}
        assert {e.name for e in http.engines()} == {"sales", "analytics"}
        assert http.last_event_seq() == backend.last_event_seq()
        fault = run_step(_ctx(http), Step(0, 0.0, "kill_pod", Target("analytics", "one")))  # type: ignore[arg-type]
        assert fault.injected, fault.error
        assert any(e["kind"] == "pod_exited" and e["pod"] == fault.pods[0] for e in http.events(0))
        with pytest.raises(BackendError, match="404"):
            http.signal("analytics-c9-n9", "KILL")
        with pytest.raises(BackendError, match="401"):
            HttpBackend(stack.orchestrator.url, "wrong-token").signal(fault.pods[0], "CONT")
    finally:
        http.close()
