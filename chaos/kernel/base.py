"""What every kernel mechanism shares: the project's name and the two ways a mechanism can say no.

Every cgroup lives under a group of this name and every netfilter rule in a chain of this name, so
that `enginewatch chaos cleanup` can find what a crashed run left behind without any record of it.
"""

from __future__ import annotations

PROJECT = "enginewatch"


class KernelError(RuntimeError):
    """The mechanism exists but refused or failed this time (a write rejected, a rule not taken)."""


class KernelUnavailable(KernelError):
    """The machine cannot do this at all: not root, no such controller, no such binary or match.

    A step that meets this is reported as not injected with the reason, never as a silent pass.
    """
