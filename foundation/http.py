"""What every HTTP API client of the project shares: one ``httpx.Client`` (its own, unless the caller
shares one), closed with the client, and one way a transport failure (nothing listening, a timeout)
becomes the client's own "unavailable" exception, whose message names the server.

Each client keeps its own exceptions and its reading of answers: the APIs differ in how they say no.
"""

from __future__ import annotations

from typing import Any, Self

import httpx


class HttpClient:
    def __init__(self, url: str, timeout: float, client: httpx.Client | None = None, *,
                 trust_env: bool = True) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # trust_env=False for loopback services: a proxy from the environment must not carry them.
        self._client = client or httpx.Client(timeout=timeout, trust_env=trust_env)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unavailable(self, reason: str) -> Exception:
        """The client's own exception for ``reason`` (no answer within ..., cannot connect ...)."""
        raise NotImplementedError

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kw: Any) -> httpx.Response:
        """The response, whatever its status; a transport failure raises ``_unavailable``."""
        seconds = self.timeout if timeout is None else timeout
        try:
            return self._client.request(method, f"{self.url}{path}", timeout=seconds, **kw)
        except httpx.TimeoutException:
            raise self._unavailable(f"no answer within {seconds:g}s") from None
        except httpx.HTTPError as e:
            raise self._unavailable(f"cannot connect ({e})") from None
