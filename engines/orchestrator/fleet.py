"""The fleet: which engines the orchestrator runs, read from YAML and validated before anything starts.

A bad fleet file must fail loudly and precisely (file, field path, reason) rather than start half a
platform, so every field is typed, unknown fields are rejected and cross-field rules are checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

DEFAULT_FLEET = Path(__file__).resolve().parent.parent / "fleet.yaml"

NodeType = Literal["S", "M", "L", "XL", "2XL"]

# Engine names become pod names, label values and URL path segments: keep them DNS-label-like.
_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")

PositiveSeconds = Annotated[float, Field(gt=0)]
MAX_NODES_PER_CLUSTER = 32
MAX_CLUSTERS = 16


class FleetError(ValueError):
    """The fleet file is missing, not YAML, or invalid; the message names file, field path and reason."""


def check_version(version: str) -> str:
    """A version label value (also used by upgrade requests)."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"version {version!r} must be 1-32 characters of letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return version


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backoff(_Strict):
    """Crash-loop restart delays, as Kubernetes' CrashLoopBackOff but on a local time scale."""

    initial_s: PositiveSeconds = 0.5
    max_s: PositiveSeconds = 30.0
    #: A pod that stayed ready this long is considered healthy again: its next crash restarts fast.
    reset_after_s: PositiveSeconds = 30.0

    @field_validator("max_s")
    @classmethod
    def _max_not_below_initial(cls, v: float, info: ValidationInfo) -> float:
        initial = info.data.get("initial_s")
        if initial is not None and v < initial:
            raise ValueError(f"must be >= initial_s ({initial})")
        return v


class Probes(_Strict):
    """Readiness and liveness checks of pods, both through GET /readyz.

    Any HTTP answer proves liveness (a draining node answers 503); only a 200 proves readiness.
    """

    period_s: PositiveSeconds = 0.25
    timeout_s: PositiveSeconds = 1.0
    #: Consecutive unanswered probes before the pod is killed and restarted (reason "unhealthy");
    #: 0 disables liveness restarts.
    failure_threshold: Annotated[int, Field(ge=0)] = 5
    #: A pod not ready this long after its start is killed and restarted (reason "unhealthy").
    startup_timeout_s: PositiveSeconds = 60.0


class EngineSpec(_Strict):
    # Field order matters: validators of later fields read earlier ones (min/max before clusters).
    name: str
    type: NodeType
    nodes_per_cluster: int = Field(ge=1, le=MAX_NODES_PER_CLUSTER)
    min_clusters: Annotated[int, Field(ge=1)] = 1
    max_clusters: Annotated[int, Field(ge=1, le=MAX_CLUSTERS)] = 4
    clusters: int = Field(ge=1)
    version: str
    #: False starts nodes with --no-drain (SIGTERM exits at once): for chaos experiments only.
    drain: bool = True
    #: First-byte latency of each object-storage read of its nodes (a remote or cold object store);
    #: 0: the local disk. Makes queries wait on I/O, not on the CPU.
    storage_latency_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0

    @field_validator("name")
    @classmethod
    def _dns_label(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"{v!r} must be a DNS label: 1-32 lowercase letters, digits or '-', "
                             "starting with a letter and not ending with '-'")
        return v

    @field_validator("max_clusters")
    @classmethod
    def _max_not_below_min(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min_clusters")
        if low is not None and v < low:
            raise ValueError(f"must be >= min_clusters ({low})")
        return v

    @field_validator("clusters")
    @classmethod
    def _within_bounds(cls, v: int, info: ValidationInfo) -> int:
        low, high = info.data.get("min_clusters"), info.data.get("max_clusters")
        if low is not None and v < low:
            raise ValueError(f"must be >= min_clusters ({low})")
        if high is not None and v > high:
            raise ValueError(f"must be <= max_clusters ({high})")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        return check_version(v)


class Fleet(_Strict):
    engines: list[EngineSpec] = Field(min_length=1)
    #: Passed to nodes as --grace: in-flight queries get this long to finish on SIGTERM.
    grace_period_s: PositiveSeconds = 10.0
    #: Passed to nodes as --query-timeout.
    query_timeout_s: PositiveSeconds = 30.0
    #: Extra wait after the grace period before a draining pod is SIGKILLed.
    drain_slack_s: PositiveSeconds = 5.0
    restart_backoff: Backoff = Backoff()
    probes: Probes = Probes()

    @field_validator("engines")
    @classmethod
    def _unique_names(cls, v: list[EngineSpec]) -> list[EngineSpec]:
        seen: dict[str, int] = {}
        for i, spec in enumerate(v):
            if spec.name in seen:
                raise ValueError(f"duplicate engine name {spec.name!r} (engines[{seen[spec.name]}] and "
                                 f"engines[{i}])")
            seen[spec.name] = i
        return v

    def engine(self, name: str) -> EngineSpec:
        for spec in self.engines:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """``engines[1](analytics).nodes_per_cluster`` from pydantic's ``('engines', 1, 'nodes_per_cluster')``."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            name = node.get("name") if isinstance(node, Mapping) else None
            if isinstance(name, str):
                out += f"({name})"
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, Mapping) else None
    return out or "(top level)"


def parse_fleet(data: Any, source: str = "<fleet>") -> Fleet:
    """Validate already-parsed YAML; ``source`` names the file in error messages."""
    try:
        return Fleet.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors(include_url=False):
            reason = err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {_field_path(err['loc'], data)}: {reason}")
        raise FleetError("\n".join(lines)) from None


def load_fleet(path: Path | str | None = None) -> Fleet:
    """Read and validate a fleet file (default: engines/fleet.yaml)."""
    file = Path(path) if path is not None else DEFAULT_FLEET
    try:
        text = file.read_text()
    except OSError as e:
        raise FleetError(f"{file}: cannot read: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise FleetError(f"{file}{where}: (top level): not valid YAML: {problem}") from None
    if not isinstance(data, Mapping):
        raise FleetError(f"{file}: (top level): expected a mapping with an 'engines' list, "
                         f"got {type(data).__name__}")
    return parse_fleet(data, str(file))
