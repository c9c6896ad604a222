"""Admission control: a bounded number of query slots and a bounded FIFO queue in front of them.

Bounded on both sides so that overload is answered at once (503 overloaded with ``Retry-After``)
instead of building an unbounded backlog that would time out anyway. Runs on the event loop thread
only, so counts need no locks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class Overloaded(Exception):
    """Every slot is busy and the queue is full."""


class Canceled(Exception):
    """The node gave up on a queued query (drain grace expired)."""


class Admission:
    def __init__(self, slots: int, queue_capacity: int,
                 on_change: Callable[[int, int], None] | None = None) -> None:
        self.slots = slots
        self.queue_capacity = queue_capacity
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_change = on_change or (lambda running, queued: None)
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def _changed(self) -> None:
        self._on_change(self.running, len(self._waiters))
        if self.running == 0 and not self._waiters:
            self._idle.set()
        else:
            self._idle.clear()

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if needed. Raises Overloaded, Canceled or CancelledError."""
        if self.running < self.slots and not self._waiters:
            self.running += 1
            self._changed()
            return
        if len(self._waiters) >= self.queue_capacity:
            raise Overloaded(f"{self.running} queries running and {len(self._waiters)} queued")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._changed()
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # The slot was handed to us just as we were cancelled (timeout): pass it on.
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
                self._changed()
            raise

    def release(self) -> None:
        """Give the slot to the longest-waiting query, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: ``running`` stays the same
                self._changed()
                return
        self.running -= 1
        self._changed()

    def cancel_queued(self) -> int:
        """Fail every queued query with Canceled; returns how many there were."""
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(Canceled("canceled while queued: the node is shutting down"))
        self._changed()
        return len(waiters)

    async def wait_idle(self) -> None:
        """Until no query runs or waits."""
        await self._idle.wait()
