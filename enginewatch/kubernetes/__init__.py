"""Kubernetes deployment of enginewatch: rendered manifests (kustomize base and overlays), the
kubernetes_sd scrape configuration, and the relabel rules that give every series its local labels.
See docs/kubernetes.md."""

from enginewatch.kubernetes.kustomize import DEFAULT_OUT, files, stale, write
from enginewatch.kubernetes.manifests import Options, RenderError, render
from enginewatch.kubernetes.scrape import Relabel, relabel_configs, render_config, topology_relabelings

__all__ = ["DEFAULT_OUT", "Options", "Relabel", "RenderError", "files", "relabel_configs", "render",
           "render_config", "stale", "topology_relabelings", "write"]
