"""Gray faults on real kernel mechanisms, on the live platform: each injected, verified from the kernel's own
files (cgroup.procs, cpu.stat, memory.oom_control, iptables -S), then rolled back; the cases in which
injection must fail say why; `enginewatch chaos cleanup` removes what a crashed run left.

Every test leaves no cgroup or netfilter rule of the project behind (checked after each) and every pod
ready again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from chaos.activity import Context, run_step
from chaos.backends import HttpBackend, LocalBackend
from chaos.cleanup import cleanup
from chaos.experiment import BlastRadius, Busy, Step, Stress, Target
from chaos.kernel import cgroups, netfilter, stress
from chaos.rollback import run_rollbacks
from foundation.process import wait_until
from loadgen.load import LoadGenerator, LoadSpec

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
ENGINEWATCH = Path(sys.executable).with_name("enginewatch")
MIB = 1024 * 1024
#: Needs far more than 64 MiB of fresh memory (a 50M-row join into a hash set): the kernel OOM-kills it.
BIG_QUERY = ("SELECT count(*) FROM (SELECT DISTINCT a.l_orderkey, b.l_orderkey FROM lineitem a "
             "JOIN lineitem b USING (l_partkey, l_suppkey))")


@pytest.fixture
def backend(stack) -> Iterator[LocalBackend]:  # noqa: ANN001
    b = LocalBackend.from_stack(stack)
    _all_ready(b)
    yield b
    # A test that left something behind fails here, and the leftover does not poison the next test. Only
    # what this process owns: other runs on the machine keep theirs.
    report = cleanup(owner=os.getpid())
    _all_ready(b)
    assert report.removed == [] and report.problems == [], report


def _all_ready(b: LocalBackend, timeout: float = 60) -> None:
    wait_until(lambda: all(e.ready_nodes == e.desired_nodes and e.state == "RUNNING" for e in b.engines()),
               timeout, what="every pod ready")


def _ctx(b: LocalBackend | HttpBackend) -> Context:
    return Context(b, BlastRadius(max_pods=2, min_ready_nodes_per_engine=1))  # type: ignore[arg-type]


def _load(stack, seconds: float, engine: str = "sales"):  # noqa: ANN001, ANN202
    gen = LoadGenerator(stack.gateway_url, LoadSpec(qps=20, duration_s=seconds, engines=(engine,),
                                                    kinds=("aggregate", "join"), seed=5,
                                                    max_queries=int(20 * seconds) + 10, deadline_s=10))
    thread = threading.Thread(target=gen.run, daemon=True)
    thread.start()
    return gen, thread


def _group_of(controller: str, pid: int) -> Path:
    """The cgroup directory the process is in now, from /proc/PID/cgroup."""
    h = cgroups.hierarchy(controller)
    return h.mount / cgroups.process_cgroup(pid, h).lstrip("/")


def _keyed(path: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=15, check=False)


def _lifted(fault) -> None:  # noqa: ANN001
    wait_until(lambda: fault.lifted_ts is not None, 10, what="the fault to lift after its duration")


# --- each action: injected, verified, rolled back -----------------------------------------------------------

def test_throttle_cpu_quota_is_enforced_under_load_then_removed(stack, backend: LocalBackend) -> None:  # noqa: ANN001
    gen, thread = _load(stack, 5)
    time.sleep(0.5)
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.5, "throttle_cpu", Target("sales", "one", busy=Busy(1, 3)), duration_s=3.0,
                               cpus=0.05))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    pid = fault.pids[pod]
    group = _group_of("cpu", pid)
    assert group.parts[-2:] == ("enginewatch", f"{pod}@{os.getpid()}")
    assert str(pid) in (group / "cgroup.procs").read_text().split()
    assert int((group / "cpu.cfs_quota_us").read_text()) == 5_000
    assert int((group / "cpu.cfs_period_us").read_text()) == 100_000
    before = _keyed(group / "cpu.stat")
    time.sleep(1.0)
    after = _keyed(group / "cpu.stat")
    assert after["nr_throttled"] > before["nr_throttled"], (before, after)
    throttled_s = (after["throttled_time"] - before["throttled_time"]) / 1e9
    print(f"\nthrottle_cpu 5%: {after['nr_throttled'] - before['nr_throttled']} of "
          f"{after['nr_periods'] - before['nr_periods']} periods throttled in 1 s, {throttled_s:.3f}s throttled")
    assert throttled_s > 0
    _lifted(fault)
    assert not group.exists()
    if psutil.pid_exists(pid):
        assert "enginewatch" not in cgroups.process_cgroup(pid, cgroups.hierarchy("cpu"))
    figures = fault.detail["figures"][pod]
    print(f"throttle_cpu over the fault: {figures}")
    assert figures["nr_throttled"] > 0 and figures["throttled_s"] > 0
    thread.join(30)
    assert [r.detail for r in run_rollbacks(ctx, (), {}, ("sales",))] == fault.detail["lift"]


def test_limit_memory_gets_a_large_query_oom_killed_and_the_orchestrator_says_oom(
        backend: LocalBackend) -> None:
    ctx = _ctx(backend)
    seq = backend.last_event_seq()
    fault = run_step(ctx, Step(0, 0.0, "limit_memory", Target("analytics", "one"), duration_s=30.0, memory_mb=64))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    pid = fault.pids[pod]
    group = _group_of("memory", pid)
    assert group.parts[-2:] == ("enginewatch", f"{pod}@{os.getpid()}")
    assert int((group / "memory.limit_in_bytes").read_text()) == 64 * MIB
    url = backend.orchestrator.pod(pod).url
    t0 = time.monotonic()
    with pytest.raises(httpx.HTTPError):  # the node dies under the query: no answer
        httpx.post(f"{url}/query", json={"sql": BIG_QUERY, "timeout_s": 20}, timeout=25)
    print(f"\nlimit_memory 64 MiB: the large query was OOM-killed after {time.monotonic() - t0:.2f}s")

    def exit_event() -> dict | None:
        return next((e for e in backend.events(seq) if e["kind"] == "pod_exited" and e["pod"] == pod), None)

    wait_until(lambda: exit_event() is not None, 5, what=f"{pod} to exit")
    exited = exit_event()
    assert exited is not None and exited["returncode"] == -9 and exited["reason"] == "oom", exited
    assert _keyed_oom(group) >= 1
    wait_until(lambda: backend.orchestrator.pod(pod).restarts_by_reason.get("oom") == 1, 10,
               what=f"{pod} restarted with reason oom")
    # The limit stays on the pod, as a Kubernetes limit stays on a restarted container.
    wait_until(lambda: any(f["pod"] == pod for f in fault.detail["followed"]), 10, what="the restart followed")
    new_pid = backend.orchestrator.pod(pod).pid
    assert new_pid != pid and str(new_pid) in (group / "cgroup.procs").read_text().split()
    ctx.stop.set()  # an abort: the rollback lifts it before its 30 s are up
    (result,) = run_rollbacks(ctx, (), {}, ("analytics",))
    assert result.ok and "1 OOM kill(s)" in result.detail, result
    assert not group.exists()
    assert "enginewatch" not in cgroups.process_cgroup(new_pid, cgroups.hierarchy("memory"))


def _keyed_oom(group: Path) -> int:
    return next(int(v) for k, v in (ln.split() for ln in (group / "memory.oom_control").read_text().splitlines())
                if k == "oom_kill")


@pytest.mark.parametrize("reject", [False, True], ids=["drop", "reject"])
def test_partition_drops_or_refuses_the_pods_port_then_heals(backend: LocalBackend, reject: bool) -> None:
    ctx = _ctx(backend)
    # Shorter than the orchestrator's liveness limit, so the same process comes back.
    fault = run_step(ctx, Step(0, 0.0, "partition", Target("analytics", "one"), duration_s=2.0, reject=reject))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    port = backend.orchestrator.pod(pod).port
    rules = _iptables("-S", "ENGINEWATCH").stdout
    jumps = _iptables("-S", "OUTPUT").stdout
    assert f"--dport {port} " in rules and f"--sport {port} " in rules
    for direction in ("dport", "sport"):
        assert any(f"--{direction} {port} " in line and f"owner={os.getpid()}" in line
                   and line.endswith("-j ENGINEWATCH") for line in jumps.splitlines()), jumps
    expected = httpx.ConnectError if reject else httpx.ConnectTimeout
    with pytest.raises(expected):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
    assert any(("refused" if reject else "timed out") in e for e in fault.evidence), fault.evidence
    _lifted(fault)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    assert _iptables("-S", "ENGINEWATCH").returncode != 0  # the chain itself is gone
    assert "ENGINEWATCH" not in _iptables("-S", "OUTPUT").stdout
    print(f"\npartition ({'reject' if reject else 'drop'}): {fault.detail['figures'][pod]}")
    assert fault.detail["figures"][pod]["packets_matched"] >= 1


def test_packet_loss_drops_a_share_of_the_pods_packets(backend: LocalBackend) -> None:
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.0, "packet_loss", Target("analytics", "one"), duration_s=6.0, probability=0.5))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    port = backend.orchestrator.pod(pod).port
    assert any("--mode random --probability 0.5" in e for e in fault.evidence), fault.evidence
    timings = []
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and len(timings) < 10:
        t = time.monotonic()
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.5)
            timings.append(time.monotonic() - t)
        except httpx.HTTPError:
            timings.append(float("inf"))
    _lifted(fault)
    figures = fault.detail["figures"][pod]
    print(f"\npacket_loss 50%: {figures['packets_matched']} packets dropped; request times "
          f"{[round(x, 2) for x in timings]}")
    assert figures["packets_matched"] > 0
    assert max(timings) > 0.2  # a dropped packet costs a retransmission timeout (>= 200 ms)
    assert _iptables("-S", "ENGINEWATCH").returncode != 0


def test_noisy_neighbor_runs_stress_ng_in_the_pods_cgroup_then_stops_it(backend: LocalBackend) -> None:
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.0, "noisy_neighbor", Target("analytics", "one"), duration_s=2.0, cpus=0.5,
                               stress=Stress("cpu", 1)))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    pid = fault.pids[pod]
    match = re.search(r"stress-ng pid (\d+) alive with 1 cpu worker\(s\) \[(\d+)\]", " ".join(fault.evidence))
    assert match, fault.evidence
    stress_pid, worker = int(match[1]), int(match[2])
    assert psutil.Process(stress_pid).name() == "stress-ng"
    group = _group_of("cpu", pid)
    procs = (group / "cgroup.procs").read_text().split()
    assert {str(pid), str(stress_pid), str(worker)} <= set(procs)
    assert int((group / "cpu.cfs_quota_us").read_text()) == 50_000
    _lifted(fault)
    for p in (stress_pid, worker):
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
    assert not group.exists()
    print(f"\nnoisy_neighbor: {fault.detail['figures'][pod]}; {fault.detail['lift']}")
    assert fault.detail["figures"][pod]["nr_throttled"] > 0


def test_slow_storage_delays_each_storage_read_measurably(backend: LocalBackend) -> None:
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.0, "slow_storage", Target("analytics", "one"), duration_s=3.0, latency_ms=200))
    assert fault.injected, fault.error
    pod = fault.pods[0]
    url = backend.orchestrator.pod(pod).url
    two_objects = "SELECT count(*) FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey"
    slow = httpx.post(f"{url}/query", json={"sql": two_objects}, timeout=10).json()["elapsed_s"]
    _lifted(fault)
    fast = httpx.post(f"{url}/query", json={"sql": two_objects}, timeout=10).json()["elapsed_s"]
    print(f"\nslow_storage 200 ms: {fault.evidence}; a 2-object query {slow * 1000:.0f} ms during, "
          f"{fast * 1000:.0f} ms after; {fault.detail['figures'][pod]}")
    assert slow >= 0.4 > fast
    assert fault.detail["figures"][pod]["delayed_reads"] >= 2


# --- injection that must fail, with the reason ----------------------------------------------------------------

def _unchanged(backend: LocalBackend, fault, controller: str = "cpu") -> None:  # noqa: ANN001
    assert not fault.injected and fault.pids == {}
    real = cgroups.hierarchy(controller, Path("/proc/self/mounts"))  # not the test's fake mount table
    for p in backend.pods():
        if p.pid:
            assert "enginewatch" not in cgroups.process_cgroup(p.pid, real)


def test_a_missing_cgroup_root_is_not_injected_with_the_reason(backend: LocalBackend, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"cgroup {tmp_path}/no-such-root/cpu cgroup rw,relatime,cpu 0 0\n")
    monkeypatch.setattr(cgroups, "MOUNTS", mounts)
    ctx = _ctx(backend)
    fault = run_step(ctx, Step(0, 0.0, "throttle_cpu", Target("analytics", "one"), duration_s=1.0, cpus=0.1))
    assert fault.error == (f"cgroup v1 cpu hierarchy {tmp_path}/no-such-root/cpu is in the mount table but does "
                           "not exist")
    _unchanged(backend, fault)
    assert [r.detail for r in run_rollbacks(ctx, (), {}, ("analytics",))] == ["nothing had been applied"]


def test_cgroup2_without_the_controller_is_not_injected(backend: LocalBackend, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's real cgroup2 mount, which (here) offers no cpu controller: v2 detection says so."""
    unified = [ln for ln in Path("/proc/self/mounts").read_text().splitlines() if ln.split()[2:3] == ["cgroup2"]]
    if not unified:
        pytest.skip("no cgroup2 mount")
    mount = Path(unified[0].split()[1])
    if "cpu" in (mount / "cgroup.controllers").read_text().split():
        pytest.skip("this cgroup2 mount offers cpu: nothing to refuse")
    (tmp_path / "mounts").write_text(unified[0] + "\n")
    monkeypatch.setattr(cgroups, "MOUNTS", tmp_path / "mounts")
    fault = run_step(_ctx(backend), Step(0, 0.0, "throttle_cpu", Target("analytics", "one"), duration_s=1.0,
                                         cpus=0.1))
    assert (fault.error or "").startswith(f"the cpu controller is not available in cgroup2 at {mount}"), fault.error
    _unchanged(backend, fault)


