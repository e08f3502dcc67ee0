"""Group counts and the rates and disparities composed from them.

Everything works on count arrays with any leading batch shape, so the point estimate (shape
(groups,)) and all bootstrap resamples (shape (resamples, groups)) share one code path.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

# Indicator columns per row: n, label+, decision+, TP, FP, correct; then one decision column per class.
_FIXED = 6


def indicator_matrix(y_true: np.ndarray, y_pred: np.ndarray, positive_class: int, n_classes: int) -> np.ndarray:
    """(n, 6 + classes) float matrix whose group sums are the counts every rate needs."""
    pos, sel = y_true == positive_class, y_pred == positive_class
    fixed = [np.ones_like(pos), pos, sel, pos & sel, ~pos & sel, y_true == y_pred]
    by_class = [y_pred == c for c in range(n_classes)]
    return np.stack(fixed + by_class, axis=1).astype(np.float64)


@dataclass(frozen=True, eq=False)
class GroupCounts:
    """Per-group counts, shape (..., groups) (`selected_by_class`: (..., groups, classes))."""

    n: np.ndarray
    positives: np.ndarray  # label is the favourable class
    selected: np.ndarray  # prediction is the favourable class
    true_pos: np.ndarray
    false_pos: np.ndarray
    correct: np.ndarray
    selected_by_class: np.ndarray

    @classmethod
    def from_sums(cls, sums: np.ndarray) -> GroupCounts:
        """`sums`: (..., groups, 6 + classes) indicator sums."""
        return cls(*(sums[..., i] for i in range(_FIXED)), selected_by_class=sums[..., _FIXED:])

    @property
    def negatives(self) -> np.ndarray:
        return self.n - self.positives


def group_sums(indicators: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """(groups, k) indicator sums for the whole data."""
    return membership.astype(np.float64) @ indicators


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass(frozen=True, eq=False)
class GroupRates:
    """Per-group rates; NaN where a group has no rows (or no positives/negatives for a rate)."""

    base_rate: np.ndarray
    selection_rate: np.ndarray
    accuracy: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    fnr: np.ndarray
    precision: np.ndarray
    selection_by_class: np.ndarray  # (..., groups, classes)

    @classmethod
    def of(cls, c: GroupCounts) -> GroupRates:
        tpr = _ratio(c.true_pos, c.positives)
        return cls(
            base_rate=_ratio(c.positives, c.n),
            selection_rate=_ratio(c.selected, c.n),
            accuracy=_ratio(c.correct, c.n),
            tpr=tpr,
            fpr=_ratio(c.false_pos, c.negatives),
            fnr=1.0 - tpr,
            precision=_ratio(c.true_pos, c.selected),
            selection_by_class=_ratio(c.selected_by_class, c.n[..., None]),
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """An all-NaN resample (a group absent from it) is a NaN sample, handled downstream: no warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _spread(rates: np.ndarray, axis: int = -1) -> np.ndarray:
    """Largest minus smallest group rate, ignoring groups without data (fairlearn's between_groups)."""
    with _quiet():
        return np.nanmax(rates, axis=axis) - np.nanmin(rates, axis=axis)


def _min_over_max(rates: np.ndarray) -> np.ndarray:
    with _quiet():
        return np.nanmin(rates, axis=-1) / np.nanmax(rates, axis=-1)


def dp_difference(r: GroupRates) -> np.ndarray:
    return _spread(r.selection_rate)


def disparate_impact_ratio(r: GroupRates) -> np.ndarray:
    """Lowest over highest group selection rate (= fairlearn's demographic_parity_ratio)."""
    return _min_over_max(r.selection_rate)


def equal_opportunity_difference(r: GroupRates) -> np.ndarray:
    return _spread(r.tpr)


def equalized_odds_difference(r: GroupRates) -> np.ndarray:
    """The larger of the TPR and FPR spreads (fairlearn's agg='worst_case')."""
    return np.fmax(_spread(r.tpr), _spread(r.fpr))


def accuracy_gap(r: GroupRates) -> np.ndarray:
    return _spread(r.accuracy)


def worst_group_accuracy(r: GroupRates) -> np.ndarray:
    with _quiet():
        return np.nanmin(r.accuracy, axis=-1)


def multiclass_dp_difference(r: GroupRates) -> np.ndarray:
    """Largest, over classes, of the spread in how often each group is assigned that class."""
    with _quiet():
        return np.nanmax(_spread(r.selection_by_class, axis=-2), axis=-1)
