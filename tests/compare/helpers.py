"""Audit runs for comparison tests: the real runner and suites, light settings, no CLI start-up cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit import provenance, runner
from audit.config import AuditConfig
from audit.data.types import Dataset
from audit.models.types import ModelUnderAudit
from audit.testing import wrap_module

LIGHT = {"accuracy": {"bootstrap_resamples": 100},
         "fairness": {"resamples": 100, "proxies": False, "mitigation": False, "flip_test": False,
                      "intersections": False}}


def audit_run(out_dir: Path, data: Dataset, model: ModelUnderAudit, suites: str = "accuracy,fairness",
              suites_extra: dict[str, Any] | None = None, **config: Any) -> Path:
    """Run `suites` on `model` and `data` into `out_dir` (scorecard.json and evidence/), as `audit run` would."""
    cfg = AuditConfig(model=model.name, suite=suites, suites={**LIGHT, **(suites_extra or {})}, **config)
    audit = runner.Audit(config=cfg, plan=runner.plan(cfg), model=model, data=data,
                         provenance=provenance.collect(model, data, cfg.sha256()), out_dir=out_dir,
                         cache_dir=out_dir / "cache")
    runner.run(audit)
    return out_dir


class FavourColumn(nn.Module):
    """The wrapped model, pushed towards the favourable class on rows where input column `column` is set."""

    def __init__(self, base: nn.Module, column: int, shift: float, favourable: int = 1, n_classes: int = 2):
        super().__init__()
        self.base, self.column, self.shift = base, column, shift
        self.register_buffer("direction", torch.nn.functional.one_hot(torch.tensor(favourable), n_classes).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.shift * x[:, self.column : self.column + 1] * self.direction


def favouring(model: ModelUnderAudit, data: Dataset, feature: str, shift: float) -> ModelUnderAudit:
    column = data.feature_names.index(feature)
    module = FavourColumn(model.module, column, shift, data.positive_class, data.n_classes)
    return wrap_module(module, data, name=f"{model.name}-favouring-{feature}")
