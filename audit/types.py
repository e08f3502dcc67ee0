"""Frozen result types shared by suites, runner, gating and renderers (JSON round-trip).

Suites produce `Measurement`s, `Table`s, `Chart`s and `ValidityCheck`s; they never judge.
Gating turns measurements into `Check`s using `Threshold`s from the policy.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"

JSONValue = Any  # str | int | float | bool | None | list | dict of these


class Verdict(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    INSUFFICIENT_EVIDENCE = "insufficient-evidence"
    UNRELIABLE = "unreliable-evaluation"
    INCOMPLETE = "incomplete"  # a required pillar has no evidence (skipped or errored): never a pass
    WAIVED = "waived"  # a blocking result excused by an unexpired waiver: never a pass, does not block


class SuiteStatus(str, enum.Enum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Measurement:
    """One figure a suite measured. `name` is local to the suite ("accuracy", "dp_difference[sex]")."""

    name: str
    value: float
    ci: tuple[float, float] | None = None
    higher_is_better: bool | None = None
    n: int = 0
    description: str = ""
    details: Mapping[str, JSONValue] = field(default_factory=dict)
    # Set when the data cannot support the figure (too few rows, no positives): no gate passes on it.
    insufficient_reason: str | None = None


@dataclass(frozen=True)
class Threshold:
    """A policy bound on one metric key ("suite.metric", glob patterns allowed)."""

    metric: str
    min: float | None = None
    max: float | None = None
    on: str = "value"  # "value" | "ci": judge the point estimate or the conservative CI bound
    severity: str = "fail"  # "fail" | "warn"


@dataclass(frozen=True)
class Check:
    """A judged measurement: what was measured, against which bound, and the verdict."""

    key: str
    verdict: Verdict
    reason: str
    value: float | None = None
    ci: tuple[float, float] | None = None
    threshold: Threshold | None = None
    description: str = ""


@dataclass(frozen=True)
class ValidityCheck:
    """A self-check of an evaluation (e.g. gradient masking); a failure makes the pillar unreliable."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[JSONValue, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Series:
    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    lo: tuple[float, ...] | None = None  # lower error bar / CI band
    hi: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Heatmap:
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class ImageGrid:
    """Images in [0, 1], row-major pixels; rows of the grid share `row_labels`. Grey and diverging images are H x W
    values; colour ("rgb") images are H rows of 3W values, r, g, b per pixel."""

    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    images: tuple[tuple[tuple[tuple[float, ...], ...], ...], ...]  # [row][col] -> HxW pixels
    cmap: str = "gray"  # "gray" | "rgb" (colour, interleaved) | "diverging" (signed attributions)


@dataclass(frozen=True)
class Chart:
    """Data for one figure; renderers only draw it. kind: line | bar | scatter | heatmap | images."""

    id: str
    title: str
    kind: str
    x_label: str = ""
    y_label: str = ""
    series: tuple[Series, ...] = ()
    heatmap: Heatmap | None = None
    images: ImageGrid | None = None
    log_x: bool = False
    log_y: bool = False
    caption: str = ""
    x_tick_labels: tuple[str, ...] = ()  # bar charts: names of the categories at x = 0, 1, 2, ...


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    pillar: str
    status: SuiteStatus
    reason: str = ""  # why skipped, or the error message
    measurements: tuple[Measurement, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    validity: tuple[ValidityCheck, ...] = ()
    params: Mapping[str, JSONValue] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # plain-language findings for the reviewer
    duration_s: float = 0.0
    device: str = ""  # what the suite ran on ("cpu", or "cuda:0 (<GPU name>)"); "" in scorecards from before


@dataclass(frozen=True)
class PillarSummary:
    pillar: str
    verdict: Verdict | None  # None: no suite of this pillar ran
    summary: str
    eu_ai_act: str
    nist_ai_rmf: str


@dataclass(frozen=True)
class RunInfo:
    model: str
    dataset: str
    preset: str
    suites: tuple[str, ...]
    seed: int
    device: str
    started_at: str
    finished_at: str | None = None
    # Energy this process used for the audit, read from a meter (audit.energy): {"measured": true, "joules",
    # "seconds", "meter"} or {"measured": false, "reason"}; {} in scorecards from before.
    energy: Mapping[str, JSONValue] = field(default_factory=dict)
    # How the suites ran, e.g. "2 suites at once ..." (their durations then overlap and do not add up to the
    # run's wall time); "" in scorecards from before.
    placement: str = ""


@dataclass(frozen=True)
class Provenance:
    audit_version: str
    python: str
    platform: str
    packages: Mapping[str, str]
    torch: str
    cuda: str | None
    device_name: str
    model_sha256: str
    model_source: str
    data_sha256: str
    data_source: str
    config_sha256: str
    git_commit: str | None


@dataclass(frozen=True)
class Scorecard:
    schema_version: str
    run: RunInfo
    provenance: Provenance
    config: Mapping[str, JSONValue]
    results: tuple[SuiteResult, ...]
    checks: tuple[Check, ...]
    pillars: tuple[PillarSummary, ...]
    verdict: Verdict
    exit_code: int
    complete: bool  # False while suites are still running (or the run was killed)


# ---- JSON round-trip -------------------------------------------------------------------------


def to_json_dict(obj: Any) -> Any:
    """Dataclasses, enums, tuples and mappings to plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): to_json_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_dict(v) for v in obj]
    if getattr(obj, "ndim", 0) > 0 and hasattr(obj, "tolist"):  # numpy arrays (per-row evidence columns)
        return [to_json_dict(v) for v in obj.tolist()]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # strict JSON (jq, JavaScript) has no NaN/Infinity; read back as NaN
    return obj


def from_json_dict(cls: type, data: Any) -> Any:
    """Inverse of `to_json_dict` for the dataclasses in this module."""
    return _convert(cls, data)


def _convert(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(options[0], data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in data)
        return tuple(_convert(a, v) for a, v in zip(args, data, strict=True))
    if origin in (Mapping, dict, typing.Mapping):
        return dict(data)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {f.name: _convert(hints[f.name], data[f.name]) for f in dataclasses.fields(tp) if f.name in data}
        return tp(**kwargs)
    if tp is float and data is None:
        return float("nan")
    if tp is float and isinstance(data, int):
        return float(data)
    return data
