"""``python -m engines.gateway --topology FILE --port 0 --port-file PATH --admin-token-file PATH``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvloop

from engines.gateway.gateway import BreakerConfig, GatewayConfig
from engines.gateway.health import HealthConfig
from engines.gateway.outlier import OutlierConfig
from engines.gateway.retry import RetryPolicy
from engines.gateway.server import serve
from exporters.tracing import setup_tracing, shutdown_tracing
from foundation.logs import setup_logging


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engines.gateway", description=__doc__)
    p.add_argument("--topology", type=Path, required=True, help="topology JSON the orchestrator writes")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--port-file", type=Path, help="written atomically with the port once listening")
    p.add_argument("--admin-token-file", type=Path, required=True,
                   help="file holding the bearer token of the admin API")
    p.add_argument("--node-token-file", type=Path, default=None,
                   help="file holding the bearer token of the nodes' admin API (to kill queries on them)")
    p.add_argument("--deadline", type=float, default=30.0,
                   help="default and maximum per-query deadline in seconds, retries included")
    p.add_argument("--health-interval", type=float, default=0.2, help="seconds between /readyz checks")
    p.add_argument("--health-timeout", type=float, default=0.25, help="timeout of one /readyz check")
    p.add_argument("--health-fall", type=int, default=2,
                   help="consecutive unanswered checks that eject a node (refused ejects at once)")
    p.add_argument("--latency-ejection-ratio", type=float, default=OutlierConfig.ratio,
                   help="eject a node whose health checks take this many times its cluster peers' median")
    p.add_argument("--latency-ejection-floor", type=float, default=OutlierConfig.floor_s,
                   help="... and more than this many seconds (EWMA of the checks)")
    p.add_argument("--latency-ejection-samples", type=int, default=OutlierConfig.samples,
                   help="consecutive slow checks before the ejection")
    p.add_argument("--latency-ejection-time", type=float, default=OutlierConfig.base_ejection_s,
                   help="seconds of the first latency ejection; doubles while the node stays slow")
    p.add_argument("--latency-ejection-max-share", type=float, default=OutlierConfig.max_ejected_share,
                   help="never eject for latency more than this share of a cluster's nodes")
    p.add_argument("--no-latency-ejection", dest="latency_ejection", action="store_false",
                   help="time the health checks, but eject no node for its latency")
    p.add_argument("--max-attempts", type=int, default=4, help="attempts per query, the first included")
    p.add_argument("--breaker-failures", type=int, default=5,
                   help="consecutive failed attempts that open a node's circuit breaker")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.deadline <= 0 or args.health_interval <= 0 or args.health_timeout <= 0:
        p.error("--deadline, --health-interval and --health-timeout must be positive")
    if args.max_attempts < 1 or args.health_fall < 1 or args.breaker_failures < 1:
        p.error("--max-attempts, --health-fall and --breaker-failures must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging("gateway", args.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health check otherwise
    token = args.admin_token_file.read_text().strip()
    if not token:
        raise SystemExit(f"{args.admin_token_file} is empty: the admin API needs a token")
    node_token = None
    if args.node_token_file is not None:
        node_token = args.node_token_file.read_text().strip() or None
    try:
        outliers = OutlierConfig(enabled=args.latency_ejection, ratio=args.latency_ejection_ratio,
                                 floor_s=args.latency_ejection_floor, samples=args.latency_ejection_samples,
                                 base_ejection_s=args.latency_ejection_time,
                                 max_ejection_s=max(OutlierConfig.max_ejection_s, args.latency_ejection_time),
                                 max_ejected_share=args.latency_ejection_max_share)
    except ValueError as e:
        raise SystemExit(f"latency ejection: {e}") from None
    config = GatewayConfig(
        topology_path=args.topology, admin_token=token, deadline_s=args.deadline, node_admin_token=node_token,
        health=HealthConfig(interval_s=args.health_interval, timeout_s=args.health_timeout,
                            fall=args.health_fall),
        outliers=outliers,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        breaker=BreakerConfig(failure_threshold=args.breaker_failures),
    )
    setup_tracing("enginewatch-gateway")
    try:
        uvloop.run(serve(config, args.port, args.port_file))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
