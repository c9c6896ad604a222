"""Rollbacks: always run — after success, failure, abort and Ctrl-C — and each says what it did.

First the undo of every lasting fault (newest first: SIGCONT paused pods, stop sustained kills, remove
cgroups and netfilter rules, stop stress-ng, reset storage latency), then the experiment's own
rollbacks. A rollback that fails does not stop the next one: leaving the platform as we found it
matters more than the first error. What a crash leaves behind (no rollback ran), `enginewatch chaos
cleanup` removes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chaos.activity import Context
from chaos.backend import BackendError, EngineInfo
from chaos.experiment import Rollback


@dataclass(frozen=True)
class RollbackResult:
    action: str
    ok: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackResult:
        return cls(**data)


def run_rollbacks(ctx: Context, rollbacks: tuple[Rollback, ...], before: Mapping[str, EngineInfo],
                  engines: tuple[str, ...]) -> list[RollbackResult]:
    results = []
    with ctx.lock:
        undo, ctx.undo = list(ctx.undo), []
    for name, fn in reversed(undo):
        results.append(_timed(name, fn))
    for rb in rollbacks:
        targets = (rb.engine,) if rb.engine else engines
        results.append(_timed(rb.action, lambda rb=rb, targets=targets: ROLLBACKS[rb.action](ctx, rb, before, targets)))
    return results


def _timed(name: str, fn: Any) -> RollbackResult:
    t0 = time.monotonic()
    try:
        detail = str(fn())
        ok = True
    except Exception as e:  # a rollback must never stop the next one
        detail, ok = f"{type(e).__name__}: {e}", False
    return RollbackResult(name, ok, detail, round(time.monotonic() - t0, 3))


def resume_paused(ctx: Context, rb: Rollback, before: Mapping[str, EngineInfo], engines: tuple[str, ...]) -> str:
    """A safety net behind the per-fault undo: any stopped pod of the engines gets SIGCONT."""
    resumed = []
    for p in ctx.backend.pods():
        if p.engine in engines and p.pid and ctx.backend.process_status(p.pid) == "stopped":
            ctx.backend.signal(p.pod, "CONT")
            resumed.append(p.pod)
    return f"resumed {', '.join(resumed)}" if resumed else "no paused pod"


def wait_ready(ctx: Context, rb: Rollback, before: Mapping[str, EngineInfo], engines: tuple[str, ...]) -> str:
    deadline = time.monotonic() + rb.timeout_s
    while True:
        state = {e.name: e for e in ctx.backend.engines() if e.name in engines}
        laggards = [f"{e.name} {e.ready_nodes}/{e.desired_nodes} ready, {e.state}" for e in state.values()
                    if e.ready_nodes < e.desired_nodes or e.state != "RUNNING"]
        if not laggards:
            return "every pod ready: " + ", ".join(f"{e.name} {e.ready_nodes}/{e.desired_nodes}"
                                                   for e in state.values())
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not ready after {rb.timeout_s:g}s: {'; '.join(laggards)}")
        time.sleep(0.1)


def restore_active_clusters(ctx: Context, rb: Rollback, before: Mapping[str, EngineInfo],
                            engines: tuple[str, ...]) -> str:
    done = []
    for e in ctx.backend.engines():
        old = before.get(e.name)
        if e.name not in engines or old is None or set(e.active_clusters) == set(old.active_clusters):
            continue
        if not set(old.active_clusters) <= set(e.clusters):
            done.append(f"{e.name}: clusters {list(old.active_clusters)} no longer exist, left at "
                        f"{list(e.active_clusters)}")
            continue
        ctx.backend.failover(e.name, list(old.active_clusters))
        done.append(f"{e.name}: active clusters back to {list(old.active_clusters)}")
    return "; ".join(done) or "active clusters unchanged"


def rollback_upgrade(ctx: Context, rb: Rollback, before: Mapping[str, EngineInfo], engines: tuple[str, ...]) -> str:
    done = []
    for e in ctx.backend.engines():
        old = before.get(e.name)
        if e.name not in engines or old is None or e.version == old.version:
            continue
        result = ctx.backend.upgrade(e.name, old.version)
        if result.get("outcome") != "success":
            raise BackendError(f"{e.name}: upgrade back to {old.version} failed: {result.get('error')}")
        done.append(f"{e.name}: {e.version} -> {old.version} in {result.get('seconds')}s")
    return "; ".join(done) or "versions unchanged"


def ensure_gateway(ctx: Context, rb: Rollback, before: Mapping[str, EngineInfo], engines: tuple[str, ...]) -> str:
    pid = ctx.backend.gateway_pid()
    if pid is not None and ctx.backend.process_status(pid) is not None:
        return f"gateway running (pid {pid})"
    restart = ctx.backend.restart_gateway()
    return f"gateway started again (pid {restart.new_pid})"


ROLLBACKS = {
    "resume_paused": resume_paused,
    "wait_ready": wait_ready,
    "restore_active_clusters": restore_active_clusters,
    "rollback_upgrade": rollback_upgrade,
    "ensure_gateway": ensure_gateway,
}
