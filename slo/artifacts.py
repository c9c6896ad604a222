"""The committed, generated SLO artifacts: platform rule files and their promtool tests.

They live where users look for alert rules (``alerts/slo/``), one rule file and one test file per
window profile; ``stale()`` tells when they no longer match the specs and the generator.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from slo import promtest, rules
from slo.loaders import native
from slo.model import SLO
from slo.specs import PLATFORM_YAML, platform_slos

REPO = Path(__file__).resolve().parents[1]
ALERTS_DIR = REPO / "alerts" / "slo"
# profile name (None: each SLO's own, google-30d for the platform) → file stem
PLATFORM_PROFILES: dict[str | None, str] = {None: "platform-slos", "local": "platform-slos-local"}
SPEC_HEADER = "# Generated from slo/specs/platform.py (built from exporters/contract.py). DO NOT EDIT.\n"


def render_rules(slos: list[SLO], options: rules.Options, rule_file_name: str) -> tuple[str, str]:
    """(rule file text, promtool test text) for the SLOs."""
    generated = rules.generate(slos, options)
    rule_text = rules.dump(rules.rule_file(generated))
    test_text = promtest.dump(promtest.generate(slos, rule_file_name, options))
    return rule_text, test_text


def platform_artifacts(alerts_dir: Path = ALERTS_DIR) -> dict[Path, str]:
    slos = platform_slos()
    out: dict[Path, str] = {
        PLATFORM_YAML: SPEC_HEADER + yaml.safe_dump_all(native.render(slos), sort_keys=False, width=200),
    }
    for profile, stem in PLATFORM_PROFILES.items():
        rule_name = f"{stem}.rules.yml"
        rule_text, test_text = render_rules(slos, rules.Options(profile=profile), rule_name)
        out[alerts_dir / rule_name] = rule_text
        out[alerts_dir / f"{stem}.test.yml"] = test_text
    return out


def write(artifacts: dict[Path, str]) -> list[Path]:
    for path, text in artifacts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(artifacts)


def stale(artifacts: dict[Path, str]) -> list[Path]:
    return [p for p, text in artifacts.items() if not p.exists() or p.read_text() != text]