def test_a_missing_iptables_is_not_injected(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netfilter, "BINARY", "/nonexistent/iptables")
    fault = run_step(_ctx(backend), Step(0, 0.0, "partition", Target("analytics", "one"), duration_s=1.0))
    assert fault.error == "/nonexistent/iptables not found (install Debian's iptables: make debs)"
    assert not fault.injected


def test_a_missing_stress_ng_is_not_injected_and_leaves_no_cgroup(backend: LocalBackend,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stress, "BINARY", "stress-ng-not-installed")
    fault = run_step(_ctx(backend), Step(0, 0.0, "noisy_neighbor", Target("analytics", "one"), duration_s=1.0))
    assert fault.error == "stress-ng-not-installed not found (install Debian's stress-ng: make debs)"
    _unchanged(backend, fault)  # the group made for it was removed again (and the fixture checks: no leftovers)


def test_without_root_the_kernel_refuses_and_says_so() -> None:
    """A process that is not root (euid 65534) gets KernelUnavailable from cgroups and from netfilter."""
    script = (
        "import os\n"
        "from chaos.kernel import KernelUnavailable, cgroups, netfilter\n"
        "os.setegid(65534); os.seteuid(65534)\n"
        "for attempt in (lambda: cgroups.group_for('cpu', 'not-root', os.getpid()).create(),\n"
        "                lambda: netfilter.Netfilter().add(netfilter.PortRule(9))):\n"
        "    try:\n"
        "        attempt(); print('INJECTED')\n"
        "    except KernelUnavailable as e:\n"
        "        print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT,
                          check=False)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2, (done.stdout, done.stderr)
    assert lines[0].startswith("not permitted to create ") and lines[0].endswith("(cgroups need root)")
    assert lines[1].startswith("iptables: not permitted (") and lines[1].endswith("netfilter rules need root")


