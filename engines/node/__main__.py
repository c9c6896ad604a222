"""``python -m engines.node``: one engine node, i.e. one pod (arguments as in docs/architecture.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engines.node.config import NODE_TYPES, NodeConfig, NodeIdentity
from engines.node.server import run
from engines.storage import default_storage_path
from foundation.logs import setup_logging


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> NodeConfig:
    parser = argparse.ArgumentParser(prog="python -m engines.node", description=__doc__)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--pod", required=True)
    parser.add_argument("--version", default="v1")
    parser.add_argument("--type", dest="node_type", choices=list(NODE_TYPES), default="S")
    parser.add_argument("--storage", type=Path, default=None,
                        help="object storage directory (generated when missing; default: ENGINEWATCH_STORAGE "
                             "or ~/.cache/enginewatch/storage-v1)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port on 127.0.0.1")
    parser.add_argument("--port-file", type=Path, default=None,
                        help="written atomically with the port once the node serves queries")
    parser.add_argument("--grace", type=_positive, default=30.0, help="drain grace period after SIGTERM, seconds")
    parser.add_argument("--query-timeout", type=_positive, default=30.0,
                        help="per-query timeout (queue + execution), seconds; also the cap of timeout_s")
    parser.add_argument("--admin-token-file", type=Path, default=None,
                        help="bearer token of the admin API (runtime fault knobs); without it the API is off")
    parser.add_argument("--history-dir", type=Path, default=None,
                        help="directory of the query history (Parquet segments, kept across restarts); "
                             "default: in memory only")
    parser.add_argument("--storage-latency-ms", type=float, default=0.0,
                        help="first-byte latency of each object-storage read (a remote or cold object store); "
                             "default 0: the local disk")
    parser.add_argument("--no-drain", dest="drain", action="store_false",
                        help="SIGTERM kills at once (a node with graceful shutdown broken, for chaos tests)")
    args = parser.parse_args(argv)
    if not 0 <= args.storage_latency_ms <= 60_000:
        parser.error(f"--storage-latency-ms must be within [0, 60000], got {args.storage_latency_ms:g}")
    token = None
    if args.admin_token_file is not None:
        try:
            token = args.admin_token_file.read_text().strip()
        except OSError as e:
            parser.error(f"--admin-token-file {args.admin_token_file}: {e.strerror}")
        if not token:
            parser.error(f"--admin-token-file {args.admin_token_file} is empty")
    return NodeConfig(
        identity=NodeIdentity(args.engine, args.cluster, args.node, args.pod, args.version),
        node_type=NODE_TYPES[args.node_type], storage=args.storage or default_storage_path(),
        port=args.port, port_file=args.port_file, grace_s=args.grace, query_timeout_s=args.query_timeout,
        drain=args.drain, admin_token=token, history_dir=args.history_dir,
        storage_latency_s=args.storage_latency_ms / 1000,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    setup_logging("engine-node", **config.identity.as_fields())
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
