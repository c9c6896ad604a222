"""The kernel mechanisms' file formats and command lines, without touching the kernel: cgroup v2 on a fake
tree (this machine's cgroup2 mount offers no cpu or memory controller, so v2 is exercised live only for
its refusal), netfilter rule specs, stress-ng's command line, and the orchestrator's OOM classification.

The live side of each is tests/test_chaos_kernel.py.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from chaos.kernel import KernelUnavailable, cgroups, netfilter, stress
from engines.orchestrator.oom import OomWatch, oom_kills
from engines.orchestrator.pod import Pod, PodConfig
from engines.orchestrator.supervisor import exit_reason


@pytest.fixture
def v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cgroup2 mount with cpu and memory, and process 4242 in its group /session."""
    mount = tmp_path / "unified"
    (mount / "session").mkdir(parents=True)
    (mount / "cgroup.controllers").write_text("cpu memory pids\n")
    (mount / "cgroup.subtree_control").write_text("")
    (mount / "session" / "cgroup.procs").write_text("4242\n")
    (tmp_path / "mounts").write_text(f"cgroup2 {mount} cgroup2 rw,nosuid 0 0\n")
    (tmp_path / "proc" / "4242").mkdir(parents=True)
    (tmp_path / "proc" / "4242" / "cgroup").write_text("0::/session\n")
    monkeypatch.setattr(cgroups, "MOUNTS", tmp_path / "mounts")
    monkeypatch.setattr(cgroups, "PROC", tmp_path / "proc")
    return mount


def test_v2_groups_go_under_the_mount_root_with_the_controller_enabled(v2: Path) -> None:
    group = cgroups.group_for("cpu", "sales-c1-n1", 4242, owner=77)
    assert isinstance(group, cgroups.CgroupV2)
    assert group.path == v2 / "enginewatch" / "sales-c1-n1@77" and group.home == v2 / "session"
    assert group.owner == 77
    (v2 / "enginewatch").mkdir()  # the kernel gives every new group its control files; a fake tree does not
    (v2 / "enginewatch" / "cgroup.subtree_control").write_text("")
    group.create()
    # The kernel would list "cpu" afterwards; the fake file keeps what we wrote.
    assert (v2 / "cgroup.subtree_control").read_text() == "+cpu"
    assert (v2 / "enginewatch" / "cgroup.subtree_control").read_text() == "+cpu"
    assert [g.path for g in cgroups.leftovers()] == [group.path]


def test_v2_control_files(v2: Path) -> None:
    group = cgroups.group_for("memory", "p", 4242)
    group.path.mkdir(parents=True)
    for name, text in (("cpu.max", "max 100000\n"), ("memory.max", "max\n"), ("memory.swap.max", "max\n"),
                       ("cpu.stat", "usage_usec 9\nnr_periods 10\nnr_throttled 4\nthrottled_usec 250000\n"),
                       ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), ("memory.current", "4096\n")):
        (group.path / name).write_text(text)
    assert group.cpu_limit() is None and group.memory_limit() is None
    group.limit_cpu(0.05)
    assert (group.path / "cpu.max").read_text() == "5000 100000" and group.cpu_limit() == 0.05
    group.limit_cpu(0.001)  # below the kernel's 1 ms minimum: the minimum
    assert (group.path / "cpu.max").read_text() == "1000 100000"
    group.limit_memory(64 << 20)
    assert group.memory_limit() == 64 << 20 and (group.path / "memory.swap.max").read_text() == "0"
    assert group.cpu_stat() == cgroups.CpuStat(10, 4, 0.25)
    assert group.oom_kills() == 1 and group.memory_usage() == 4096
    assert oom_kills(group.path) == 1  # the orchestrator reads the same counter


def test_a_controller_only_in_cgroup2_that_lacks_it_is_unavailable(v2: Path) -> None:
    with pytest.raises(KernelUnavailable, match=r"the io controller is not available in cgroup2 at .* "
                                                r"\(available: cpu, memory, pids\)"):
        cgroups.group_for("io", "p", 4242)


