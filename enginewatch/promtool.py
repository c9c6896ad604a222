"""promtool and amtool checks, as (ok, output) results a user can read — never a stack trace.

A missing binary or a hung tool is a failed check with a plain message, like any other problem.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

PROMTOOL_BIN = Path("/usr/bin/promtool")
AMTOOL_BIN = Path("/usr/bin/amtool")
_PACKAGE = {PROMTOOL_BIN.name: "prometheus", AMTOOL_BIN.name: "prometheus-alertmanager"}


class CheckResult(NamedTuple):
    ok: bool
    output: str


def _run(argv: Sequence[str], stdin: str | None = None, timeout: float = 60.0) -> CheckResult:
    binary = Path(argv[0])
    if not binary.exists():
        package = _PACKAGE.get(binary.name, binary.name)
        return CheckResult(False, f"{binary} not found: install the Debian package '{package}'")
    try:
        # One stream: the tools interleave progress (stdout) with failures (stderr) meaningfully.
        done = subprocess.run(list(argv), input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return CheckResult(False, f"{binary.name} did not finish within {timeout:g}s")
    return CheckResult(done.returncode == 0, done.stdout.strip())


def check_metrics(text: str, promtool: Path = PROMTOOL_BIN) -> list[str]:
    """Lint an exposition (the text of a /metrics page); returns the problems, empty when clean."""
    ok, output = _run([str(promtool), "check", "metrics"], stdin=text)
    return [] if ok else [line for line in output.splitlines() if line.strip()]


def check_config(config_file: Path, promtool: Path = PROMTOOL_BIN) -> CheckResult:
    """Validate a prometheus.yml and the rule files it names."""
    return _run([str(promtool), "check", "config", str(config_file)])


def check_rules(*rule_files: Path, promtool: Path = PROMTOOL_BIN) -> CheckResult:
    return _run([str(promtool), "check", "rules", *map(str, rule_files)])


def test_rules(*test_files: Path, promtool: Path = PROMTOOL_BIN) -> CheckResult:
    """Run promtool unit tests; rule files are resolved relative to each test file."""
    return _run([str(promtool), "test", "rules", *map(str, test_files)])


# pytest must not collect the function above as a test when a test module imports it.
test_rules.__test__ = False  # type: ignore[attr-defined]


def check_alertmanager_config(config_file: Path, amtool: Path = AMTOOL_BIN) -> CheckResult:
    """``amtool check-config``: syntax, schema and templates of an alertmanager.yml."""
    return _run([str(amtool), "check-config", str(config_file)])