def test_the_http_backend_answers_unsupported(stack, backend: LocalBackend) -> None:  # noqa: ANN001
    http = HttpBackend(stack.orchestrator.url, stack.admin_token)
    try:
        fault = run_step(_ctx(http), Step(0, 0.0, "slow_storage", Target("analytics", "one"), duration_s=1.0,
                                          latency_ms=100))
    finally:
        http.close()
    assert not fault.injected
    assert fault.error is not None and fault.error.startswith("slow_storage needs the orchestrator in this process")


# --- after a crash --------------------------------------------------------------------------------------------

CRASHING_RUN = """
import sys, time
from pathlib import Path
from chaos.backends.pod_faults import CpuThrottle, NoisyNeighbor, PortFault
from chaos.kernel import cgroups, stress
a, b, log_dir = sys.argv[1], sys.argv[3], Path(sys.argv[6])
a_pid, b_pid, b_port = int(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
CpuThrottle(a, a_pid, 0.5)
memory = cgroups.group_for("memory", a, a_pid)
memory.create(); memory.limit_memory(512 << 20); memory.add(a_pid)
PortFault(b, b_pid, b_port, True, None)
neighbor = NoisyNeighbor(b, b_pid, stress.StressSpec("cpu", 1, 30), 0.5, log_dir)
neighbor.verify()
print(neighbor.stress.pid, *neighbor.stress.workers(), flush=True)
time.sleep(60)
"""


