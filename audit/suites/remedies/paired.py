"""Paired bootstrap comparisons: one set of resample multiplicities (audit.stats) weighs both models' rows.

Every figure is computed under the all-ones weight row (the point estimate) and under each resample, for
the original and the variant alike, so a change's CI is the percentile interval of per-resample differences.
Group disparities use the fairness suite's engine (counts → rates → gaps), so they equal its figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats import exact_float, percentile_ci, resample_counts, weighted_auc
from audit.suites.fairness import disparity as d
from audit.suites.fairness.measures import group_shortfalls

GAP_METRICS: dict[str, tuple[Callable[[d.GroupRates], np.ndarray], tuple[str, ...]]] = {
    "dp_difference": (d.dp_difference, ("rows",)),
    "equalized_odds_difference": (d.equalized_odds_difference, ("rows", "positives", "negatives")),
    "accuracy_gap": (d.accuracy_gap, ("rows",)),
}
MIN_OUTCOME_COUNT = 10  # favourable / unfavourable labels a group needs for TPR/FPR gaps (as the fairness suite)


@dataclass(frozen=True, eq=False)
class Samples:
    """A figure's point estimate (weights row 0) and its bootstrap samples (the other rows)."""

    values: np.ndarray

    @property
    def point(self) -> float:
        return float(self.values[0])

    @property
    def ci(self) -> tuple[float, float]:
        return percentile_ci(self.values[1:])

    def minus(self, other: Samples) -> Samples:
        return Samples(self.values - other.values)


def weights(n: int, resamples: int, seed: int, dtype: type | None = None) -> np.ndarray:
    """(1 + resamples, n): a row of ones, then the bootstrap multiplicities (as `dtype`; by default the float type
    that holds sums over n rows exactly, for matrix products)."""
    dtype = dtype or exact_float(n)
    return np.vstack([np.ones((1, n), dtype), resample_counts(n, resamples, seed, dtype)])


def mean_samples(per_row: np.ndarray, w: np.ndarray) -> Samples:
    values = w @ per_row.astype(w.dtype)
    return Samples(values.astype(np.float64) / w.sum(axis=1, dtype=np.float64))


def auc_samples(scores: np.ndarray, is_member: np.ndarray, w: np.ndarray) -> Samples:
    return Samples(weighted_auc(scores, is_member, w))


@dataclass(frozen=True, eq=False)
class GroupGaps:
    samples: dict[str, Samples]  # metric -> samples
    insufficient: dict[str, str | None]  # metric -> why the groups cannot support it


def group_gaps(y: np.ndarray, pred: np.ndarray, groups: pd.Series, positive: int, n_classes: int,
               w: np.ndarray, min_group_size: int) -> GroupGaps:
    codes, labels = pd.factorize(groups.astype(str), sort=True)
    k = len(labels)
    indicators = d.indicator_matrix(y, pred, positive, n_classes)
    onehot = np.eye(k, dtype=w.dtype)[codes]
    per_row = (onehot[:, :, None] * indicators[:, None, :].astype(w.dtype)).reshape(len(y), -1)
    sums = (w @ per_row).astype(np.float64).reshape(w.shape[0], k, indicators.shape[1])
    rates = d.GroupRates.of(d.GroupCounts.from_sums(sums))
    whole = d.GroupCounts.from_sums(sums[0])
    samples, insufficient = {}, {}
    for metric, (compute, needs) in GAP_METRICS.items():
        samples[metric] = Samples(np.asarray(compute(rates), dtype=np.float64))
        problems: dict[str, str] = {}
        for need in needs:
            for label, why in zip(labels, group_shortfalls(whole, need, min_group_size, MIN_OUTCOME_COUNT),
                                  strict=True):
                if why and str(label) not in problems:
                    problems[str(label)] = why
        insufficient[metric] = ("too little data in group(s) " + "; ".join(f"{g}: {w}" for g, w in problems.items())
                                if problems else None)
    return GroupGaps(samples, insufficient)


def excludes_zero(ci: tuple[float, float]) -> bool:
    lo, hi = ci
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))
