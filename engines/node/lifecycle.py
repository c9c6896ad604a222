"""The node lifecycle: STARTING → RUNNING → DRAINING → STOPPING → STOPPED, and the drain itself.

SIGTERM means drain, as Kubernetes means it: readiness drops at once (the gateway stops routing here),
new queries get a retriable 503, and queries already running or queued finish within the grace
period. Whatever is left at grace expiry is interrupted and answered 500 ``canceled`` — never
dropped on the floor — and the process exits 0. The sequence lives here; what "cancel everything"
means belongs to the query service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from exporters.contract import NODE_STATES

log = logging.getLogger(__name__)

STARTING, RUNNING, DRAINING, STOPPING, STOPPED = NODE_STATES

_ORDER = {state: index for index, state in enumerate(NODE_STATES)}


class Lifecycle:
    """The current state; it only moves forward (a drained node is replaced, never revived)."""

    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        self.state = STARTING
        self.changed_at = time.monotonic()
        self._on_change = on_change or (lambda state: None)
        self._on_change(self.state)

    def to(self, state: str) -> bool:
        """Move to ``state``; False (and no change) when that would be a step back or a repeat."""
        if _ORDER[state] <= _ORDER[self.state]:
            return False
        log.info("node state %s -> %s", self.state, state)
        self.state, self.changed_at = state, time.monotonic()
        self._on_change(state)
        return True

    @property
    def ready(self) -> bool:
        return self.state == RUNNING

    @property
    def accepting(self) -> bool:
        """New queries are admitted only while RUNNING; in every later state they get 503."""
        return self.state == RUNNING


def begin_drain(lifecycle: Lifecycle) -> None:
    """Drop readiness in the signal handler itself, so no request served after SIGTERM sees it ready."""
    if lifecycle.state == RUNNING:
        lifecycle.to(DRAINING)


async def drain(lifecycle: Lifecycle, grace_s: float, wait_idle: Callable[[], Awaitable[None]],
                cancel_all: Callable[[], Awaitable[int]]) -> bool:
    """Run the drain after SIGTERM. True when everything finished within the grace period.

    ``wait_idle`` returns once no query runs or waits; ``cancel_all`` interrupts the rest, returns
    once they have all been answered, and says how many there were.
    """
    # The SIGTERM handler may already have dropped readiness (see begin_drain); drain all the same.
    lifecycle.to(DRAINING)
    if lifecycle.state != DRAINING:
        return True  # already stopping: a drain is or was under way
    try:
        await asyncio.wait_for(wait_idle(), timeout=grace_s)
        clean = True
    except TimeoutError:
        clean = False
    lifecycle.to(STOPPING)
    if not clean:
        canceled = await cancel_all()
        log.warning("drain grace of %.1fs expired: %d queries canceled", grace_s, canceled)
    return clean
