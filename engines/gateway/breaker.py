"""Per-node circuit breaker: closed → open after consecutive failures → half-open single trial.

Health checks catch nodes that stop answering; the breaker catches nodes that answer ``/readyz``
fine but fail the queries themselves, and keeps the gateway from hammering them. Open time grows
exponentially while trials keep failing, so a node that is broken for long costs one trial per
``max_open_s`` instead of one per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from exporters.contract import BREAKER_STATES

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
assert set(BREAKER_STATES) == {CLOSED, OPEN, HALF_OPEN}


class CircuitBreaker:
    """Not thread-safe: it lives on the gateway's event loop, which serialises every call."""

    def __init__(self, failure_threshold: int = 5, base_open_s: float = 1.0, max_open_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.base_open_s = base_open_s
        self.max_open_s = max_open_s
        self._clock = clock
        self._failures = 0
        self._opened = 0  # consecutive openings without a successful trial: the exponent
        self._open_until: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self._open_until is None:
            return CLOSED
        # Open turns half-open by the passing of time alone; no call is needed to notice it.
        return OPEN if self._clock() < self._open_until else HALF_OPEN

    @property
    def state_value(self) -> int:
        return BREAKER_STATES[self.state]

    @property
    def open_s(self) -> float:
        """How long the breaker stays open after its next opening."""
        return min(self.max_open_s, self.base_open_s * 2 ** max(0, self._opened - 1))

    def allows(self) -> bool:
        """Whether an attempt may be routed here now; does not take the half-open trial."""
        state = self.state
        return state == CLOSED or (state == HALF_OPEN and not self._trial_in_flight)

    def acquire(self) -> bool:
        """Take permission for one attempt; in half-open this is the single trial."""
        if not self.allows():
            return False
        if self.state == HALF_OPEN:
            self._trial_in_flight = True
        return True

    def on_success(self) -> None:
        if self.state == OPEN:
            return  # a straggler from before the opening; only the trial may close the breaker
        self._failures = 0
        self._opened = 0
        self._open_until = None
        self._trial_in_flight = False

    def on_failure(self) -> None:
        state = self.state
        if state == OPEN:
            return  # a straggler from before the opening; the node is already out
        if state == HALF_OPEN:
            self._trip()  # the trial failed: open again, for twice as long as last time
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._trip()

    def release(self) -> None:
        """The attempt ended without saying anything about the node (e.g. the client's deadline)."""
        self._trial_in_flight = False

    def _trip(self) -> None:
        self._opened += 1
        self._failures = 0
        self._trial_in_flight = False
        self._open_until = self._clock() + self.open_s