def _cleanup_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENGINEWATCH), "chaos", "cleanup", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False, env={**os.environ, "COLUMNS": "200"})


def test_cleanup_removes_what_a_crashed_run_left_behind(backend: LocalBackend, tmp_path: Path) -> None:
    a, b = sorted((p for p in backend.pods() if p.engine == "analytics" and p.pid), key=lambda p: p.pod)[:2]
    assert a.pid and b.pid
    # A run injects into two of our pods, then dies of SIGKILL: no rollback, no lift, an orphaned stress-ng.
    run = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, a.pod, str(a.pid), b.pod, str(b.pid),
                            str(backend.orchestrator.pod(b.pod).port), str(tmp_path)],
                           stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert run.stdout is not None
        stress_pid, worker = (int(x) for x in run.stdout.readline().split())
        assert {g.owner for g in cgroups.leftovers()} >= {run.pid}
    finally:
        run.kill()
        run.wait()
    assert psutil.Process(stress_pid).name() == "stress-ng"  # outlived its run

    done = _cleanup_cli()
    print("\n" + done.stdout)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"removed stress-ng pid {stress_pid} (ended by SIGKILL)" in out
    assert f"removed stress-ng-cpu pid {worker} (ended by SIGKILL)" in out
    for controller, pod in (("cpu", a.pod), ("memory", a.pod), ("cpu", b.pod)):
        assert re.search(rf"removed cgroup v1 {controller} \S+/enginewatch/{pod}@{run.pid}; pid ", out), pod
    assert out.count(f"owner={run.pid}") == 4 and "removed chain ENGINEWATCH" in out
    assert not [g for g in cgroups.leftovers() if g.owner == run.pid]
    assert not netfilter.Netfilter().chain_exists()
    wait_until(lambda: all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
                           for p in (stress_pid, worker)), 3, what="stress-ng to end")
    for pid in (a.pid, b.pid):
        for controller in ("cpu", "memory"):
            assert "enginewatch" not in cgroups.process_cgroup(pid, cgroups.hierarchy(controller))
    assert httpx.get(f"{b.url}/healthz", timeout=2).status_code == 200
    assert "nothing to clean up" in _cleanup_cli().stdout


