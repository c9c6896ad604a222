"""Engines that run as Kubernetes pods: the engine-state source that reads their StatefulSets and pods
(list and watch, with the official client) and offers what the local orchestrator offers its readers.
``python -m engines.kubernetes`` serves it in a cluster: the engine-state metrics and the gateway's
topology file. See docs/kubernetes.md."""

from engines.kubernetes.pods import EnginePod, incarnation, read_pod
from engines.kubernetes.snapshot import ClusterSet, engine_snapshots, read_statefulset
from engines.kubernetes.state import Hooks, KubernetesState

__all__ = ["ClusterSet", "EnginePod", "Hooks", "KubernetesState", "engine_snapshots", "incarnation", "read_pod",
           "read_statefulset"]
