"""Alertmanager for the local stack: the Debian binary as our child process, one instance, no gossip.

The real routing lives in alerts/alertmanager.yml (owned by the on-call kit); ``render_config`` gives a
minimal configuration for when that file is not there, or for tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from enginewatch.binary_server import BinaryServer, ServerError
from foundation.alertmanager import AlertmanagerClient
from foundation.process import LOOPBACK
from foundation.promtool import ToolMissing
from foundation.promtool import find as _find


def render_config(webhook_url: str | None = None, *, group_by: Sequence[str] = ("alertname", "engine"),
                  group_wait: str = "1s", group_interval: str = "5s", repeat_interval: str = "1h") -> str:
    """alertmanager.yml routing every alert to one receiver: a webhook when given, else none.

    Short waits by default: on the local stack an alert should reach the receiver within seconds of
    firing, so chaos experiments and tests can observe it.
    """
    receiver: dict[str, Any] = {"name": "default"}
    if webhook_url:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    config = {
        "route": {"receiver": "default", "group_by": list(group_by), "group_wait": group_wait,
                  "group_interval": group_interval, "repeat_interval": repeat_interval},
        "receivers": [receiver],
    }
    return str(yaml.safe_dump(config, sort_keys=False))


class WebhookSink:
    """The local stack's notification receivers: one loopback HTTP server that accepts every webhook.

    Without it the stack's receivers would be the committed placeholders, so every notification —
    the Watchdog's every few seconds — would fail and AlertmanagerNotificationsFailing would fire in
    steady state. It keeps the last ``keep`` notifications per path (/page, /ticket, /watchdog).
    """

    def __init__(self, keep: int = 200) -> None:
        self.keep = keep
        self.received: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 4 << 20))
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with sink._lock:
                    kept = sink.received.setdefault(self.path, [])
                    kept.append(payload)
                    del kept[:-sink.keep]
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def notifications(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received.get(path, []))


class AlertmanagerServer(BinaryServer):
    """/usr/bin/prometheus-alertmanager on loopback with ``config_file``, started and stopped by PID.

    ``data_dir`` receives the silences/notification log and alertmanager.log.
    """

    name = "alertmanager"

    def __init__(self, config_file: Path, data_dir: Path, *, retention: str = "120h",
                 binary: Path | None = None, extra_args: Sequence[str] = ()) -> None:
        self.data_dir = Path(data_dir)
        super().__init__(binary or locate("prometheus-alertmanager"), self.data_dir / "alertmanager.log")
        self.config_file = Path(config_file)
        self.retention = retention
        self.extra_args = list(extra_args)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_file.resolve()}",
            f"--storage.path={self.data_dir.resolve()}",
            f"--data.retention={self.retention}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            f"--web.external-url={self.url}/",
            # Empty: no HA gossip, so nothing listens beyond the web port and nothing leaves loopback.
            "--cluster.listen-address=",
            *self.extra_args,
        ]

    def reload(self, timeout: float = 10.0) -> None:
        """Re-read ``config_file``; raises ServerError if Alertmanager rejects it (it keeps the old one)."""
        try:
            r = httpx.post(f"{self.url}/-/reload", timeout=timeout)
        except httpx.HTTPError as e:
            raise ServerError(f"alertmanager at {self.url} did not answer the reload: {e}") from None
        if r.status_code != 200:
            raise ServerError(f"alertmanager rejected the configuration: {r.text.strip()}")

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        """GET /api/v2/status: version, uptime, the loaded configuration and cluster status."""
        with AlertmanagerClient(self.url, timeout=timeout) as api:
            return api.status()


def locate(name: str) -> Path:
    """The binary's path; a missing one is left for the server's start to report as not found."""
    try:
        return _find(name)
    except ToolMissing:
        return Path("/usr/bin") / name
