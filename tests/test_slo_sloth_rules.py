"""The Sloth-rule emulator writes what `sloth generate` wrote for Sloth's own examples (its _gen output)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from slo import load_paths, sloth_rules
from tests.test_slo_loaders import SLOTH

# Not emulated: the contrib denominator-corrected plugin (more rules), the SLI plugin's own query
# spelling, and OpenSLO v1alpha SLOs, for which Sloth writes no alerts.
EXAMPLES = ["getting-started.yml", "k8s-getting-started.yml", "kubernetes-apiserver.yml", "multifile.yml",
            "no-alerts.yml", "raw-home-wifi.yml"]
_VERSION_LABELS = {"sloth_mode", "sloth_spec", "sloth_version"}  # how and by which build Sloth ran


def _rules(groups: list[dict]) -> list[dict]:
    return [{**r, "expr": re.sub(r"\s+", "", r["expr"]),
             "labels": {k: v for k, v in (r.get("labels") or {}).items() if k not in _VERSION_LABELS}}
            for g in groups for r in g["rules"]]


@pytest.mark.parametrize("example", EXAMPLES)
def test_emulated_rules_are_sloths(example: str) -> None:
    docs = [d for d in yaml.safe_load_all((SLOTH / "_gen" / example).read_text()) if d]
    theirs = [g for doc in docs for g in (doc.get("spec") or doc)["groups"]]
    ours = [g for slo in load_paths([SLOTH / example])
            for g in sloth_rules.generate(slo, extra_labels={"cmd": "examplesgen.sh"})]
    assert [g["name"] for g in ours] == [g["name"] for g in theirs]
    assert _rules(ours) == _rules(theirs)


def test_fifteen_recording_and_two_alerting_rules_per_slo() -> None:
    (slo,) = load_paths([Path(SLOTH / "getting-started.yml")])
    rules = [r for g in sloth_rules.generate(slo) for r in g["rules"]]
    assert (sum("record" in r for r in rules), sum("alert" in r for r in rules)) == (15, 2)
