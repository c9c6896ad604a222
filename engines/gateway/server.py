"""Serving the gateway: our own loopback socket, uvicorn on it, the port reported once listening."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvicorn

from engines.gateway.app import create_app
from engines.gateway.gateway import Gateway, GatewayConfig
from engines.process import bind_socket, write_atomic

log = logging.getLogger(__name__)


async def serve(config: GatewayConfig, port: int = 0, port_file: Path | None = None) -> None:
    """Run until SIGINT/SIGTERM (uvicorn's handlers); then finish in-flight requests and return."""
    sock = bind_socket(port)  # port 0: the kernel picks a free port, so busy ports never collide
    bound = sock.getsockname()[1]
    gateway = Gateway(config)
    server = uvicorn.Server(uvicorn.Config(
        create_app(gateway), http="httptools", lifespan="on", access_log=False, log_level="warning",
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
