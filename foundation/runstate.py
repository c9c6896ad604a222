"""Where a running stack says what it is: the URLs of its components, for the CLI verbs to find.

`enginewatch up` writes ``$ENGINEWATCH_HOME/run.json`` (default ``~/.enginewatch``) and holds a PID
lock so that a second stack (or game day) is refused while one runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from foundation.process import write_atomic


class NotRunning(RuntimeError):
    """No stack is running, or it did not say where it is."""


class AlreadyRunning(RuntimeError):
    """Another stack holds the lock."""


def home() -> Path:
    return Path(os.environ.get("ENGINEWATCH_HOME") or Path.home() / ".enginewatch")


@dataclass
class RunState:
    pid: int
    state_dir: str
    gateway: str = ""
    orchestrator: str = ""
    prometheus: str = ""
    alertmanager: str = ""
    slo_service: str = ""
    admin_token: str = ""
    engines: list[str] = field(default_factory=list)
    loki: str = ""  # the log store (Loki's API), when the stack collects logs

    def save(self) -> Path:
        path = home() / "run.json"
        write_atomic(path, json.dumps(asdict(self), indent=2))
        path.chmod(0o600)  # holds the admin token
        return path


def load() -> RunState:
    path = home() / "run.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotRunning(f"no running stack: {path} does not exist (start one with `enginewatch up`)") from None
    except (OSError, ValueError) as e:
        raise NotRunning(f"cannot read {path}: {e}") from None
    state = RunState(**{k: v for k, v in data.items() if k in RunState.__dataclass_fields__})
    if not psutil.pid_exists(state.pid):
        raise NotRunning(f"the stack recorded in {path} (pid {state.pid}) is no longer running")
    return state


class StackLock:
    """A PID lock file; stale locks (dead PID) are taken over."""

    def __init__(self, name: str = "stack.lock") -> None:
        self.path = home() / name

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            other = int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            other = 0
        if other and other != os.getpid() and psutil.pid_exists(other):
            raise AlreadyRunning(
                f"another enginewatch stack is running (pid {other}, lock {self.path}); stop it first")
        write_atomic(self.path, str(os.getpid()))

    def release(self) -> None:
        try:
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()
        except (FileNotFoundError, ValueError):
            pass
        run = home() / "run.json"
        try:
            if json.loads(run.read_text()).get("pid") == os.getpid():
                run.unlink()
        except (FileNotFoundError, ValueError):
            pass
