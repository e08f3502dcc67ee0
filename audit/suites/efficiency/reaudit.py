"""Re-audit of a compressed variant against the baseline: accuracy, group fairness, robust accuracy."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.suites.robustness import torch_pgd
from audit.suites.robustness.threat import LogitView, input_space


def predict(module: nn.Module, x: torch.Tensor, device: str, batch: int = 4096) -> np.ndarray:
    with torch.no_grad():
        parts = [module(x[i : i + batch].to(device)).float().argmax(dim=1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(parts).numpy()


# ---- group fairness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessGaps:
    dp: float  # demographic parity difference (fairlearn)
    eo: float  # equalized odds difference, worst case of TPR and FPR gaps (fairlearn)


def fairlearn_gaps(y: np.ndarray, pred: np.ndarray, groups: pd.Series, positive: int) -> FairnessGaps:
    """fairlearn's demographic_parity_difference and equalized_odds_difference (worst case), from one MetricFrame:
    the between-groups differences of selection rate, TPR and FPR, as those two functions define them."""
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    y_bin, p_bin = (y == positive).astype(int), (pred == positive).astype(int)
    frame = MetricFrame(metrics={"selection": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                        y_true=y_bin, y_pred=p_bin, sensitive_features=groups)
    gaps = frame.difference(method="between_groups")
    return FairnessGaps(float(gaps["selection"]), float(max(gaps["tpr"], gaps["fpr"])))


def group_count_gaps(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, positive: int) -> FairnessGaps:
    """The same gaps counted group by group with boolean masks: an independent check of `bootstrap_gaps`."""
    truth, chosen = y == positive, pred == positive
    selection, tpr, fpr = [], [], []
    for group in np.unique(groups):
        rows = groups == group
        selection.append(chosen[rows].mean())
        for rates, label in ((tpr, truth[rows]), (fpr, ~truth[rows])):
            if label.any():
                rates.append(chosen[rows][label].mean())

    def spread(rates: list[float]) -> float:
        return float(max(rates) - min(rates)) if rates else float("nan")

    return FairnessGaps(spread(selection), float(np.fmax(spread(tpr), spread(fpr))))


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
    # White-box re-audits of a variant end a row's attack once it is misclassified (robust accuracy needs no more);
    # fp32's own points always run every step, as they are also transferred to variants without gradients.
    stop_when_fooled: bool = False


def pgd(module: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec, outputs: str,
        stop_when_fooled: bool = False) -> torch.Tensor:
    """L-infinity PGD without random start (deterministic), in input units, by the robustness suite's engine."""
    view = LogitView(module, torch.ones(1, *x.shape[1:], device=x.device), outputs == "probabilities")
    space = input_space(tuple(x.shape[1:]), spec.mask, spec.clamp)
    cfg = torch_pgd.PGDConfig("linf", spec.epsilon, spec.steps, restarts=0)
    return torch_pgd.pgd_with_stats(view, x, y, space, cfg, torch.Generator(), batch_size=max(len(x), 1),
                                    stop_when_fooled=stop_when_fooled)[0]
