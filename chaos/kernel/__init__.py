"""Kernel mechanisms behind the local backend's gray faults, one per module: cgroups (CPU quota,
memory limit, v1 and v2), netfilter (drop, reject, random loss on one port), stress-ng (a bounded
noisy neighbour).

None of them knows about experiments or pods. Whatever the machine cannot do (not root, no such
controller, binary or match) raises KernelUnavailable with the reason.
"""

from chaos.kernel.base import PROJECT, KernelError, KernelUnavailable

__all__ = ["PROJECT", "KernelError", "KernelUnavailable"]
