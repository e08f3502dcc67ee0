"""Per-example membership scores from a model's outputs (higher = more likely a training member).

- loss: Yeom et al. 2018 threshold attack, score = −cross-entropy of the true class (members have lower loss);
- correctness: Yeom et al.'s rule "member iff correctly classified" (ART's MembershipInferenceBlackBoxRuleBased);
- logit-scaled confidence log(p_y / (1 − p_y)) of the true class: the statistic LiRA fits Gaussians to.
"""

from __future__ import annotations

import numpy as np
import torch

_EPS = 1e-12


def log_probabilities(outputs: torch.Tensor, kind: str) -> torch.Tensor:
    """Log-probabilities from raw outputs, `kind` is "logits" or "probabilities"."""
    outputs = outputs.double()
    if kind == "logits":
        return torch.log_softmax(outputs, dim=-1)
    return torch.log(outputs.clamp_min(_EPS) / outputs.sum(dim=-1, keepdim=True))


def loss_scores(outputs: torch.Tensor, y: torch.Tensor, kind: str) -> np.ndarray:
    """−cross-entropy of the true class for each row."""
    logp = log_probabilities(outputs, kind)
    return logp.gather(-1, y.long().unsqueeze(-1)).squeeze(-1).numpy()


def correctness_scores(outputs: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """1.0 where the model's top class is the true class, else 0.0."""
    return (outputs.argmax(dim=-1) == y).double().numpy()


def logit_confidence(outputs: torch.Tensor, y: torch.Tensor, kind: str) -> np.ndarray:
    """log(p_y / (1 − p_y)) for the true class y, computed stably.

    Works on (..., n, classes) outputs with (n,) labels, so a stack of shadow models' outputs goes at once.
    From logits z: log p_y − log(1 − p_y) = z_y − logsumexp(z_{c≠y}).
    """
    index = y.long().expand(outputs.shape[:-1]).unsqueeze(-1)
    if kind == "logits":
        z = outputs.double()
        z_true = z.gather(-1, index).squeeze(-1)
        others = z.scatter(-1, index, float("-inf"))
        return (z_true - torch.logsumexp(others, dim=-1)).numpy()
    p = outputs.double() / outputs.double().sum(dim=-1, keepdim=True)
    p_true = p.gather(-1, index).squeeze(-1).clamp(_EPS, 1 - _EPS)
    return (torch.log(p_true) - torch.log1p(-p_true)).numpy()
