"""Active health checks: each upstream's ``/readyz``, on its own schedule, with a short timeout.

Three answers, three reactions:

- 200: healthy.
- Any other HTTP answer (503 while starting or draining): not ready. No new queries, but the queries
  it already has are left alone — a draining node finishes them, that is the point of draining.
- No answer (refused, reset, timeout): a failure. Refused ejects at once (nothing is listening).
  Otherwise the first failure marks the node suspect (routing avoids it), and ``fall`` consecutive ones eject it and
  abandon its in-flight attempts so they retry elsewhere: a hung node (SIGSTOP, deadlock, swap
  storm) must not hold client queries until their deadline.

Every answered or timed-out check is also timed: the node's check-latency histogram, and the latency
outlier detector (``engines.gateway.outlier``), which ejects a node that answers far more slowly than
its cluster peers. A refused connection says nothing about latency and is not timed.

One task per upstream, so a hung node's slow checks never delay the checks of the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx

from engines.gateway.outlier import LatencyOutliers
from engines.gateway.upstream import Upstream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthConfig:
    interval_s: float = 0.2
    timeout_s: float = 0.25
    fall: int = 2  # consecutive unanswered checks that eject


class HealthChecker:
    def __init__(self, client: httpx.AsyncClient, config: HealthConfig | None = None,
                 outliers: LatencyOutliers | None = None) -> None:
        self.client = client
        self.config = config or HealthConfig()
        self.outliers = outliers
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def watch(self, upstream: Upstream) -> None:
        if id(upstream) not in self._tasks:
            self._tasks[id(upstream)] = asyncio.get_running_loop().create_task(
                self._run(upstream), name=f"health:{upstream.pod}")

    def unwatch(self, upstream: Upstream) -> None:
        task = self._tasks.pop(id(upstream), None)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def check(self, upstream: Upstream) -> None:
        """One check, and its consequences for ``upstream``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self.client.get(upstream.ready_url, timeout=self.config.timeout_s)
        except httpx.ConnectError as exc:
            upstream.health_failures += 1
            self._eject(upstream, "refused", f"readyz: {exc or type(exc).__name__}")
            return
        except httpx.HTTPError as exc:  # timeouts (slow or hung), a reset on a reused connection
            upstream.health_failures += 1
            if upstream.health_failures >= self.config.fall:
                self._eject(upstream, "unresponsive", f"readyz unanswered {upstream.health_failures}x "
                                                      f"({type(exc).__name__})")
            if isinstance(exc, httpx.TimeoutException):
                # At least the timeout: the one latency a hung or partitioned node has.
                self._timed(upstream, max(self.config.timeout_s, loop.time() - started))
            return
        elapsed = loop.time() - started
        if response.status_code == 200:
            upstream.mark_ready()
        else:
            state = ""
            with contextlib.suppress(ValueError, AttributeError):
                state = str(response.json().get("state", ""))
            upstream.mark_unready(f"readyz {response.status_code} {state}".rstrip())
        self._timed(upstream, elapsed)

    def _timed(self, upstream: Upstream, seconds: float) -> None:
        if upstream.series is not None:
            upstream.series.observe_probe(seconds)
        if self.outliers is not None:
            self.outliers.observe(upstream, seconds)

    def _eject(self, upstream: Upstream, reason: str, detail: str) -> None:
        upstream.eject(reason, detail)
        abandoned = upstream.abandon_inflight()
        if abandoned:
            log.warning("abandoned %d in-flight attempt(s) on %s to retry them elsewhere",
                        abandoned, upstream.pod)

    async def _run(self, upstream: Upstream) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.check(upstream)
            except Exception:  # a bug in one check must not end the node's checking for good
                log.exception("health check of %s failed", upstream.pod)
            await asyncio.sleep(max(0.0, self.config.interval_s - (loop.time() - started)))
