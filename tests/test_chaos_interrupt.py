"""Ctrl-C in the middle of an experiment: the rollbacks run (the paused pod is resumed), the stack the
command booted is stopped, and no process it started is left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

pytestmark = pytest.mark.timeout(150)

FLEET = """
engines:
  - {name: alpha, type: S, nodes_per_cluster: 1, clusters: 2, version: v1}
grace_period_s: 3
drain_slack_s: 2
"""


def descendants_while(proc: subprocess.Popen, stop: threading.Event, seen: set[int]) -> None:
    """Every process the command starts, sampled while it runs (they are gone by the time it exits)."""
    while not stop.is_set():
        try:
            seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return
        stop.wait(0.2)


def test_ctrl_c_mid_experiment_rolls_back_and_leaves_no_process(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(FLEET)
    experiment = {
        "name": "hang-forever",
        "load": {"qps": 10, "duration_s": 60, "engines": ["alpha"], "kinds": ["lookup"], "deadline_s": 5},
        "method": [{"at_s": 1, "action": "pause_pod", "duration_s": 120, "target": {"engine": "alpha", "mode": "one"}}],
        "hypothesis": {"lost_queries": {"max": 0}},
        "rollbacks": [{"action": "wait_ready", "timeout_s": 20}],
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment))
    env = {**os.environ, "ENGINEWATCH_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "enginewatch.cli", "chaos", "run", str(tmp_path / "exp.yaml"),
                             "--boot", "--fleet", str(tmp_path / "fleet.yaml"), "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen: set[int] = set()
    stop = threading.Event()
    watcher = threading.Thread(target=descendants_while, args=(proc, stop, seen), daemon=True)
    watcher.start()
    output: list[str] = []
    paused_pid = None
    try:
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            m = re.search(r"pid (\d+) stopped \(SIGSTOP\)", line)
            if m:
                paused_pid = int(m.group(1))
                break
            assert time.monotonic() < deadline, "".join(output)
        assert paused_pid is not None, "".join(output)
        assert psutil.Process(paused_pid).status() == psutil.STATUS_STOPPED
        time.sleep(1.0)  # mid-experiment: the load runs, the pod hangs
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
        output.append(rest)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(output)
    assert proc.returncode == 130, text
    assert "interrupted: rollbacks ran" in text
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    first = journal["rollbacks"][0]
    assert first["action"].startswith("SIGCONT alpha-") and first["ok"], journal["rollbacks"]
    assert f"pid {paused_pid} resumed" in first["detail"]
    assert paused_pid in seen and len(seen) >= 4  # pods, gateway, Prometheus at least
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in seen):
        time.sleep(0.2)
    left = [p for p in seen if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert left == [], [psutil.Process(p).cmdline() for p in left]
    assert not (tmp_path / "home" / "stack.lock").exists()
