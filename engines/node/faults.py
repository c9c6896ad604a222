"""Runtime fault knobs of a node, set through its admin API: latency on object-storage reads.

The knob adds to the storage tier's own latency (``--storage-latency-ms``: a remote or cold object
store), which no fault lifts.

An in-process injection, and honest about it: before a statement runs, the node waits ``latency`` for
each storage object it reads (one Parquet file per table), as if the object store took that much
longer to send the first byte. No ``tc netem`` or FUSE layer exists on these machines to slow the
files themselves, so the bytes, once "arrived", come as fast as ever; what is faked is the time to
first byte, which is what a slow object-store GET costs a query engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: A canceled or timed-out query stops waiting within this long.
SLICE_S = 0.02


class StorageFaults:
    def __init__(self, baseline_s: float = 0.0) -> None:
        if baseline_s < 0:
            raise ValueError(f"baseline latency must be >= 0, got {baseline_s}")
        self.baseline_s = baseline_s
        self._lock = threading.Lock()
        self._latency_s = 0.0
        self.delayed_reads = 0
        self.delayed_s = 0.0

    @property
    def latency_s(self) -> float:
        return self._latency_s  # a float read is atomic: the hot path takes no lock

    @property
    def per_read_s(self) -> float:
        """What one object read waits: the tier's latency and the fault's."""
        return self.baseline_s + self._latency_s

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds}")
        self._latency_s = seconds

    def delay(self, objects: int, canceled: Callable[[], bool] = lambda: False, count: bool = True) -> float:
        """Wait ``per_read_s × objects``, in slices so that a canceled query stops waiting; the seconds waited."""
        total = self.per_read_s * objects
        if total <= 0:
            return 0.0
        started = time.perf_counter()
        deadline = started + total
        while (left := deadline - time.perf_counter()) > 0 and not canceled():
            time.sleep(min(SLICE_S, left))
        waited = time.perf_counter() - started
        if count:
            with self._lock:
                self.delayed_reads += objects
                self.delayed_s += waited
        return waited

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"storage_latency_s": self._latency_s, "storage_baseline_latency_s": self.baseline_s,
                    "delayed_reads": self.delayed_reads,
                    "delayed_s": round(self.delayed_s, 6)}
