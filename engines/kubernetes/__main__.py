"""``python -m engines.kubernetes --namespace NS [--metrics-port 9100] [--state-dir DIR]``.

Runs in a cluster (a Deployment for the metrics, a gateway sidecar for the topology file); outside
one, ``--kubeconfig`` points it at a cluster. Bad arguments exit 2 naming the flag and the reason.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from foundation import kubernetes as k8s
from foundation.process import bind_host

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _default_namespace() -> str | None:
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engines.kubernetes", description=__doc__.splitlines()[0])
    p.add_argument("--namespace", default=None,
                   help="namespace of the engine StatefulSets (default: POD_NAMESPACE, else the pod's own)")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve the engine-state metrics (job orchestrator) on this port")
    p.add_argument("--state-dir", type=Path, default=None, help="keep the gateway's topology.json in this directory")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="outside a cluster: the kubeconfig to use (default: ~/.kube/config)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = p.parse_args(argv)
    args.namespace = args.namespace or _default_namespace()
    if not args.namespace:
        p.error("--namespace: not given, and neither POD_NAMESPACE nor the service account's namespace is set")
    if not k8s.is_dns_label(args.namespace):
        p.error(f"--namespace: {args.namespace!r} is not a valid Kubernetes name (RFC 1123 label)")
    if args.metrics_port is None and args.state_dir is None:
        p.error("nothing to do: give --metrics-port, --state-dir or both")
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        p.error(f"--metrics-port: {args.metrics_port} is not a TCP port (1-65535)")
    if args.kubeconfig is not None and not args.kubeconfig.is_file():
        p.error(f"--kubeconfig: {args.kubeconfig}: no such file")
    try:
        bind_host()
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Imported here: `--help` and argument errors must not pay for the client's import.
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException
    from prometheus_client import start_http_server

    from engines.kubernetes.serve import wire

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and args.kubeconfig is None:
            config.load_incluster_config()
        else:
            config.load_kube_config(config_file=str(args.kubeconfig) if args.kubeconfig else None)
    except (ConfigException, OSError) as e:
        print(f"error: no Kubernetes API to talk to: {e}", file=sys.stderr)
        return 2
    served = wire(client.CoreV1Api(), client.AppsV1Api(), args.namespace,
                  metrics=args.metrics_port is not None, state_dir=args.state_dir)
    if served.exporter is not None:
        start_http_server(args.metrics_port, addr=bind_host(), registry=served.exporter.registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    served.state.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
