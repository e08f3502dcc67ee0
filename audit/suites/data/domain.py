"""A domain classifier: how well can a model tell audit rows from training rows? AUC 0.5 means not at all.

Cross-fitted on two halves, so every row's score comes from a classifier that never saw it. The AUC's CI is
DeLong's (exact structural-component variance, O(n log n)); like a bootstrap over the held-out rows it
covers the sampling of those rows, not the variation of the classifier between fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from audit.stats import DEFAULT_ALPHA, weighted_auc


@dataclass(frozen=True)
class DomainScores:
    auc: float
    ci: tuple[float, float]
    train_rows: np.ndarray  # training row indices scored
    audit_rows: np.ndarray  # audit row indices scored
    audit_scores: np.ndarray  # P(audit) for each scored audit row, out of fold
    iterations: int
    # Held-out AUC lost when one feature's column is shuffled (only the features asked for): what the
    # classifier itself uses to tell the splits apart.
    importance: dict[int, float] = field(default_factory=dict)


IMPORTANCE_ROWS = 2_500  # default held-out rows per half for the permutation importance (ranking, not a gated figure)


def _sample(n: int, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= max_rows else np.sort(rng.permutation(n)[:max_rows])


def delong_interval(scores: np.ndarray, is_pos: np.ndarray, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
    """DeLong et al. (1988) normal interval of the AUC, via midranks (Sun & Xu 2014), clipped to [0, 1]."""
    pos, neg = scores[is_pos], scores[~is_pos]
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        return (float("nan"), float("nan"))
    pooled = sps.rankdata(np.concatenate([pos, neg]))
    auc = (pooled[:m].sum() - m * (m + 1) / 2) / (m * n)
    v_pos = (pooled[:m] - sps.rankdata(pos)) / n  # each positive's share of negatives ranked below it
    v_neg = 1.0 - (pooled[m:] - sps.rankdata(neg)) / m  # each negative's share of positives ranked above it
    se = float(np.sqrt(v_pos.var(ddof=1) / m + v_neg.var(ddof=1) / n))
    z = float(sps.norm.ppf(1 - alpha / 2))
    return (float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se)))


def _auc(scores: np.ndarray, is_pos: np.ndarray) -> float:
    return float(weighted_auc(scores, is_pos, np.ones((1, scores.size)))[0])


def domain_scores(xtr: np.ndarray, xte: np.ndarray, categorical: np.ndarray, max_rows: int, iterations: int,
                  seed: int, explain: tuple[int, ...] = (), importance_rows: int = IMPORTANCE_ROWS) -> DomainScores:
    """Cross-fitted P(audit) for a sample of rows; `explain`: columns whose permutation importance to measure."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    train_rows, audit_rows = _sample(xtr.shape[0], max_rows, rng), _sample(xte.shape[0], max_rows, rng)
    x = np.vstack([xtr[train_rows], xte[audit_rows]])
    is_audit = np.r_[np.zeros(train_rows.size, bool), np.ones(audit_rows.size, bool)]
    scores = np.zeros(is_audit.size)
    probe = np.zeros(is_audit.size, bool)  # held-out rows the permutation importance is measured on
    shuffled = {j: np.zeros(is_audit.size) for j in explain}
    for fit, held in StratifiedKFold(2, shuffle=True, random_state=seed % 2**32).split(x, is_audit):
        clf = HistGradientBoostingClassifier(max_iter=iterations, early_stopping=False,
                                             categorical_features=categorical if categorical.any() else None,
                                             random_state=seed % 2**32).fit(x[fit], is_audit[fit])
        scores[held] = clf.predict_proba(x[held])[:, 1]
        rows = np.sort(rng.permutation(held)[:importance_rows])
        probe[rows] = True
        if explain:  # every shuffled copy scored in one call (per-tree call overhead dominates small calls)
            copies = np.tile(x[rows], (len(explain), 1))
            for i, j in enumerate(explain):
                block = slice(i * rows.size, (i + 1) * rows.size)
                copies[block, j] = rng.permutation(copies[block, j])
            scored = clf.predict_proba(copies)[:, 1].reshape(len(explain), rows.size)
            for i, j in enumerate(explain):
                shuffled[j][rows] = scored[i]
    auc = _auc(scores, is_audit)
    reference = _auc(scores[probe], is_audit[probe])
    importance = {j: reference - _auc(shuffled[j][probe], is_audit[probe]) for j in explain}
    return DomainScores(auc, delong_interval(scores, is_audit), train_rows, audit_rows, scores[is_audit], iterations,
                        importance)
