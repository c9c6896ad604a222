"""The node's local scratch directory (catalog file and spill space), like a pod's emptyDir.

Named after the process id so that the directories of pods that died without cleaning up (SIGKILL,
``--no-drain``) are recognised and removed by the next node that starts on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import psutil

ROOT_NAME = "enginewatch-node"


def _root() -> Path:
    return Path(tempfile.gettempdir()) / ROOT_NAME


def create() -> Path:
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    _remove_orphans(root)
    path = root / str(os.getpid())
    shutil.rmtree(path, ignore_errors=True)  # a previous process with our pid died without cleanup
    path.mkdir()
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_orphans(root: Path) -> None:
    for entry in root.iterdir():
        with contextlib.suppress(ValueError, OSError):
            if not psutil.pid_exists(int(entry.name)):
                shutil.rmtree(entry, ignore_errors=True)
