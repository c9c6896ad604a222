"""The orchestrator's calls to the gateway admin API: switch active clusters, stop routing to a pod.

These make a change take effect at once; the topology file carries the same change within the
gateway's poll interval anyway, so a gateway that does not answer is reported, not fatal.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from exporters.tracing import inject_headers


class GatewayError(RuntimeError):
    pass


class GatewayLink:
    """No URL configured means no gateway: the topology file is then the only channel."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 2.0) -> None:
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.timeout_s = timeout_s

    @property
    def configured(self) -> bool:
        return self.url is not None

    def switch_active_clusters(self, engine: str, clusters: Sequence[str]) -> None:
        self._post(f"/admin/engines/{engine}/active-clusters", {"clusters": list(clusters)})

    def drain_pod(self, pod: str) -> None:
        self._post(f"/admin/pods/{pod}/drain", {})

    def _post(self, path: str, body: dict[str, object]) -> None:
        if self.url is None:
            return
        headers = inject_headers({"Authorization": f"Bearer {self.token or ''}"})
        try:
            response = httpx.post(self.url + path, json=body, headers=dict(headers), timeout=self.timeout_s)
        except httpx.HTTPError as e:
            raise GatewayError(f"POST {self.url}{path}: {e!r}") from e
        if response.status_code >= 300:
            raise GatewayError(f"POST {self.url}{path}: {response.status_code} {response.text[:200]}")