def test_cleanup_leaves_the_faults_of_a_live_run_alone(backend: LocalBackend) -> None:
    pod = next(p for p in backend.pods() if p.engine == "analytics" and p.pid)
    throttle = backend.throttle_cpu(pod.pod, 0.5)
    partition = backend.partition(pod.pod)
    try:
        done = _cleanup_cli()
        assert done.returncode == 0, done.stderr
        assert "kept cgroup v1 cpu " in done.stdout
        assert f"its run (pid {os.getpid()}) is still running" in done.stdout
        assert done.stdout.count("kept rule ") == 4 and "nothing to clean up" in done.stdout
        assert throttle.verify() and partition.verify()  # still in place
    finally:
        print(partition.lift(), throttle.lift(), sep="\n")


# --- through the runner ---------------------------------------------------------------------------------------

def _experiment(method: list[dict[str, object]]) -> dict[str, object]:
    return {"name": "gray", "load": {"qps": 15, "duration_s": 5, "engines": ["analytics"],
                                     "kinds": ["lookup", "aggregate"], "deadline_s": 10},
            "method": method, "hypothesis": {"lost_queries": {"max": 0}},
            "rollbacks": [{"action": "wait_ready", "timeout_s": 60}],
            "blast_radius": {"max_pods": 1, "min_ready_nodes_per_engine": 1}}


