"""The client of the SLO service's maintenance API (``/api/v1/maintenance``): the CLI and game days open,
list and end maintenance windows through it, over HTTP (chaos and the CLI do not run the service).

``MaintenanceUnavailable``: nothing usable answered (no listener, a timeout, not the API's JSON).
``MaintenanceRefused``: the service answered no (bad window, unknown SLO or ID, Alertmanager down
behind it); ``status`` and the service's one-sentence ``error`` say which.
"""

from __future__ import annotations

from typing import Any

import httpx

from foundation.http import HttpClient

PATH = "/api/v1/maintenance"
TIMEOUT_S = 10.0


class MaintenanceAPIError(RuntimeError):
    status: int | None = None


class MaintenanceUnavailable(MaintenanceAPIError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"SLO service at {url}: {reason}")


class MaintenanceRefused(MaintenanceAPIError):
    def __init__(self, url: str, status: int, error: str) -> None:
        self.url = url
        self.status = status
        self.error = error
        super().__init__(f"SLO service at {url} refused (HTTP {status}): {error}")


class MaintenanceClient(HttpClient):
    def __init__(self, url: str, timeout: float = TIMEOUT_S, client: httpx.Client | None = None) -> None:
        super().__init__(url, timeout, client)

    def _unavailable(self, reason: str) -> Exception:
        return MaintenanceUnavailable(self.url, reason)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self._send(method, path, json=body)
        try:
            data = r.json()
        except ValueError:
            raise MaintenanceUnavailable(self.url, f"HTTP {r.status_code} for {path} is not JSON") from None
        if r.status_code >= 400:
            error = data.get("error") if isinstance(data, dict) else None
            raise MaintenanceRefused(self.url, r.status_code, str(error or data))
        return data

    def open(self, reason: str, *, slo: str | None = None, engine: str | None = None, start: str | None = None,
             end: str | None = None, duration: str | None = None) -> dict[str, Any]:
        """Open a window (``start``/``end`` RFC 3339, ``duration`` like 30m); the service's window."""
        body = {k: v for k, v in {"slo": slo, "engine": engine, "start": start, "end": end, "duration": duration,
                                  "reason": reason}.items() if v is not None}
        window: dict[str, Any] = self._call("POST", PATH, body)
        return window

    def windows(self) -> list[dict[str, Any]]:
        data = self._call("GET", PATH)
        return list(data.get("windows", [])) if isinstance(data, dict) else []

    def end(self, window_id: str) -> dict[str, Any]:
        window: dict[str, Any] = self._call("DELETE", f"{PATH}/{window_id}")
        return window
