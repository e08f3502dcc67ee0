"""Mitigation preview: what fairlearn's ThresholdOptimizer on the model's own scores would change.

Thresholds are fitted on one half of the audit rows and evaluated on the other, so the preview does
not grade the optimiser on the rows it tuned to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.suites.fairness.proxies import stratified_halves

CONSTRAINTS = ("demographic_parity", "equalized_odds")


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


class _ScoresAsInput:
    """A 'prefit' estimator whose input is already the model's favourable-class score."""

    fitted_ = True

    def fit(self, x: np.ndarray, y: np.ndarray) -> _ScoresAsInput:
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)[:, 0]


def preview(scores: np.ndarray, selected: np.ndarray, y_pos: np.ndarray, groups: np.ndarray, attribute: str,
            constraint: str, rng: np.random.Generator, seed: int) -> MitigationOutcome:
    """Fit group thresholds for `constraint` on half the rows; compare before/after on the other half.

    `scores`: the model's favourable-class probability; `selected`: its actual favourable decisions.
    """
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
    from fairlearn.postprocessing import ThresholdOptimizer

    fit_rows, eval_rows = stratified_halves(groups, rng, max_rows=len(groups))
    optimizer = ThresholdOptimizer(estimator=_ScoresAsInput(), constraints=constraint, prefit=True,
                                   predict_method="predict")
    inputs = scores[:, None]
    optimizer.fit(inputs[fit_rows], y_pos[fit_rows].astype(int), sensitive_features=groups[fit_rows])
    y_eval, g_eval = y_pos[eval_rows].astype(int), groups[eval_rows]
    before = selected[eval_rows].astype(int)
    after = np.asarray(optimizer.predict(inputs[eval_rows], sensitive_features=g_eval, random_state=seed)).astype(int)
    return MitigationOutcome(
        attribute=attribute, constraint=constraint, n_fit=len(fit_rows), n_eval=len(eval_rows),
        accuracy_before=float((before == y_eval).mean()), accuracy_after=float((after == y_eval).mean()),
        dp_difference_before=float(demographic_parity_difference(y_eval, before, sensitive_features=g_eval)),
        dp_difference_after=float(demographic_parity_difference(y_eval, after, sensitive_features=g_eval)),
        eo_difference_before=float(equalized_odds_difference(y_eval, before, sensitive_features=g_eval)),
        eo_difference_after=float(equalized_odds_difference(y_eval, after, sensitive_features=g_eval)),
    )
