"""The Prometheus tools (prometheus, promtool, Alertmanager, amtool): where they are, and checks with them.

One locator finds each binary (on PATH, then where Debian's package puts it, since PATH may lack
/usr/bin under some service managers); one exception, ``ToolMissing``, names the Debian package to
install. Checks return (ok, output) results a user can read — never a stack trace: a hung tool is a
failed check with a plain message, like any other problem.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import yaml

#: Binary -> the Debian package that ships it.
PACKAGES: dict[str, str] = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}
DEBIAN_DIR = Path("/usr/bin")


class ToolMissing(RuntimeError):
    """A Prometheus tool is not installed, or did not give a usable answer."""


def find(name: str) -> Path:
    """The path of ``name`` (one of ``PACKAGES``); ``ToolMissing`` naming the package when absent."""
    if name not in PACKAGES:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(PACKAGES)}")
    found = shutil.which(name) or shutil.which(str(DEBIAN_DIR / name))
    if not found:
        raise ToolMissing(f"{name} not found: install the Debian package '{PACKAGES[name]}'")
    return Path(found)


class CheckResult(NamedTuple):
    ok: bool
    output: str


def run(argv: Sequence[str], stdin: str | None = None, timeout: float = 60.0) -> CheckResult:
    """Run a tool (``argv[0]`` a name from ``PACKAGES`` or a path); a missing tool is a failed check."""
    try:
        binary = find(argv[0]) if argv[0] in PACKAGES else Path(argv[0])
    except ToolMissing as e:
        return CheckResult(False, str(e))
    if not binary.exists():
        package = PACKAGES.get(binary.name, binary.name)
        return CheckResult(False, f"{binary} not found: install the Debian package '{package}'")
    try:
        # One stream: the tools interleave progress (stdout) with failures (stderr) meaningfully.
        done = subprocess.run([str(binary), *argv[1:]], input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return CheckResult(False, f"{binary.name} did not finish within {timeout:g}s")
    return CheckResult(done.returncode == 0, done.stdout.strip())


def check_metrics(text: str) -> list[str]:
    """Lint an exposition (the text of a /metrics page); returns the problems, empty when clean."""
    ok, output = run(["promtool", "check", "metrics"], stdin=text)
    return [] if ok else [line for line in output.splitlines() if line.strip()]


def check_config(config_file: Path) -> CheckResult:
    """Validate a prometheus.yml and the rule files it names."""
    return run(["promtool", "check", "config", str(config_file)])


def check_rules(*rule_files: Path) -> CheckResult:
    return run(["promtool", "check", "rules", *map(str, rule_files)])


def test_rules(*test_files: Path) -> CheckResult:
    """Run promtool unit tests; rule files are resolved relative to each test file."""
    return run(["promtool", "test", "rules", *map(str, test_files)])


# pytest must not collect the function above as a test when a test module imports it.
test_rules.__test__ = False  # type: ignore[attr-defined]


def check_alertmanager_config(config_file: Path) -> CheckResult:
    """``amtool check-config``: syntax, schema and templates of an alertmanager.yml."""
    return run(["amtool", "check-config", str(config_file)])


_RECORD = "lint:expr_{}"
# e.g. `rules.yml: 7:11: group "lint", rule 2, "lint:expr_1": could not parse expression: 1:24: ...`
_FAILURE = re.compile(r'"lint:expr_(\d+)": (.*)$')


def parse_errors(exprs: Sequence[str], timeout: float = 60.0) -> dict[int, str]:
    """Parse many PromQL expressions with Prometheus' own parser, in one promtool call.

    Each expression becomes a recording rule of a throw-away rule file; ``promtool check rules``
    names every rule that fails, which maps each error back to its expression. Returns the index of
    each expression that does not parse -> promtool's message for it.
    """
    if not exprs:
        return {}
    rules = [{"record": _RECORD.format(i), "expr": expr} for i, expr in enumerate(exprs)]
    with tempfile.TemporaryDirectory(prefix="enginewatch-lint-") as tmp:
        path = Path(tmp) / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "lint", "rules": rules}]}, sort_keys=False))
        try:
            done = subprocess.run([str(find("promtool")), "check", "rules", str(path)], capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise ToolMissing(f"promtool did not finish within {timeout:g}s") from e
    if done.returncode == 0:
        return {}
    errors: dict[int, str] = {}
    for line in (done.stdout + done.stderr).splitlines():
        if match := _FAILURE.search(line):
            errors[int(match.group(1))] = match.group(2)
    if not errors:  # failed, but not on an expression: the file itself, or promtool
        raise ToolMissing(f"promtool check rules failed: {(done.stderr or done.stdout).strip()}")
    return errors
