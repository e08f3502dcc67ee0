"""Empirical lower bound on the differential-privacy ε a model could be claimed to satisfy.

Jagielski et al. 2020 ("Auditing Differentially Private Machine Learning"): if training is
(ε, δ)-DP, every membership test with true-positive rate TPR and false-positive rate FPR obeys

    TPR ≤ e^ε · FPR + δ            and            1 − FPR ≤ e^ε · (1 − TPR) + δ

so, with 95% Clopper–Pearson bounds (TPR_lo from below, FPR_hi from above, two-sided α = 0.05),

    ε ≥ max(0, ln((TPR_lo − δ) / FPR_hi), ln((1 − FPR_hi − δ) / (1 − TPR_lo))),   δ = 1e-5.

Choosing the threshold on the same rows that bound it would overstate ε, so the threshold is picked
on a random half of the members and non-members and the bound is computed on the other half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

DELTA = 1e-5
ALPHA = 0.05


@dataclass(frozen=True)
class EpsilonBound:
    value: float  # the 95%-confidence lower bound on ε (0 when the attack shows nothing)
    threshold: float  # attack score threshold chosen on the selection half
    tpr: float  # on the evaluation half
    fpr: float
    tpr_lo: float
    fpr_hi: float
    n_members: int  # evaluation half
    n_nonmembers: int
    max_demonstrable: float  # the bound a perfect attack would reach with this many rows
    delta: float = DELTA


def cp_lower(k: np.ndarray, n: int, alpha: float = ALPHA) -> np.ndarray:
    """Vectorised Clopper–Pearson lower bound (as audit.stats.clopper_pearson)."""
    k = np.asarray(k, float)
    safe = np.maximum(k, 1)
    return np.where(k == 0, 0.0, sps.beta.ppf(alpha / 2, safe, n - safe + 1))


def cp_upper(k: np.ndarray, n: int, alpha: float = ALPHA) -> np.ndarray:
    k = np.asarray(k, float)
    safe = np.minimum(k, n - 1)
    return np.where(k == n, 1.0, sps.beta.ppf(1 - alpha / 2, safe + 1, n - safe))


def epsilon_from_counts(tp: np.ndarray, n_pos: int, fp: np.ndarray, n_neg: int, delta: float = DELTA) -> np.ndarray:
    """The bound above for true-positive counts `tp` of `n_pos` members and `fp` of `n_neg` non-members."""
    tpr_lo, fpr_hi = cp_lower(tp, n_pos), cp_upper(fp, n_neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log(np.clip(tpr_lo - delta, 0, None) / fpr_hi)
        complement = np.log(np.clip(1 - fpr_hi - delta, 0, None) / (1 - tpr_lo))
    return np.maximum(0.0, np.nan_to_num(np.maximum(direct, complement), nan=0.0, neginf=0.0))


def _counts_at(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives ("member" when score >= threshold) at each threshold."""
    pos = np.sort(scores[labels == 1])
    neg = np.sort(scores[labels == 0])
    tp = pos.size - np.searchsorted(pos, thresholds, side="left")
    fp = neg.size - np.searchsorted(neg, thresholds, side="left")
    return tp, fp


def _half_split(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the selection half, drawn separately among members and non-members."""
    select = np.zeros(labels.size, bool)
    for value in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == value))
        select[rows[: rows.size // 2]] = True
    return select


def epsilon_lower_bound(scores: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                        delta: float = DELTA) -> EpsilonBound:
    scores, labels = np.asarray(scores, float), np.asarray(labels).astype(int)
    select = _half_split(labels, rng)
    sel_scores, sel_labels = scores[select], labels[select]
    candidates = np.unique(sel_scores)
    tp, fp = _counts_at(sel_scores, sel_labels, candidates)
    sel_eps = epsilon_from_counts(tp, int(sel_labels.sum()), fp, int((sel_labels == 0).sum()), delta)
    threshold = float(candidates[int(np.argmax(sel_eps))])

    ev_scores, ev_labels = scores[~select], labels[~select]
    n_pos, n_neg = int(ev_labels.sum()), int((ev_labels == 0).sum())
    tp_e, fp_e = _counts_at(ev_scores, ev_labels, np.array([threshold]))
    value = float(epsilon_from_counts(tp_e, n_pos, fp_e, n_neg, delta)[0])
    best = float(epsilon_from_counts(np.array([n_pos]), n_pos, np.array([0]), n_neg, delta)[0])
    return EpsilonBound(
        value=value, threshold=threshold, tpr=float(tp_e[0] / n_pos), fpr=float(fp_e[0] / n_neg),
        tpr_lo=float(cp_lower(tp_e, n_pos)[0]), fpr_hi=float(cp_upper(fp_e, n_neg)[0]),
        n_members=n_pos, n_nonmembers=n_neg, max_demonstrable=best, delta=delta,
    )
