"""Open-loop load through the gateway, writing a per-query ledger.

Open loop: arrivals follow a Poisson process at the requested rate whatever the latency of the answers,
so that a slow or failing platform shows up as errors and latency rather than as a quieter client
(the coordinated-omission trap of closed-loop generators). Every load is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from loadgen.ledger import ABANDONED, Entry, Ledger
from loadgen.querymix import QueryMix


@dataclass(frozen=True)
class LoadSpec:
    qps: float
    duration_s: float
    engines: tuple[str, ...]
    kinds: tuple[str, ...] | None = None
    seed: int = 42
    max_queries: int = 100_000
    max_inflight: int = 256
    deadline_s: float = 30.0
    drain_timeout_s: float = 35.0
    #: Relative share of the queries per engine, in the order of ``engines``; None: equal shares.
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.qps <= 0:
            raise ValueError("qps must be > 0")
        if not 0 < self.duration_s <= 24 * 3600:
            raise ValueError("duration must be within (0, 24h]")
        if not self.engines:
            raise ValueError("at least one engine is needed")
        if self.weights is not None and (len(self.weights) != len(self.engines) or min(self.weights) <= 0):
            raise ValueError("weights: one positive number per engine")


class LoadGenerator:
    """Runs a :class:`LoadSpec` against a gateway; ``stop()`` ends it early from any thread."""

    def __init__(self, gateway_url: str, spec: LoadSpec, ledger: Ledger | None = None,
                 on_result: Callable[[Entry], None] | None = None) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.spec = spec
        self.ledger = ledger or Ledger()
        self.on_result = on_result
        self._stop = False
        self.sent = 0

    def stop(self) -> None:
        self._stop = True

    def run(self) -> Ledger:
        asyncio.run(self.arun())
        return self.ledger

    async def arun(self) -> Ledger:
        spec = self.spec
        mix = QueryMix(spec.seed, kinds=spec.kinds)
        arrivals = random.Random(spec.seed + 1)
        engines = interleave(spec.engines, spec.weights)
        run_tag = uuid.uuid4().hex[:8]
        limits = httpx.Limits(max_connections=spec.max_inflight, max_keepalive_connections=64)
        timeout = httpx.Timeout(spec.deadline_s + 5.0, connect=2.0)
        async with httpx.AsyncClient(base_url=self.gateway_url, limits=limits, timeout=timeout) as client:
            tasks: set[asyncio.Task[None]] = set()
            t0 = time.monotonic()
            next_at = t0
            while not self._stop and self.sent < spec.max_queries:
                next_at += arrivals.expovariate(spec.qps)
                if next_at - t0 >= spec.duration_s:
                    break
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._stop:
                    break
                kind, sql = mix.next()
                query_id = f"{run_tag}-{self.sent:06d}"
                self.sent += 1
                task = asyncio.create_task(self._one(client, query_id, next(engines), kind, sql))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=spec.drain_timeout_s)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        return self.ledger

    async def _one(self, client: httpx.AsyncClient, query_id: str, engine: str, kind: str, sql: str) -> None:
        start = time.time()
        self.ledger.open(query_id, start)
        body = {"engine": engine, "sql": sql, "kind": kind, "query_id": query_id,
                "deadline_s": self.spec.deadline_s}
        entry: Entry
        try:
            resp = await client.post("/query", json=body)
            entry = _entry_from_response(query_id, engine, kind, start, resp)
        except asyncio.CancelledError:
            self.ledger.close(_client_side(query_id, engine, kind, start, ABANDONED, ""))
            raise
        except httpx.TimeoutException as e:
            entry = _client_side(query_id, engine, kind, start, "error", "timeout", e)
        except httpx.HTTPError as e:
            # The gateway itself was unreachable: the client saw the platform as unavailable.
            entry = _client_side(query_id, engine, kind, start, "error", "unavailable", e)
        self.ledger.close(entry)
        if self.on_result:
            self.on_result(entry)


def interleave(engines: Sequence[str], weights: Sequence[float] | None = None) -> Iterator[str]:
    """The engines in turn, each as often as its weight says, spread evenly (smooth weighted
    round-robin, as nginx balances upstreams): weights 1, 1, 3 give c a c b c per period, not runs."""
    if weights is None:
        yield from itertools.cycle(engines)
        return
    total = sum(weights)
    credit = [0.0] * len(engines)
    while True:
        for i, w in enumerate(weights):
            credit[i] += w
        best = max(range(len(engines)), key=credit.__getitem__)
        credit[best] -= total
        yield engines[best]


def _client_side(query_id: str, engine: str, kind: str, start: float, status: str, error_type: str,
                 error: BaseException | None = None) -> Entry:
    """An outcome decided by the client, with no answer from the gateway."""
    detail = f"{type(error).__name__}: {error}"[:200] if error is not None else ""
    return Entry(query_id, engine, kind, start, time.time(), status, 0, error_type, "", "", "", 0, True,
                 client_error=detail)


def _entry_from_response(query_id: str, engine: str, kind: str, start: float, resp: httpx.Response) -> Entry:
    end = time.time()
    try:
        data = resp.json()
    except ValueError:
        data = {}
    ok = resp.status_code == 200
    return Entry(
        id=query_id, engine=engine, kind=kind, start=start, end=end,
        status="ok" if ok else "error", http_status=resp.status_code,
        error_type="" if ok else str(data.get("error_type", "internal")),
        cluster=str(data.get("cluster") or resp.headers.get("x-engine-cluster", "")),
        node=str(data.get("node") or resp.headers.get("x-engine-node", "")),
        pod=str(data.get("pod") or ""),  # null when no node was involved
        attempts=int(data.get("attempts") or resp.headers.get("x-attempts", 0) or 0),
        read_only=True,
        server_s=_server_seconds(data) if ok else math.nan,
    )


def _server_seconds(data: dict) -> float:
    """The serving attempt's time on its node: the node's ``elapsed_s``, which already holds its
    ``queue_s`` (adding the two put the attempt's start a queue wait too early, before the fault
    that caused it, and so charged the query to an earlier fault)."""
    try:
        return float(data["elapsed_s"])
    except (KeyError, TypeError, ValueError):
        return math.nan


def run_load(gateway_url: str, qps: float, duration_s: float, engines: Sequence[str], **kw: object) -> Ledger:
    spec = LoadSpec(qps=qps, duration_s=duration_s, engines=tuple(engines), **kw)  # type: ignore[arg-type]
    return LoadGenerator(gateway_url, spec).run()