def test_a_gray_fault_runs_in_an_experiment_and_lands_in_the_journal(stack, backend: LocalBackend,  # noqa: ANN001
                                                                       tmp_path: Path) -> None:
    from chaos.experiment import parse_experiment
    from chaos.journal import Journal
    from chaos.run import Platform, run_experiment
    from foundation.prometheus import PrometheusClient

    exp = parse_experiment(_experiment([{"at_s": 1, "action": "slow_storage", "duration_s": 2, "latency_ms": 100,
                                         "target": {"engine": "analytics", "mode": "one"}}]))
    # The steady-state check judges this run's 1 s before the fault: an alert an earlier module's
    # faults left pending must fire or clear first, or it reads as this experiment's false page.
    with PrometheusClient(stack.prometheus_url, timeout=2) as prom:
        prom.wait_for('ALERTS{alertstate="pending"}', lambda s: not s, timeout=90, interval=1)
    platform = Platform(backend, stack.gateway_url, stack.prometheus_url, None, stack.fleet.grace_period_s)
    journal = run_experiment(exp, platform, tmp_path)
    (fault,) = journal.faults
    assert fault.injected, fault.error
    assert fault.end_ts - fault.ts == pytest.approx(2.0, abs=0.5)
    figures = fault.detail["figures"][fault.pods[0]]
    assert figures["delayed_reads"] > 0, figures
    assert journal.status == "passed", journal.reasons()
    assert Journal.read(tmp_path / "journal.json").faults[0].detail["figures"] == fault.detail["figures"]


def test_a_step_that_cannot_be_injected_fails_the_experiment_and_still_rolls_back(
        stack, backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from chaos.experiment import parse_experiment
    from chaos.run import Platform, run_experiment

    monkeypatch.setattr(netfilter, "BINARY", "/nonexistent/iptables")
    exp = parse_experiment(_experiment([{"at_s": 1, "action": "packet_loss", "duration_s": 2, "probability": 0.2,
                                         "target": {"engine": "analytics", "mode": "one"}}]))
    platform = Platform(backend, stack.gateway_url, stack.prometheus_url, None, stack.fleet.grace_period_s)
    journal = run_experiment(exp, platform, tmp_path)
    assert journal.status == "failed"
    assert not journal.faults[0].injected
    assert any("fault not injected" in r and "/nonexistent/iptables not found" in r for r in journal.reasons()), \
        journal.reasons()
    assert [r.action for r in journal.rollbacks] == ["lift packet_loss (step 0)", "wait_ready"]
    assert all(r.ok for r in journal.rollbacks)
