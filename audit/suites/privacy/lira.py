"""LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles").

For each example, the logit-scaled confidence φ = log(p_y / (1 − p_y)) of shadow models that trained on
it (IN) and that did not (OUT) is modelled as a Gaussian. The target model's φ is then scored by
- online: the log-likelihood ratio log N(φ; μ_in, σ_in²) − log N(φ; μ_out, σ_out²);
- offline: a one-sided test against OUT only, (φ − μ_out) / σ_out (ranks exactly as Pr[Z ≤ φ], Z ~ OUT).
Means are per-example medians (as the paper's code). With few shadows the paper recommends one global
variance per distribution rather than noisy per-example ones (`global_variance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MIN_STD = 1e-6


@dataclass(frozen=True)
class LiraScores:
    online: np.ndarray
    offline: np.ndarray
    in_per_example: int  # IN shadows behind each example's Gaussian (fewest over examples)
    out_per_example: int


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.nanmedian(np.where(mask, values, np.nan), axis=0)


def _spread(values: np.ndarray, mask: np.ndarray, centre: np.ndarray, global_variance: bool) -> np.ndarray:
    """Per-example std of the masked entries around `centre`, or one pooled std for all examples."""
    resid = np.where(mask, values - centre, np.nan)
    if global_variance:
        return np.full(values.shape[1], max(float(np.sqrt(np.nanmean(resid**2))), MIN_STD))
    return np.maximum(np.sqrt(np.nanmean(resid**2, axis=0)), MIN_STD)


def lira_scores(target: np.ndarray, shadow: np.ndarray, keep: np.ndarray, global_variance: bool = True) -> LiraScores:
    """`target` (n,) φ of the audited model; `shadow` (N, n) φ of the shadows; `keep` (N, n) IN mask."""
    n_in, n_out = keep.sum(axis=0), (~keep).sum(axis=0)
    if n_in.min() < 2 or n_out.min() < 2:
        raise ValueError("LiRA needs at least 2 IN and 2 OUT shadow models for every example")
    mu_in, mu_out = _masked_median(shadow, keep), _masked_median(shadow, ~keep)
    sd_in = _spread(shadow, keep, mu_in, global_variance)
    sd_out = _spread(shadow, ~keep, mu_out, global_variance)
    online = sps.norm.logpdf(target, mu_in, sd_in) - sps.norm.logpdf(target, mu_out, sd_out)
    offline = (target - mu_out) / sd_out
    return LiraScores(online=online, offline=offline, in_per_example=int(n_in.min()), out_per_example=int(n_out.min()))