def test_v1_wins_over_v2_and_nests_under_the_process_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = tmp_path / "cpu"
    (cpu / "session").mkdir(parents=True)
    (tmp_path / "mounts").write_text(f"cgroup2 {tmp_path}/unified cgroup2 rw 0 0\n"
                                     f"cgroup {cpu} cgroup rw,relatime,cpu,cpuacct 0 0\n")
    (tmp_path / "proc" / "7").mkdir(parents=True)
    (tmp_path / "proc" / "7" / "cgroup").write_text("3:memory:/\n2:cpu,cpuacct:/session\n0::/\n")
    monkeypatch.setattr(cgroups, "MOUNTS", tmp_path / "mounts")
    monkeypatch.setattr(cgroups, "PROC", tmp_path / "proc")
    group = cgroups.group_for("cpu", "n1", 7)
    assert isinstance(group, cgroups.CgroupV1)
    assert group.path == cpu / "session" / "enginewatch" / f"n1@{os.getpid()}" and group.home == cpu / "session"
    (tmp_path / "proc" / "7" / "cgroup").write_text("2:cpu,cpuacct:/session/enginewatch/n1@1\n")
    with pytest.raises(cgroups.KernelError, match="already in the project's group"):
        cgroups.group_for("cpu", "n1", 7)


def test_netfilter_rules_of_a_port() -> None:
    drop = netfilter.PortRule(8123, owner=77)
    comment = ["-m", "comment", "--comment", "enginewatch owner=77"]
    assert drop.jump_rules() == [["-p", "tcp", "-d", "127.0.0.1", "--dport", "8123", *comment, "-j", "ENGINEWATCH"],
                                 ["-p", "tcp", "-s", "127.0.0.1", "--sport", "8123", *comment, "-j", "ENGINEWATCH"]]
    assert netfilter.owner_of('-A OUTPUT --dport 8123 -m comment --comment "enginewatch owner=77" -j X') == 77
    assert [r[-2:] for r in drop.chain_rules()] == [["-j", "DROP"], ["-j", "DROP"]]
    to_port, from_port = netfilter.PortRule(8123, reject=True).chain_rules()
    assert to_port[-4:] == ["-j", "REJECT", "--reject-with", "tcp-reset"]
    assert from_port[-6:-2] == ["!", "--tcp-flags", "RST", "RST"]  # our own resets must get out
    lossy = netfilter.PortRule(8123, probability=0.2, label="sales-c1-n1", owner=5).chain_rules()[0]
    assert lossy[6:12] == ["-m", "statistic", "--mode", "random", "--probability", "0.200000"]
    assert lossy[12:16] == ["-m", "comment", "--comment", "enginewatch sales-c1-n1 owner=5"]


def test_stress_ng_command_line_is_bounded() -> None:
    assert stress.StressSpec("cpu", 2, 9.2).argv("/usr/bin/stress-ng") == [
        "/usr/bin/stress-ng", "--cpu", "2", "--timeout", "10s", "--metrics-brief"]
    assert stress.StressSpec("vm", 1, 3, vm_bytes=64 << 20).argv("stress-ng")[1:6] == [
        "--vm", "1", "--vm-bytes", str(64 << 20), "--vm-keep"]
    with pytest.raises(ValueError, match="workers must be 1..8"):
        stress.StressSpec("cpu", 99, 3).argv("stress-ng")


def test_a_sigkill_after_the_pods_memory_cgroup_oom_killed_is_oom(tmp_path: Path) -> None:
    group = tmp_path / "memcg"
    group.mkdir()
    (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    pod = Pod("sales", "c1", "n1", 1, "v1", "S", True, PodConfig(tmp_path, tmp_path, tmp_path, 1.0, 1.0))

    class _Exited:
        pid = 4242

    pod.process = _Exited()  # type: ignore[assignment]
    pod.oom_watch = OomWatch.start(4242, group)
    assert exit_reason(pod, -signal.SIGKILL) == "killed"  # no OOM kill yet: someone's SIGKILL
    (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert exit_reason(pod, -signal.SIGKILL) == "oom"
    assert exit_reason(pod, 1) == "crashed"  # only a SIGKILL is the OOM killer's
    pod.oom_watch = OomWatch(999, group, 0)  # the watch was for an earlier process
    assert exit_reason(pod, -signal.SIGKILL) == "killed"
    with pytest.raises(ValueError, match="not a memory cgroup"):
        OomWatch.start(1, tmp_path)
