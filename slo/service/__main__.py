"""``python -m slo.service --port 0 --port-file PATH --prometheus URL``: serve the SLO service.

The socket is bound before uvicorn starts (port 0 picks a free one, so ports never collide) and the
port file is written atomically once the server accepts requests: whoever waits for the file can
connect at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvicorn

from foundation.logs import setup_logging
from foundation.process import bind_socket, write_atomic
from slo.errors import SpecError
from slo.service.app import ServiceConfig, create_app, load_slos
from slo.windows import PROFILES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m slo.service", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one).")
    p.add_argument("--port-file", type=Path, help="Write the port here once listening.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--prometheus", metavar="URL", help="Prometheus base URL.")
    where.add_argument("--prometheus-file", metavar="PATH", type=Path,
                       help="File holding the Prometheus base URL, re-read at every request (for a Prometheus "
                            "that restarts on another port).")
    p.add_argument("--specs", metavar="PATH", type=Path, action="append", default=[],
                   help="Spec file or directory (repeatable; default: the platform SLOs).")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   help="Evaluate every SLO under this window profile (default: the profile named by the rules "
                        "in Prometheus, slo:info, else each SLO's own).")
    p.add_argument("--alertmanager", metavar="URL",
                   help="Alertmanager base URL: maintenance windows create and expire their silences there.")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return p.parse_args(argv)


async def serve(config: uvicorn.Config, port_file: Path | None, port: int) -> None:
    sock = bind_socket(port)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started and port_file is not None:
        write_atomic(port_file, str(sock.getsockname()[1]))
    await task


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = ServiceConfig(prometheus=args.prometheus, prometheus_file=args.prometheus_file, specs=args.specs,
                           profile=args.profile, alertmanager=args.alertmanager)
    try:
        slos = load_slos(config)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file", file=sys.stderr)
        return 2
    app = create_app(config, slos)
    setup_logging("slo-service", args.log_level)
    uv = uvicorn.Config(app, log_level=args.log_level, access_log=False, timeout_graceful_shutdown=5,
                        log_config=None)  # uvicorn's lines go through our JSON handler (foundation.logs)
    asyncio.run(serve(uv, args.port_file, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
