"""Attribute inference, and a check that members and non-members come from the same distribution.

Attribute inference (the set-up of ART's AttributeInferenceBlackBox vs AttributeInferenceBaseline, with
scikit-learn classifiers): an attacker who knows a training member's non-sensitive features and true
label tries to infer a sensitive attribute. One classifier also sees the model's predicted
probabilities, a baseline does not; the gain in AUC is what the model's outputs leak. Both are scored
out-of-fold (5-fold cross-validation) on the same rows, and the CI comes from paired bootstrap resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.stats import macro_auc, percentile_ci, resample_counts, weighted_auc
from audit.suites.privacy.logistic import out_of_fold_proba
from audit.types import Measurement, Table

MIN_ROWS_PER_GROUP = 10
FOLDS = 5
MAX_LINEAR_FEATURES = 50


@dataclass(frozen=True)
class AttributeInference:
    attribute: str
    groups: tuple[str, ...]
    n: int
    attacker_auc: float
    baseline_auc: float
    auc_gain_ci: tuple[float, float]
    attacker_accuracy: float
    baseline_accuracy: float
    dropped_rows: int  # rows of groups too small to learn (< MIN_ROWS_PER_GROUP)


@dataclass(frozen=True)
class ShiftCheck:
    """Can membership be told from the features alone? Then attack figures measure data shift, not memory."""

    auc: float
    ci: tuple[float, float]
    n: int


def _out_of_fold_proba(features: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of a standardised, L2-regularised logistic regression.

    A linear model on purpose: it is fast, and with few rows it does not overfit extra inputs
    (a flexible model can score *worse* with the outputs added, hiding a leak). Wide inputs (images)
    are first reduced to their leading principal components. Solved by Newton steps on the objective of
    scikit-learn's pipeline (audit.suites.privacy.logistic; tests compare the two).
    """
    if features.shape[1] == 0:  # nothing known: the prior, the same for every row
        return np.tile(np.bincount(target) / target.size, (target.size, 1))
    return out_of_fold_proba(features, target, FOLDS, seed, MAX_LINEAR_FEATURES)


def _logits(probs: np.ndarray) -> np.ndarray:
    """Log-probabilities: a linear attacker reads confidence better on this scale."""
    return np.log(np.clip(probs, 1e-12, 1.0))


def infer_attribute(attribute: str, known: np.ndarray, outputs: np.ndarray, groups: np.ndarray,
                    resamples: int, seed: int) -> AttributeInference | None:
    """Attacker (known + outputs) vs baseline (known); None when fewer than two groups are large enough."""
    names, codes, sizes = np.unique(groups.astype(str), return_inverse=True, return_counts=True)
    big = sizes >= MIN_ROWS_PER_GROUP
    rows = big[codes]
    if big.sum() < 2:
        return None
    kept_names = names[big]
    target = np.searchsorted(kept_names, names[codes[rows]])
    known, outputs = known[rows], outputs[rows]
    attacker = _out_of_fold_proba(np.hstack([known, _logits(outputs)]), target, seed)
    baseline = _out_of_fold_proba(known, target, seed)
    ones = np.ones((1, target.size), np.int32)
    counts = np.vstack([ones, resample_counts(target.size, resamples, seed, np.int32)])
    att_auc, base_auc = macro_auc(attacker, target, counts), macro_auc(baseline, target, counts)
    return AttributeInference(
        attribute=attribute, groups=tuple(str(g) for g in kept_names), n=int(target.size),
        attacker_auc=float(att_auc[0]), baseline_auc=float(base_auc[0]),
        auc_gain_ci=percentile_ci(att_auc[1:] - base_auc[1:]),
        attacker_accuracy=float((attacker.argmax(1) == target).mean()),
        baseline_accuracy=float((baseline.argmax(1) == target).mean()),
        dropped_rows=int((~rows).sum()),
    )


def membership_shift(features: np.ndarray, labels: np.ndarray, resamples: int, seed: int) -> ShiftCheck:
    """Out-of-fold AUC of telling members from non-members by their features only (0.5 = same distribution)."""
    proba = _out_of_fold_proba(features, labels.astype(int), seed)[:, 1]
    counts = np.vstack([np.ones((1, labels.size), np.int32), resample_counts(labels.size, resamples, seed, np.int32)])
    auc = weighted_auc(proba, labels, counts)
    return ShiftCheck(auc=float(auc[0]), ci=percentile_ci(auc[1:]), n=int(labels.size))


def attribute_measurement(r: AttributeInference, resamples: int, seed: int) -> Measurement:
    return Measurement(
        f"attribute_inference_auc_gain[{r.attribute}]", r.attacker_auc - r.baseline_auc, r.auc_gain_ci, False, r.n,
        f"How much better an attacker infers a training member's {r.attribute} when it also sees the model's "
        "outputs than from the member's other features and label alone (AUC points; 0 means no leak).",
        {"attacker_auc": r.attacker_auc, "baseline_auc": r.baseline_auc, "attacker_accuracy": r.attacker_accuracy,
         "baseline_accuracy": r.baseline_accuracy, "groups": list(r.groups), "dropped_rows": r.dropped_rows,
         "classifier": "standardised logistic regression, 5-fold out-of-fold", "bootstrap_resamples": resamples,
         "seed": seed, "auc": "one-vs-rest macro" if len(r.groups) > 2 else "binary"},
    )


def attribute_table(results: list[AttributeInference]) -> Table:
    rows = tuple(
        (r.attribute, r.n, f"{r.baseline_auc:.3f}", f"{r.attacker_auc:.3f}",
         f"{r.attacker_auc - r.baseline_auc:+.3f} [{r.auc_gain_ci[0]:+.3f}, {r.auc_gain_ci[1]:+.3f}]",
         f"{r.baseline_accuracy:.3f}", f"{r.attacker_accuracy:.3f}")
        for r in results
    )
    return Table(
        id="privacy-attribute-inference", title="Attribute inference on training members",
        columns=("Attribute", "Rows", "Baseline AUC", "With model outputs AUC", "Gain [95% CI]",
                 "Baseline accuracy", "With outputs accuracy"),
        rows=rows,
        caption="Baseline: the member's non-sensitive features and label; attacker: the same plus the model's "
                "predicted probabilities.",
    )
