"""The one client of Alertmanager's v2 API: active alerts and status (silences come with maintenance windows).

Every failure — nothing answered, an HTTP error, a body that is not the API's — is one exception,
``AlertmanagerUnavailable``, whose message names the Alertmanager and the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class AlertmanagerUnavailable(RuntimeError):
    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(f"Alertmanager at {url}: {message}")


@dataclass(frozen=True)
class ActiveAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    state: str  # "active", "suppressed" (silenced or inhibited) or "unprocessed"
    receivers: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class AlertmanagerClient:
    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AlertmanagerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            r = self._client.get(f"{self.url}{path}", params=params)
        except httpx.TimeoutException:
            raise AlertmanagerUnavailable(self.url, f"no answer within {self.timeout:g}s") from None
        except httpx.HTTPError as e:
            raise AlertmanagerUnavailable(self.url, f"cannot connect ({e})") from None
        if r.status_code != 200:
            raise AlertmanagerUnavailable(self.url, f"HTTP {r.status_code} for {path}: {r.text[:200]}", r.status_code)
        try:
            return r.json()
        except ValueError:
            raise AlertmanagerUnavailable(self.url, f"{path} did not answer JSON") from None

    def alerts(self, active: bool = True) -> list[ActiveAlert]:
        """Alerts Alertmanager holds (``active``: not silenced and not inhibited only)."""
        data = self._get("/api/v2/alerts", {"active": "true"} if active else None)
        try:
            return [ActiveAlert(labels=a["labels"], annotations=a.get("annotations", {}),
                                starts_at=a.get("startsAt", ""), state=a.get("status", {}).get("state", ""),
                                receivers=tuple(r["name"] for r in a.get("receivers", [])))
                    for a in data]
        except (KeyError, TypeError) as e:
            raise AlertmanagerUnavailable(self.url, f"unexpected /api/v2/alerts answer ({e})") from None

    def status(self) -> dict[str, Any]:
        """Version, uptime, the loaded configuration and cluster status."""
        result: dict[str, Any] = self._get("/api/v2/status")
        return result
