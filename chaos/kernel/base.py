"""What every kernel mechanism shares: the project's name and the two ways a mechanism can say no.

Every cgroup lives under a group of this name and every netfilter rule in a chain of this name, each
naming its owner (the PID of the run that made it), so that `enginewatch chaos cleanup` can find what a
crashed run left behind without any record of it, and leave alone what a live run still uses.
"""

from __future__ import annotations

import psutil

PROJECT = "enginewatch"


def owner_alive(owner: int | None) -> bool:
    """Is the process that made a group or rule (its owner, named in it) still running?

    Cleanup removes only what a dead run left, so that it never pulls a fault from under a live one.
    """
    if owner is None:
        return False
    try:
        return psutil.Process(owner).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class KernelError(RuntimeError):
    """The mechanism exists but refused or failed this time (a write rejected, a rule not taken)."""


class KernelUnavailable(KernelError):
    """The machine cannot do this at all: not root, no such controller, no such binary or match.

    A step that meets this is reported as not injected with the reason, never as a silent pass.
    """
