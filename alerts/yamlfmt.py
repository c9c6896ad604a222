"""YAML for generated rule, test and Alertmanager files: stable key order, multi-line PromQL as blocks.

Generated files are committed and diffed in review, so they must read like hand-written ones.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def dump(document: Any, header: str = "") -> str:
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
