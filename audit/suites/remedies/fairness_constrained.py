"""Fairness-constrained training: a differentiable penalty on the torch model (not fairlearn's reductions).

Loss = cross-entropy + λ · gap, where the gap is computed on each mini-batch from the model's soft decisions
p = P(favourable class): demographic parity uses the spread (max − min) across groups of mean p; equalized
odds the larger of that spread among truly favourable rows (TPR) and among the others (FPR). The penalty
keeps the model differentiable, so every other pillar (robust accuracy by gradient attack included) is
re-audited on the same architecture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.data.types import Split
from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suites.remedies.variant import TrainedVariant, count_parameters, timed


def _spread(p: torch.Tensor, codes: torch.Tensor, k: int) -> torch.Tensor:
    """max − min over the groups present in the batch of the mean of p (group sums in one `index_add`)."""
    counts = torch.bincount(codes, minlength=k)
    present = counts > 0
    if int(present.sum()) < 2:
        return p.sum() * 0.0
    means = (p.new_zeros(k).index_add(0, codes, p)[present] / counts[present].to(p.dtype))
    return means.max() - means.min()


def soft_gap(p: torch.Tensor, codes: torch.Tensor, k: int, y_pos: torch.Tensor, constraint: str) -> torch.Tensor:
    if constraint == "demographic_parity":
        return _spread(p, codes, k)
    return torch.maximum(_spread(p[y_pos], codes[y_pos], k), _spread(p[~y_pos], codes[~y_pos], k))


def fairness_loss(codes: torch.Tensor, k: int, positive: int, constraint: str, weight: float):  # noqa: ANN201
    def loss(module: nn.Module, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        logits = module(x)
        p = torch.softmax(logits, dim=1)[:, positive]
        gap = soft_gap(p, codes[rows], k, y == positive, constraint)
        return nn.functional.cross_entropy(logits, y) + weight * gap

    return loss


def group_codes(sensitive: pd.DataFrame, attribute: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    codes, names = pd.factorize(sensitive[attribute].astype(str), sort=True)
    return torch.as_tensor(np.asarray(codes, dtype=np.int64)), tuple(str(n) for n in names)


def train_constrained(recipe: Recipe, split: Split, attribute: str, constraint: str, weight: float,
                      positive: int) -> TrainedVariant:
    codes, names = group_codes(split.sensitive, attribute)
    module, seconds = timed(lambda: train_model(recipe, split, batch_loss=fairness_loss(
        codes, len(names), positive, constraint, weight)))
    how = (f"Differentiable {constraint.replace('_', ' ')} penalty on the torch model (not fairlearn's reductions): "
           f"cross-entropy + {weight:g} × the batch's gap in mean favourable-class probability across "
           f"'{attribute}' groups ({', '.join(names)}); the recipe's optimiser, epochs and batch size")
    return TrainedVariant("fairness_constrained", module, how, seconds, count_parameters(module, True),
                          count_parameters(module),
                          details={"method": "differentiable penalty", "constraint": constraint,
                                   "attribute": attribute, "weight": weight, "groups": list(names)})
