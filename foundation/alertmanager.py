"""The one client of Alertmanager's v2 API: active alerts, status, and silences (create, list, expire).

Every failure — nothing answered, an HTTP error, a body that is not the API's — is one exception,
``AlertmanagerUnavailable``, whose message names the Alertmanager and the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from foundation.http import HttpClient


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


@dataclass(frozen=True)
class SilenceMatcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[SilenceMatcher, ...]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    state: str  # "active", "pending" (starts later) or "expired"


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertmanagerClient(HttpClient):
    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        super().__init__(url, timeout, client)

    def _unavailable(self, reason: str) -> Exception:
        return AlertmanagerUnavailable(self.url, reason)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def _call(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None,
              expect_json: bool = True) -> Any:
        r = self._send(method, path, params=params, json=body)
        if r.status_code != 200:
            raise AlertmanagerUnavailable(self.url, f"HTTP {r.status_code} for {path}: {r.text[:200]}", r.status_code)
        if not expect_json:
            return None
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

    def create_silence(self, matchers: Sequence[SilenceMatcher], starts_at: float, ends_at: float,
                       created_by: str, comment: str) -> str:
        """A silence over ``[starts_at, ends_at]`` (unix seconds); its ID."""
        body = {"matchers": [m.to_api() for m in matchers], "startsAt": _rfc3339(starts_at),
                "endsAt": _rfc3339(ends_at), "createdBy": created_by, "comment": comment}
        data = self._call("POST", "/api/v2/silences", body=body)
        try:
            return str(data["silenceID"])
        except (KeyError, TypeError) as e:
            raise AlertmanagerUnavailable(self.url, f"unexpected /api/v2/silences answer ({e})") from None

    def silences(self) -> list[Silence]:
        """Every silence Alertmanager holds, expired ones included (until its retention drops them)."""
        data = self._get("/api/v2/silences")
        try:
            return [Silence(s["id"], tuple(SilenceMatcher(m["name"], m["value"], bool(m.get("isRegex")),
                                                          bool(m.get("isEqual", True))) for m in s["matchers"]),
                            s["startsAt"], s["endsAt"], s.get("createdBy", ""), s.get("comment", ""),
                            s.get("status", {}).get("state", ""))
                    for s in data]
        except (KeyError, TypeError) as e:
            raise AlertmanagerUnavailable(self.url, f"unexpected /api/v2/silences answer ({e})") from None

    def silence(self, silence_id: str) -> Silence | None:
        return next((s for s in self.silences() if s.id == silence_id), None)

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now (Alertmanager keeps it, expired)."""
        self._call("DELETE", f"/api/v2/silence/{silence_id}", expect_json=False)
