"""The platform's SLO specs: built in Python from the metric contract, rendered to platform.yaml."""

from pathlib import Path

from slo.specs.platform import platform_slos

SPEC_DIR = Path(__file__).parent
PLATFORM_YAML = SPEC_DIR / "platform.yaml"

__all__ = ["platform_slos", "SPEC_DIR", "PLATFORM_YAML"]
