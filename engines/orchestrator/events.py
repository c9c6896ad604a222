"""The timeline of lifecycle events: what the orchestrator saw and did, with wall-clock timestamps.

Chaos verdicts line these up against the per-query ledger and Prometheus (all wall clock), so the
timestamps are ``time.time()``; the sequence number lets a poller ask for "everything after N" without
missing or repeating an event when two share a timestamp.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Events kept in memory; older ones are dropped (a game day produces a few thousand at most).
DEFAULT_CAPACITY = 100_000

EVENT_KINDS: tuple[str, ...] = (
    "pod_started",  # process spawned: pid, generation
    "pod_ready",  # readiness probe passed: seconds since start
    "pod_unready",  # readiness lost while the process lives
    "pod_unhealthy",  # liveness or startup probe failed: the pod is killed, then restarted
    "pod_exited",  # returncode, reason (killed/crashed/exited/unhealthy/requested/stopped)
    "pod_backoff",  # waiting before a restart: delay_s
    "pod_restarted",  # a new process for the same pod: reason, restarts
    "pod_signaled",  # signal_pod (chaos): signal
    "drain_started",  # SIGTERM sent for a graceful drain
    "drain_finished",  # exit_code, seconds, outcome
    "engine_state",  # state, previous
    "active_clusters_switched",  # clusters, previous
    "operation_started",  # operation
    "operation_finished",  # operation, outcome, seconds, error?
    "gateway_error",  # the gateway admin API did not answer; the topology file still carries the change
    "budget_gate",  # an upgrade asked the release gate: decision (allow/deny/unavailable/skipped), overridden, reason
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    seq: int
    ts: float
    kind: str
    engine: str | None = None
    cluster: str | None = None
    pod: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "ts": self.ts, "kind": self.kind}
        for key in ("engine", "cluster", "pod"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.fields)
        return out


class EventLog:
    """Append-only and thread-safe: the supervisor thread, operations and API readers share it."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seq = 0

    def append(self, kind: str, *, engine: str | None = None, cluster: str | None = None,
               pod: str | None = None, **fields: Any) -> Event:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        with self._lock:
            self._seq += 1
            event = Event(self._seq, time.time(), kind, engine, cluster, pod, fields)
            self._events.append(event)
        # The timeline in the logs too, where it sits beside the nodes' own lines of the same moment.
        log.info("%s %s", kind, " ".join(f"{k}={v}" for k, v in fields.items()),
                 extra={"engine": engine, "cluster": cluster, "pod": pod})
        return event

    def since(self, seq: int = 0, kind: str | None = None) -> list[Event]:
        """Events with a sequence number above ``seq``, oldest first."""
        with self._lock:
            # Sequence numbers are dense, so the first wanted event's position is arithmetic.
            start = max(0, len(self._events) - (self._seq - seq)) if seq < self._seq else len(self._events)
            selected = list(self._events)[start:]
        return [e for e in selected if kind is None or e.kind == kind]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq
