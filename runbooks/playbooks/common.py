"""Mitigations that several playbooks share, worded once."""

from __future__ import annotations

from runbooks.playbooks.model import Mitigation

RESTART_POD = Mitigation("enginewatch engine restart-pod {pod}",
                         "end the pod's process gracefully and start it again (a hung or wedged node)")
DRAIN_NODE = Mitigation("enginewatch engine drain-node {pod}",
                        "stop routing to the pod, let its queries finish, and replace it with a fresh pod")
FAILOVER = Mitigation("enginewatch engine failover {engine} --to {healthy_clusters}",
                      "route the engine's queries only to its clusters whose nodes are all ready")
SCALE_OUT = Mitigation("enginewatch engine scale {engine} --clusters {clusters_plus_one}",
                       "add a cluster: more query slots and another failure domain")
SCALE_UP = Mitigation("enginewatch engine scale {engine} --nodes {nodes_plus_one}",
                      "add a node to every cluster: more slots and memory per cluster")
KILL_QUERY = Mitigation("enginewatch queries kill {query_id}",
                        "cancel the query on its node (DuckDB is interrupted; the client gets a canceled error "
                        "that says not to retry, and the history records it as canceled)")
LIST_RUNNING = Mitigation("enginewatch queries --engine {engine} --running",
                          "see every live query of the engine first, to kill the right one")
ROLLBACK = Mitigation("enginewatch engine rollback-upgrade {engine} --to-version {previous_version}",
                      "if it began with an upgrade: go back, blue-green, to the version that ran before")
