"""Backends: where chaos actions land. ``local`` (the embedded orchestrator) is the default;
``KubernetesBackend`` drives engine pods through the API server (imported on first use: the client is
only needed by those who run chaos on Kubernetes)."""

from typing import Any

from chaos.backends.http import HttpBackend
from chaos.backends.local import LocalBackend

__all__ = ["HttpBackend", "KubernetesBackend", "LocalBackend"]


def __getattr__(name: str) -> Any:
    if name == "KubernetesBackend":
        from chaos.backends.kubernetes import KubernetesBackend

        return KubernetesBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
