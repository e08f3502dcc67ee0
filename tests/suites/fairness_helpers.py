"""Shared builders for the fairness-suite tests: synthetic data, hand-made models, a suite runner."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from audit.data.types import Dataset
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.fairness import FairnessParams, FairnessSuite
from audit.testing import wrap_module

FAST = dict(resamples=50, flip_test=False, proxies=False, mitigation=False)


class SexOnlyModel(nn.Module):
    """Favourable decision exactly when the `sex=Male` input is 1: discriminates by construction."""

    def __init__(self, male_column: int):
        super().__init__()
        self.male_column = male_column

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 4.0 * (x[:, self.male_column] - 0.5)
        return torch.stack([torch.zeros_like(score), score], dim=1)


class SexBlindModel(nn.Module):
    """Decides from hours and education only (columns 0 and 1); never reads the sex inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x[:, 0] + x[:, 1]
        return torch.stack([torch.zeros_like(score), score], dim=1)


def run_suite(model, data: Dataset, seed: int = 0, **overrides) -> SuiteOutput:
    suite = FairnessSuite()
    params = dataclasses.replace(FairnessParams(), **overrides)
    ctx = SuiteContext(model=model, data=data, seed=seed, preset="full", cache_dir=Path("/tmp"))
    return suite.run(ctx, params)


def sex_only(data: Dataset):
    return wrap_module(SexOnlyModel(data.feature_names.index("sex=Male")), data, name="sex-only")


def sex_blind(data: Dataset):
    return wrap_module(SexBlindModel(), data, name="sex-blind")


def by_name(out: SuiteOutput) -> dict:
    return {m.name: m for m in out.measurements}


def table(out: SuiteOutput, table_id: str):
    return next(t for t in out.tables if t.id == table_id)
