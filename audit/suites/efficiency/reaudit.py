"""Re-audit of a compressed variant against the baseline: accuracy, group fairness, robust accuracy."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.stats import bootstrap_indices, percentile_ci
from audit.suites.robustness import torch_pgd
from audit.suites.robustness.threat import LogitView, input_space


def predict(module: nn.Module, x: torch.Tensor, device: str, batch: int = 4096) -> np.ndarray:
    with torch.no_grad():
        parts = [module(x[i : i + batch].to(device)).float().argmax(dim=1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(parts).numpy()


def paired_mean_diff(base: np.ndarray, other: np.ndarray, resamples: int, seed: int) -> tuple[float, tuple]:
    """mean(base) - mean(other) over the same rows, with a paired bootstrap CI."""
    diff = base.astype(float) - other.astype(float)
    idx = bootstrap_indices(len(diff), resamples, seed)
    return float(diff.mean()), percentile_ci(diff[idx].mean(axis=1))


# ---- group fairness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessGaps:
    dp: float  # demographic parity difference (fairlearn)
    eo: float  # equalized odds difference, worst case of TPR and FPR gaps (fairlearn)


def fairlearn_gaps(y: np.ndarray, pred: np.ndarray, groups: pd.Series, positive: int) -> FairnessGaps:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    y_bin, p_bin = (y == positive).astype(int), (pred == positive).astype(int)
    return FairnessGaps(float(demographic_parity_difference(y_bin, p_bin, sensitive_features=groups)),
                        float(equalized_odds_difference(y_bin, p_bin, sensitive_features=groups)))


def _gap(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """max - min over groups of a per-group rate; groups absent from a resample are ignored."""
    rate = np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where every group is empty -> NaN
        return np.nanmax(rate, axis=1) - np.nanmin(rate, axis=1)


def bootstrap_gaps(y: np.ndarray, pred: np.ndarray, codes: np.ndarray, k: int, positive: int,
                   counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dp, eo) per resample with fairlearn's definitions; `counts` from `audit.stats.resample_counts`.

    Per-group sums for every resample are one matrix product: counts (R, n) @ per-row values (n, 4k).
    """
    truth, chosen = (y == positive).astype(np.float32), (pred == positive).astype(np.float32)
    onehot = np.eye(k, dtype=np.float32)[codes]
    per_row = np.concatenate([onehot, onehot * chosen[:, None], onehot * truth[:, None],
                              onehot * (chosen * truth)[:, None]], axis=1)
    sums = (counts @ per_row).astype(np.float64)
    count, sel, pos, tp = (sums[:, i * k : (i + 1) * k] for i in range(4))
    dp = _gap(sel, count)
    eo = np.fmax(_gap(tp, pos), _gap(sel - tp, count - pos))
    return dp, eo


# ---- robust accuracy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttackSpec:
    epsilon: float  # L-infinity budget, in input units
    steps: int
    mask: torch.Tensor | None  # 1 where a column may be perturbed (flattened input), None: all
    clamp: tuple[float, float] | None  # valid input range (images), None: unbounded


def pgd(module: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec, outputs: str) -> torch.Tensor:
    """L-infinity PGD without random start (deterministic), in input units, by the robustness suite's engine."""
    view = LogitView(module, torch.ones(1, *x.shape[1:], device=x.device), outputs == "probabilities")
    space = input_space(tuple(x.shape[1:]), spec.mask, spec.clamp)
    cfg = torch_pgd.PGDConfig("linf", spec.epsilon, spec.steps, restarts=0)
    return torch_pgd.pgd(view, x, y, space, cfg, torch.Generator(), batch_size=max(len(x), 1))
