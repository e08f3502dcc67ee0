"""The features that shift is tested on: original tabular features, or pixel PCA components for images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.data.types import Dataset, FeatureSpec, Split
from audit.suites.data.proportions import unique_inverse

UNKNOWN_CATEGORY = "(none)"
PCA_FIT_ROWS = 5_000
MAX_NATIVE_CATEGORIES = 250  # the gradient-boosted trees' limit on categories of one feature


@dataclass(frozen=True)
class FeaturePair:
    """One feature's values in the training and in the audit rows."""

    name: str
    kind: str  # "numeric" | "categorical"
    train: np.ndarray
    audit: np.ndarray


def _flat(split: Split) -> np.ndarray:
    return split.x.reshape(len(split), -1).numpy().astype(np.float64)


def _values(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    if spec.kind == "numeric":
        return x[:, spec.columns[0]]
    block = x[:, list(spec.columns)]
    names = np.array([*spec.categories, UNKNOWN_CATEGORY], dtype=object)
    return names[np.where(block.max(axis=1) > 0, block.argmax(axis=1), len(spec.categories))]


def feature_pairs(data: Dataset, components: int, seed: int) -> tuple[FeaturePair, ...]:
    """Per-feature values for both splits."""
    assert data.train is not None
    xtr, xte = _flat(data.train), _flat(data.test)
    if data.input_kind == "image" or not data.features:
        xtr, xte = _pixel_components(xtr, xte, components, seed) if data.input_kind == "image" else (xtr, xte)
        names = _column_names(data, xtr.shape[1])
        return tuple(FeaturePair(names[j], "numeric", xtr[:, j], xte[:, j]) for j in range(xtr.shape[1]))
    return tuple(FeaturePair(f.name, f.kind, _values(xtr, f), _values(xte, f)) for f in data.features)


def _column_names(data: Dataset, width: int) -> tuple[str, ...]:
    if data.input_kind == "image":
        return tuple(f"pixel PC{j + 1}" for j in range(width))
    if len(data.feature_names) == width:  # e.g. a text model's embedding[i] inputs
        return data.feature_names
    return tuple(f"x{j + 1}" for j in range(width))


def domain_matrices(pairs: tuple[FeaturePair, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training, audit, categorical mask): one column per feature, categories as integer codes, so the
    domain classifier splits on a category directly (and fits far faster than on one-hot columns)."""
    train_cols, audit_cols, categorical = [], [], []
    for p in pairs:
        if p.kind == "numeric":
            train_cols.append(p.train.astype(float))
            audit_cols.append(p.audit.astype(float))
            categorical.append(False)
            continue
        _, codes = unique_inverse(np.concatenate([p.train, p.audit]).astype(str))
        train_cols.append(codes[: p.train.size].astype(float))
        audit_cols.append(codes[p.train.size :].astype(float))
        categorical.append(bool(codes.max() < MAX_NATIVE_CATEGORIES))  # beyond: ordinal codes
    return np.column_stack(train_cols), np.column_stack(audit_cols), np.array(categorical)


def _pixel_components(xtr: np.ndarray, xte: np.ndarray, components: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A simple embedding: PCA fitted on (a sample of) the training images, applied to both splits."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    fit_rows = rng.permutation(xtr.shape[0])[:PCA_FIT_ROWS]
    k = min(components, xtr.shape[1], fit_rows.size)
    pca = PCA(n_components=k, random_state=seed % 2**32).fit(xtr[fit_rows])
    return pca.transform(xtr), pca.transform(xte)
