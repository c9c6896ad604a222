"""Everything `enginewatch alerts check` verifies, as named results a user can read.

promtool checks every rule file and runs every unit-test file, the coverage check demands a firing and
a silent case per alert, and amtool checks the Alertmanager configurations.
"""

from __future__ import annotations

from typing import NamedTuple

from alerts import files
from foundation import promtool


class Check(NamedTuple):
    name: str
    ok: bool
    output: str


def check_all() -> list[Check]:
    rule_files, test_files = files.rule_files(), files.test_files()
    results = [Check("promtool check rules", *promtool.check_rules(*rule_files)),
               Check("promtool test rules", *promtool.test_rules(*test_files))]
    problems = files.coverage_problems(rule_files, test_files)
    results.append(Check("every alert has a firing and a silent test", not problems,
                         "\n".join(problems) or f"{len(files.coverage(rule_files, test_files))} alerts covered"))
    results += [Check(f"amtool check-config {path.name}", *promtool.check_alertmanager_config(path))
                for path in files.alertmanager_files()]
    return results
