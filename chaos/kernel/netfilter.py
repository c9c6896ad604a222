"""Netfilter rules in the project's own chain: drop or reject TCP to and from one loopback port.

Layout: one chain, ``ENGINEWATCH``, holds every rule of the project; the built-in OUTPUT chain jumps to
it only for packets of a faulted port (one jump for packets to the port, one for packets from it). On
loopback every packet is locally generated, so OUTPUT sees each direction of a connection exactly once;
hooking INPUT as well would apply a loss probability twice.

- drop: both directions dropped: connects time out, established connections stall (a partition).
- reject: packets to the port answered with a TCP reset (connection refused); packets from it dropped,
  the resets excepted.
- probability P: each packet of either direction dropped with probability P (``-m statistic``): loss
  that TCP hides behind retransmissions, i.e. latency.

``iptables`` is Debian's (nf_tables backend); the binary is looked up when used, so a machine without
it, without root or without the statistic match says so as KernelUnavailable.
"""

from __future__ import annotations

import errno
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.kernel.base import PROJECT, KernelError, KernelUnavailable

BINARY = "iptables"
CHAIN = PROJECT.upper()
HOOK = "OUTPUT"
#: Built-in chains a crashed run (or an older layout) may have left a jump to our chain in.
BUILTIN_CHAINS = ("OUTPUT", "INPUT", "FORWARD")
LOOPBACK = "127.0.0.1"
#: -w: wait this long for the xtables lock another iptables holds instead of failing at once.
LOCK_WAIT_S = 5
COMMAND_TIMEOUT_S = 15.0

# Rules of one port are added and removed as a unit; threads of one run must not interleave them.
_LOCK = threading.Lock()


_OWNER = re.compile(r"\bowner=(\d+)\b")


def owner_of(rule: str) -> int | None:
    """The PID of the run that made a rule, from its comment (``iptables -S`` line)."""
    match = _OWNER.search(rule)
    return int(match[1]) if match else None


@dataclass(frozen=True)
class PortRule:
    port: int
    reject: bool = False
    probability: float | None = None
    label: str = ""  # whose fault it is, in the rules' comment
    owner: int = field(default_factory=os.getpid)  # the run that made it, in the comment too

    @property
    def _comment(self) -> list[str]:
        return ["-m", "comment", "--comment", " ".join(filter(None, (PROJECT, self.label, f"owner={self.owner}")))]

    def chain_rules(self) -> list[list[str]]:
        statistic = ([] if self.probability is None else
                     ["-m", "statistic", "--mode", "random", "--probability", f"{self.probability:.6f}"])
        comment = self._comment
        to_port = ["-p", "tcp", "-d", LOOPBACK, "--dport", str(self.port), *statistic, *comment]
        from_port = ["-p", "tcp", "-s", LOOPBACK, "--sport", str(self.port), *statistic, *comment]
        if self.reject:
            # The resets REJECT sends come from the port too: the rule for its packets must let them by.
            return [to_port + ["-j", "REJECT", "--reject-with", "tcp-reset"],
                    from_port + ["!", "--tcp-flags", "RST", "RST", "-j", "DROP"]]
        return [to_port + ["-j", "DROP"], from_port + ["-j", "DROP"]]

    def jump_rules(self) -> list[list[str]]:
        return [["-p", "tcp", "-d", LOOPBACK, "--dport", str(self.port), *self._comment, "-j", CHAIN],
                ["-p", "tcp", "-s", LOOPBACK, "--sport", str(self.port), *self._comment, "-j", CHAIN]]

    def describe(self) -> str:
        what = "reject" if self.reject else "drop"
        if self.probability is not None:
            what = f"drop {self.probability:.0%} of packets"
        return f"{what} tcp {LOOPBACK}:{self.port} (chain {CHAIN}, jumped to from {HOOK})"


def _error(args: tuple[str, ...], stderr: str, returncode: int, binary: str) -> KernelError:
    message = " ".join(stderr.split()) or f"exit status {returncode}, no message"
    # Without root, iptables-nft may exit without a word (status 111): the euid says why.
    if "Permission denied" in stderr or "must be root" in stderr or (os.geteuid() != 0 and not stderr.strip()):
        return KernelUnavailable(f"{binary}: not permitted ({message}): netfilter rules need root")
    if "statistic" in stderr and ("load match" in stderr or "No such file" in stderr or "Extension" in stderr):
        return KernelUnavailable(f"the netfilter statistic match is missing: {message}")
    if "load match" in stderr or "load target" in stderr or "Protocol not supported" in stderr \
            or ("does not exist" in stderr and "Table" in stderr):
        return KernelUnavailable(f"the kernel lacks netfilter support for this rule: {message}")
    return KernelError(f"{binary} {shlex.join(args)}: {message}")


