"""Backends: where chaos actions land. ``local`` (the embedded orchestrator) is the default."""

from chaos.backends.http import HttpBackend
from chaos.backends.local import LocalBackend

__all__ = ["HttpBackend", "LocalBackend"]
