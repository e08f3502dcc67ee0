"""Proxy detection: how well the non-sensitive model inputs predict each sensitive attribute."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.data.types import Dataset, FeatureSpec
from audit.stats import iter_resample_counts, macro_auc


@dataclass(frozen=True)
class ProxyResult:
    attribute: str
    auroc: float  # held-out AUROC (macro one-vs-rest when the attribute has more than two values)
    auroc_samples: np.ndarray  # bootstrap resamples of the held-out AUROC
    importance: tuple[tuple[str, float], ...]  # (original feature, share of |coefficient| mass), largest first
    n_fit: int
    n_eval: int


def candidate_features(data: Dataset) -> tuple[FeatureSpec, ...]:
    """Model-input features that are not themselves sensitive (every column when no specs are given)."""
    if data.features:
        return tuple(spec for spec in data.features if not spec.sensitive)
    sensitive = set(data.sensitive_attributes)
    return tuple(
        FeatureSpec(name, "numeric", (i,)) for i, name in enumerate(data.feature_names) if name not in sensitive
    )


def stratified_halves(labels: np.ndarray, rng: np.random.Generator, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded fit/evaluation split, half of every group each side (capped at `max_rows` per side)."""
    fit, held = [], []
    for value in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == value))
        cut = (len(rows) + 1) // 2
        fit.append(rows[:cut])
        held.append(rows[cut:])
    fit_rows, held_rows = np.concatenate(fit), np.concatenate(held)
    return _cap(fit_rows, rng, max_rows), _cap(held_rows, rng, max_rows)


def _cap(rows: np.ndarray, rng: np.random.Generator, max_rows: int) -> np.ndarray:
    return np.sort(rows if len(rows) <= max_rows else rng.choice(rows, max_rows, replace=False))


def detect_proxies(x: np.ndarray, labels: np.ndarray, attribute: str, features: tuple[FeatureSpec, ...],
                   rng: np.random.Generator, resamples: int, max_rows: int) -> ProxyResult:
    """Fit a seeded logistic regression on half the rows; AUROC (bootstrap CI) on the other half."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    columns = [c for spec in features for c in spec.columns]
    inputs = x[:, columns]
    fit_rows, eval_rows = stratified_halves(labels, rng, max_rows)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(inputs[fit_rows], labels[fit_rows])
    classes = model.classes_
    proba = model.predict_proba(inputs[eval_rows])
    truth = np.searchsorted(classes, labels[eval_rows])  # every held-out value is also a fitted class
    point = float(macro_auc(proba, truth, np.ones((1, len(eval_rows))))[0])
    # integer multiplicities keep weighted_auc on its exact int32 path (floats are widened to float64 there)
    # chunk by chunk: the draws of resample_counts, without stacking a (resamples, rows) matrix
    chunks = [macro_auc(proba, truth, counts) for counts in iter_resample_counts(len(eval_rows), resamples, rng,
                                                                                 dtype=np.int32)]
    samples = np.concatenate(chunks) if chunks else np.zeros(0)
    return ProxyResult(attribute, point, samples, _importance(model[-1].coef_, features, columns),
                       len(fit_rows), len(eval_rows))


def _importance(coef: np.ndarray, features: tuple[FeatureSpec, ...],
                columns: list[int]) -> tuple[tuple[str, float], ...]:
    """Mean |standardised coefficient| per input column, summed back to its original feature, as shares."""
    per_column = dict(zip(columns, np.abs(coef).mean(axis=0), strict=True))
    totals = {spec.name: float(sum(per_column[c] for c in spec.columns)) for spec in features}
    mass = sum(totals.values()) or 1.0
    return tuple(sorted(((name, value / mass) for name, value in totals.items()), key=lambda kv: -kv[1]))
