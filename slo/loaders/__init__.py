"""Load SLO specs of any supported format (Sloth, OpenSLO, enginewatch/v1) into the model."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from slo.errors import NotSupportedError, SpecError
from slo.loaders import native, openslo, sloth
from slo.model import SLO

SPEC_SUFFIXES = (".yml", ".yaml")


def load_documents(path: Path) -> list[Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(path)) from None
    # OpenSLO tooling also writes a YAML list of objects in one document.
    flat: list[Any] = []
    for doc in docs:
        flat.extend(doc if isinstance(doc, list) else [doc])
    return flat


def spec_files(paths: Iterable[Path | str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in SPEC_SUFFIXES and not
                              any(part.startswith("_") for part in f.relative_to(p).parts)))
        else:
            out.append(p)
    return out


def load_paths(paths: Iterable[Path | str]) -> list[SLO]:
    """Every SLO of the given files and directories; OpenSLO references resolve across all of them."""
    slos: list[SLO] = []
    objects = openslo.Objects()
    for path in spec_files(paths):
        for index, doc in enumerate(load_documents(path)):
            file = str(path)
            if not isinstance(doc, dict):
                raise SpecError(f"document {index + 1} is not a mapping", file=file)
            if openslo.is_openslo(doc):
                objects.add(doc, file)
            elif doc.get("version") == native.VERSION:
                slos.extend(native.load(doc, file))
            elif doc.get("version") == sloth.PROM_V1 or doc.get("apiVersion") == sloth.K8S_V1:
                slos.extend(sloth.load(doc, file))
            else:
                version = doc.get("version") or doc.get("apiVersion")
                raise NotSupportedError(
                    f"unknown spec format {version!r}; supported: {native.VERSION}, {sloth.PROM_V1}, "
                    f"{sloth.K8S_V1} (PrometheusServiceLevel), {openslo.V1}, {openslo.V1ALPHA}", file=file,
                    field="version")
    slos.extend(openslo.build(objects))
    _check_unique(slos)
    return slos


def _check_unique(slos: list[SLO]) -> None:
    seen: dict[str, SLO] = {}
    for slo in slos:
        if slo.id in seen:
            raise SpecError(f"duplicate SLO id {slo.id!r} (also in {seen[slo.id].source})", file=slo.source,
                            slo=slo.name, field="name")
        seen[slo.id] = slo


__all__ = ["load_paths", "load_documents", "spec_files"]
