"""What the local backends share: reading a process's OS state and a node's own status."""

from __future__ import annotations

from typing import Any

import httpx
import psutil


def process_status(pid: int) -> str | None:
    """psutil's status ("running", "sleeping", "stopped", "zombie" ...); None when the PID is gone.

    A zombie has exited: only its parent has not reaped it yet, so it counts as gone for chaos.
    """
    try:
        status = str(psutil.Process(pid).status())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    return None if status == psutil.STATUS_ZOMBIE else status


def node_status(url: str | None, timeout: float = 0.5, client: httpx.Client | None = None) -> dict[str, Any] | None:
    """The node's GET /status. Pass a client: busy targeting polls this in a tight loop."""
    if not url:
        return None
    try:
        r = (client or httpx).get(f"{url}/status", timeout=timeout)
        data = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None
