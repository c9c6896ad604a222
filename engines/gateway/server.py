"""Serving the gateway: our own loopback socket, uvicorn on it, the port reported once listening."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from engines.gateway.app import create_app
from engines.gateway.gateway import Gateway, GatewayConfig
from foundation.process import bind_socket, write_atomic

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Our signal handling, not uvicorn's: after a graceful shutdown uvicorn re-raises the signal,
    which would kill the process before ``main`` flushes the last spans and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._exit)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _exit(self) -> None:
        # A second signal forces the exit, without waiting for in-flight requests (uvicorn's meaning).
        self.force_exit = self.should_exit
        self.should_exit = True


async def serve(config: GatewayConfig, port: int = 0, port_file: Path | None = None) -> None:
    """Run until SIGTERM or SIGINT; then finish in-flight requests (5 s at most) and return."""
    sock = bind_socket(port)  # port 0: the kernel picks a free port, so busy ports never collide
    bound = sock.getsockname()[1]
    gateway = Gateway(config)
    server = _Server(uvicorn.Config(
        create_app(gateway), http="httptools", lifespan="on", access_log=False, log_level="warning",
        log_config=None,  # uvicorn's lines go through our JSON handler (foundation.logs)
        timeout_graceful_shutdown=5, timeout_keep_alive=5,
        # Loopback clients, no reverse proxy in front: X-Forwarded-* handling is per-request cost
        # for nothing.
        proxy_headers=False, server_header=False,
    ))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():  # startup failed; serving.result() raises why
            serving.result()
            raise SystemExit("gateway failed to start")
        await asyncio.sleep(0.01)
    if port_file is not None:
        # Only now: whoever waits for this file may send queries the moment it appears.
        write_atomic(port_file, f"{bound}\n")
    log.info("gateway listening on http://127.0.0.1:%d (topology %s)", bound, config.topology_path)
    try:
        await serving
    finally:
        sock.close()
