"""Running a node: build it, serve it on uvicorn, drain it on SIGTERM, exit 0.

We bind the socket ourselves (port 0 on loopback, reported through ``--port-file`` once serving) and
own the signals: uvicorn's handlers would stop accepting and exit at once, short-circuiting the drain,
so our uvicorn server installs none. With ``--no-drain`` SIGTERM keeps its default action: the process
dies at once, in-flight queries with it — a node with broken shutdown, for chaos experiments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Generator

import uvicorn
import uvloop

from engines.node import workdir
from engines.node.config import NodeConfig
from engines.node.core import QueryCore
from engines.node.faults import StorageFaults
from engines.node.history import QueryHistory
from engines.node.http import build_app
from engines.node.lifecycle import RUNNING, STOPPED, Lifecycle, begin_drain, drain
from engines.node.service import QueryService
from engines.storage import ensure_storage
from exporters.golden import QueryServiceMetrics
from exporters.tracing import setup_tracing, shutdown_tracing
from foundation.process import bind_socket, write_atomic

log = logging.getLogger("engines.node")

# Responses still being written when the drain ends get this long before connections are closed.
SHUTDOWN_TIMEOUT_S = 5.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # signals are ours (see module doc)


def run(config: NodeConfig) -> int:
    """Serve until SIGTERM (or SIGINT) has been handled; the process exit code."""
    identity = config.identity
    setup_tracing("enginewatch-node", {"service.version": identity.version, "service.instance.id": identity.pod,
                                       "enginewatch.engine": identity.engine, "enginewatch.cluster": identity.cluster,
                                       "enginewatch.node": identity.node})
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_serve(config))
    finally:
        shutdown_tracing()


async def _serve(config: NodeConfig) -> int:
    stop = asyncio.Event()
    metrics = QueryServiceMetrics()
    lifecycle = Lifecycle(metrics.set_state)
    if config.drain:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            begin_drain(lifecycle)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
    work_dir = workdir.create()
    service: QueryService | None = None
    history = QueryHistory(config.identity.as_fields(), config.history_dir)
    try:
        storage = ensure_storage(config.storage)
        history.start()
        service = QueryService(QueryCore(storage, config.node_type, work_dir,
                                         StorageFaults(config.storage_latency_s)), metrics, lifecycle,
                               config.query_timeout_s, history)
        sock = bind_socket(config.port)
        port = int(sock.getsockname()[1])
        server = _Server(uvicorn.Config(
            build_app(service, config), lifespan="off", http="httptools", access_log=False,
            log_level="warning", server_header=False, timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S,
            log_config=None,  # uvicorn's lines go through our JSON handler (foundation.logs)
        ))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped it
                return 1
            await asyncio.sleep(0.005)
        lifecycle.to(RUNNING)
        if config.port_file is not None:
            write_atomic(config.port_file, f"{port}\n")
        log.info("node %s serving on 127.0.0.1:%d (type %s)", config.identity.pod, port, config.node_type.name)

        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            stopping.cancel()
            serving.result()
            return 1  # uvicorn stopped on its own: not a drain
        drain_started = time.monotonic()
        clean = await drain(lifecycle, config.grace_s, service.wait_idle, service.cancel_all)
        log.info("drain %s after %.2fs", "complete" if clean else "cut at grace expiry",
                 time.monotonic() - drain_started)
        server.should_exit = True
        await serving
        lifecycle.to(STOPPED)
        return 0
    finally:
        history.close()  # before a hard exit too: the last queries' records are what on-call looks for
        if service is not None and not service.close():
            log.error("a query worker would not stop; exiting without waiting for it")
            workdir.remove(work_dir)
            shutdown_tracing()
            os._exit(1)
        workdir.remove(work_dir)
