"""Parse many PromQL expressions with Prometheus' own parser, in one promtool call.

Each expression becomes a recording rule of a throw-away rule file; ``promtool check rules`` parses
them all and names every rule that fails, which maps each error back to its expression. One process
for every target of every dashboard keeps linting well under a second.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

#: Where to look for promtool: on PATH, then where Debian's package puts it (PATH may lack /usr/bin
#: under some service managers).
CANDIDATES: tuple[str, ...] = ("promtool", "/usr/bin/promtool")
_RECORD = "lint:expr_{}"
# e.g. `rules.yml: 7:11: group "lint", rule 2, "lint:expr_1": could not parse expression: 1:24: ...`
_FAILURE = re.compile(r'"lint:expr_(\d+)": (.*)$')


class PromtoolUnavailable(RuntimeError):
    pass


def find_promtool() -> str:
    for candidate in CANDIDATES:
        if found := shutil.which(candidate):
            return found
    raise PromtoolUnavailable("promtool not found: install the Debian package 'prometheus'")


def parse_errors(exprs: Sequence[str], timeout: float = 60.0) -> dict[int, str]:
    """Index of each expression that does not parse -> promtool's message for it."""
    if not exprs:
        return {}
    rules = [{"record": _RECORD.format(i), "expr": expr} for i, expr in enumerate(exprs)]
    with tempfile.TemporaryDirectory(prefix="enginewatch-lint-") as tmp:
        path = Path(tmp) / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "lint", "rules": rules}]}, sort_keys=False))
        try:
            done = subprocess.run([find_promtool(), "check", "rules", str(path)], capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise PromtoolUnavailable(f"promtool did not finish within {timeout:g}s") from e
    if done.returncode == 0:
        return {}
    errors: dict[int, str] = {}
    for line in (done.stdout + done.stderr).splitlines():
        if match := _FAILURE.search(line):
            errors[int(match.group(1))] = match.group(2)
    if not errors:  # failed, but not on an expression: the file itself, or promtool
        raise PromtoolUnavailable(f"promtool check rules failed: {(done.stderr or done.stdout).strip()}")
    return errors
