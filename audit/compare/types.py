"""Frozen results of a release comparison (JSON round-trip through audit.types.to_json_dict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from audit.types import Check, JSONValue, Verdict

COMPARISON_SCHEMA_VERSION = "1.0"

# How a difference was tested.
MCNEMAR = "exact McNemar on discordant rows (CI: paired bootstrap)"
PAIRED_BOOTSTRAP = "paired bootstrap (same resampled rows for both models)"
UNPAIRED_BOOTSTRAP = "unpaired bootstrap (independent resamples of each run's rows)"
FROM_CIS = "not paired-tested: normal approximation from the two 95% CIs"
NOT_TESTED = "not tested: a figure or its CI is missing"


@dataclass(frozen=True)
class Side:
    """One run's figure for a measurement."""

    value: float | None
    ci: tuple[float, float] | None = None
    n: int = 0
    insufficient_reason: str | None = None


@dataclass(frozen=True)
class ComparedMeasurement:
    key: str  # "suite.measurement"
    suite: str
    baseline: Side
    candidate: Side
    difference: float | None  # candidate − baseline
    ci: tuple[float, float] | None  # 95% CI of the difference
    p_value: float | None
    p_adjusted: float | None  # Benjamini–Hochberg across every compared measurement
    method: str
    higher_is_better: bool | None
    direction: str  # "better" | "worse" | "unchanged" | "changed" (no preferred direction) | "unknown"
    significant: bool  # adjusted p < 0.05
    details: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRef:
    path: str
    model: str
    dataset: str
    data_sha256: str
    model_sha256: str
    started_at: str
    exit_code: int
    verdict: str


@dataclass(frozen=True)
class Comparison:
    schema_version: str
    baseline: RunRef
    candidate: RunRef
    paired: bool
    resamples: int
    seed: int
    alpha: float
    measurements: tuple[ComparedMeasurement, ...]
    checks: tuple[Check, ...]  # regression gates (keys "regression.<suite>.<measurement>")
    waivers: tuple[Mapping[str, JSONValue], ...]
    notes: tuple[str, ...]
    verdict: Verdict
    exit_code: int