class Netfilter:
    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or BINARY

    def _path(self) -> str:
        # Debian puts iptables in /usr/sbin, which a user's PATH often lacks.
        path = shutil.which(self.binary, path=f"{os.environ.get('PATH', os.defpath)}:/usr/sbin:/sbin")
        if path is None:
            raise KernelUnavailable(f"{self.binary} not found (install Debian's iptables: make debs)")
        return path

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self._path(), "-w", str(LOCK_WAIT_S), *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.ENOEXEC, errno.ENOENT):
                raise KernelUnavailable(f"cannot run {argv[0]}: {e.strerror}") from None
            raise KernelError(f"cannot run {argv[0]}: {e.strerror}") from None
        if check and done.returncode != 0:
            raise _error(args, done.stderr, done.returncode, self.binary)
        return done

    # --- the chain ----------------------------------------------------------------------------------------

    def chain_exists(self) -> bool:
        return self._run("-S", CHAIN, check=False).returncode == 0

    def rules(self) -> list[str]:
        """The chain's rules as ``iptables -S`` prints them (empty when there is no chain)."""
        done = self._run("-S", CHAIN, check=False)
        return [] if done.returncode else [ln for ln in done.stdout.splitlines() if ln.startswith("-A ")]

    def listing(self) -> str:
        """``iptables -L ENGINEWATCH -n -v -x``: the rules with their packet counters."""
        return self._run("-L", CHAIN, "-n", "-v", "-x").stdout

    def _ensure_chain(self) -> None:
        if not self.chain_exists():
            self._run("-N", CHAIN)

    # --- one port -----------------------------------------------------------------------------------------

    def add(self, rule: PortRule) -> None:
        """Install the port's rules, then the jumps to them; on any failure nothing of it stays."""
        with _LOCK:
            self._ensure_chain()
            faulted = f"--dport {rule.port} "
            if any(faulted in line + " " for line in self.rules()):
                raise KernelError(f"port {rule.port} already has a rule in chain {CHAIN}: one network fault "
                                  "per port at a time")
            added: list[tuple[str, list[str]]] = []
            try:
                for spec in rule.chain_rules():
                    self._run("-A", CHAIN, *spec)
                    added.append((CHAIN, spec))
                for spec in rule.jump_rules():
                    self._run("-A", HOOK, *spec)
                    added.append((HOOK, spec))
            except KernelError:
                for chain, spec in reversed(added):
                    self._run("-D", chain, *spec, check=False)
                raise

    def present(self, rule: PortRule) -> bool:
        checks = [(CHAIN, s) for s in rule.chain_rules()] + [(HOOK, s) for s in rule.jump_rules()]
        return all(self._run("-C", chain, *spec, check=False).returncode == 0 for chain, spec in checks)

    def delete(self, rule: PortRule) -> list[str]:
        """Remove the port's jumps, then its rules, then the chain once nothing uses it."""
        removed = []
        with _LOCK:
            for chain, spec in [(HOOK, s) for s in rule.jump_rules()] + [(CHAIN, s) for s in rule.chain_rules()]:
                while self._run("-C", chain, *spec, check=False).returncode == 0:
                    self._run("-D", chain, *spec)
                    removed.append(f"{chain}: {shlex.join(spec)}")
            self._drop_chain_if_unused()
        return removed

    def packets(self, rule: PortRule) -> int:
        """Packets the port's rules matched (dropped or rejected) so far."""
        total = 0
        marks = (f"dpt:{rule.port}", f"spt:{rule.port}")
        for line in self.listing().splitlines():
            fields = line.split()
            if fields and fields[0].isdigit() and any(m in fields for m in marks):
                total += int(fields[0])
        return total

    def _drop_chain_if_unused(self) -> None:
        if self.chain_exists() and not self.rules() and not self._jumps():
            self._run("-X", CHAIN, check=False)

    def _jumps(self) -> list[tuple[str, list[str], str]]:
        """(chain, spec, the line as iptables -S prints it) of every jump to our chain."""
        jumps = []
        for hook in BUILTIN_CHAINS:
            done = self._run("-S", hook, check=False)
            for line in done.stdout.splitlines():
                parts = shlex.split(line)
                if parts[:2] == ["-A", hook] and parts[-2:] == ["-j", CHAIN]:
                    jumps.append((hook, parts[2:], line))
        return jumps

    # --- after a crash --------------------------------------------------------------------------------------

    def cleanup(self, remove: Callable[[int | None], bool]) -> tuple[list[str], list[str]]:
        """Remove the jumps and rules whose owner ``remove`` says to, then the chain once nothing is left
        in or of it; (what was removed, what was kept)."""
        removed, kept = [], []
        with _LOCK:
            rules = [(CHAIN, shlex.split(line)[2:], line) for line in self.rules()]
            for chain, spec, line in self._jumps() + rules:
                text = f"rule {line.removeprefix('-A ')}"
                if remove(owner_of(line)):
                    self._run("-D", chain, *spec)
                    removed.append(text)
                else:
                    kept.append(text)
            if self.chain_exists() and not self.rules() and not self._jumps():
                self._run("-X", CHAIN)
                removed.append(f"chain {CHAIN}")
        return removed, kept


def connect_probe(port: int, timeout_s: float = 0.5) -> str:
    """"connected", "refused" or "timeout": what a client meets at the port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect((LOOPBACK, port))
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        except OSError as e:
            return f"error: {e.strerror}"
    return "connected"
