"""The contract between the runner and a suite.

A suite is a class registered in the "audit.suites" entry-point group with:
  name, pillar, requires (capabilities), a frozen `Params` dataclass,
  `params_for(preset) -> Params` and `run(ctx, params) -> SuiteOutput`.
Suites measure; they never judge (thresholds live in the policy). Heavy imports go inside `run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from audit.data.types import Dataset
from audit.models.types import ModelUnderAudit
from audit.stats import derive_seed
from audit.types import Chart, Measurement, SuiteResult, Table, ValidityCheck

PRESETS = ("full", "quick")


class Progress(Protocol):
    def __call__(self, completed: float, total: float, description: str = "") -> None: ...


def _no_progress(completed: float, total: float, description: str = "") -> None:
    return None


@dataclass(frozen=True)
class SuiteContext:
    """What a suite may read: the model, the data, the seed, earlier suites' results, a cache."""

    model: ModelUnderAudit
    data: Dataset
    seed: int
    preset: str
    cache_dir: Path
    previous: Mapping[str, SuiteResult] = field(default_factory=dict)
    progress: Progress = _no_progress

    @property
    def device(self) -> str:
        return self.model.device

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A numpy generator derived from the run seed (salt separates independent streams)."""
        return np.random.default_rng([self.seed, salt])

    def torch_generator(self, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, salt))


@dataclass(frozen=True)
class SuiteOutput:
    measurements: tuple[Measurement, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    validity: tuple[ValidityCheck, ...] = ()
    notes: tuple[str, ...] = ()


class Suite(Protocol):
    name: ClassVar[str]
    pillar: ClassVar[str]
    requires: ClassVar[frozenset[str]]
    description: ClassVar[str]
    Params: ClassVar[type]

    def params_for(self, preset: str) -> Any: ...

    def run(self, ctx: SuiteContext, params: Any) -> SuiteOutput: ...


def context_capabilities(ctx_model: ModelUnderAudit, data: Dataset) -> frozenset[str]:
    """Capabilities a suite may require: the model's plus what the data provides."""
    caps = set(ctx_model.capabilities)
    if data.train is not None and len(data.train) > 0:
        caps.add("training-data")
    if data.sensitive_attributes:
        caps.add("sensitive-attributes")
    caps.add(f"input:{data.input_kind}")
    caps.add(f"task:{data.task}")
    return frozenset(caps)
