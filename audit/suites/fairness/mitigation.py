"""Mitigation preview: what fairlearn's ThresholdOptimizer on the model's own scores would change.

Thresholds are fitted on one half of the audit rows and evaluated on the other, so the preview does
not grade the optimiser on the rows it tuned to. Scores are placed on a grid of SCORE_GRID (0.001) first: the
optimiser walks every distinct score in Python, so thresholds finer than a thousandth of a probability cost
seconds and change a preview's figures in the fourth decimal at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.suites.fairness.disparity import (
    GroupCounts,
    GroupRates,
    dp_difference,
    equalized_odds_difference,
    group_sums,
    indicator_matrix,
)

CONSTRAINTS = ("demographic_parity", "equalized_odds")
SCORE_GRID = 1e-3  # resolution of the thresholds the preview may choose


@dataclass(frozen=True)
class MitigationOutcome:
    attribute: str
    constraint: str
    n_fit: int
    n_eval: int
    accuracy_before: float
    accuracy_after: float
    dp_difference_before: float
    dp_difference_after: float
    eo_difference_before: float
    eo_difference_after: float

    @property
    def accuracy_cost(self) -> float:
        return self.accuracy_before - self.accuracy_after


def _scores_as_input() -> object:
    """A fitted sklearn regressor whose single input column is already the model's favourable-class score."""
    from sklearn.base import BaseEstimator, RegressorMixin

    class ScoresAsInput(RegressorMixin, BaseEstimator):
        def fit(self, x: np.ndarray, y: np.ndarray) -> ScoresAsInput:
            self.fitted_ = True
            return self

        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.asarray(x)[:, 0]

    return ScoresAsInput().fit(np.zeros((1, 1)), np.zeros(1))


@dataclass(frozen=True, eq=False)
class BinaryOutcomes:
    """The model's favourable-class scores and decisions, and the true labels, per audit row."""

    scores: np.ndarray
    selected: np.ndarray
    y_pos: np.ndarray


def preview(outcomes: BinaryOutcomes, groups: np.ndarray, attribute: str, constraint: str,
            halves: tuple[np.ndarray, np.ndarray], seed: int) -> MitigationOutcome:
    """Fit group thresholds for `constraint` on the first half of rows; compare before/after on the second."""
    from fairlearn.postprocessing import ThresholdOptimizer

    fit_rows, eval_rows = halves
    scores, selected, y_pos = outcomes.scores, outcomes.selected, outcomes.y_pos
    optimizer = ThresholdOptimizer(estimator=_scores_as_input(), constraints=constraint, prefit=True,
                                   predict_method="predict")
    inputs = (np.round(scores / SCORE_GRID) * SCORE_GRID)[:, None]
    optimizer.fit(inputs[fit_rows], y_pos[fit_rows].astype(int), sensitive_features=groups[fit_rows])
    y_eval, g_eval = y_pos[eval_rows].astype(int), groups[eval_rows]
    before = selected[eval_rows].astype(int)
    after = np.asarray(optimizer.predict(inputs[eval_rows], sensitive_features=g_eval, random_state=seed)).astype(int)
    rates_before, rates_after = _rates(y_eval, before, g_eval), _rates(y_eval, after, g_eval)
    return MitigationOutcome(
        attribute=attribute, constraint=constraint, n_fit=len(fit_rows), n_eval=len(eval_rows),
        accuracy_before=float((before == y_eval).mean()), accuracy_after=float((after == y_eval).mean()),
        dp_difference_before=float(dp_difference(rates_before)), dp_difference_after=float(dp_difference(rates_after)),
        eo_difference_before=float(equalized_odds_difference(rates_before)),
        eo_difference_after=float(equalized_odds_difference(rates_after)),
    )


def _rates(y: np.ndarray, decisions: np.ndarray, groups: np.ndarray) -> GroupRates:
    """Binary (0/1) labels and decisions -> per-group rates (fairlearn's definitions; tested against it)."""
    labels, codes = np.unique(groups, return_inverse=True)
    membership = codes[None, :] == np.arange(len(labels))[:, None]
    indicators = indicator_matrix(y, decisions, positive_class=1, n_classes=2)
    return GroupRates.of(GroupCounts.from_sums(group_sums(indicators, membership)))
