"""Tabular encoding shared by the reference loaders: standardised numerics, one-hot categoricals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.data.types import FeatureSpec


@dataclass(frozen=True)
class ColumnRoles:
    """How each raw column becomes model input. Columns not listed are not model inputs."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    sensitive: frozenset[str] = frozenset()  # model inputs that are also protected attributes (immutable)

    def ordered(self, columns: Sequence[str]) -> list[str]:
        """The model-input columns, in the raw frame's column order."""
        used = set(self.numeric) | set(self.categorical)
        return [c for c in columns if c in used]


@dataclass(frozen=True)
class EncodedTabular:
    x_train: torch.Tensor
    x_test: torch.Tensor
    feature_names: tuple[str, ...]
    features: tuple[FeatureSpec, ...]


def _categories(train: pd.Series, test: pd.Series) -> tuple[str, ...]:
    # The vocabulary comes from both splits so that a test-only category still gets a column.
    return tuple(sorted(set(train.astype(str).unique()) | set(test.astype(str).unique())))  # unique(): no row loop


def _standardise(train: pd.Series, test: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    values = train.to_numpy(dtype=np.float64)
    mean, std = values.mean(), values.std()
    scale = std if std > 0 else 1.0  # a constant column stays at 0 rather than dividing by zero
    return (values - mean) / scale, (test.to_numpy(dtype=np.float64) - mean) / scale


def _one_hot(column: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    codes = pd.Categorical(column.astype(str), categories=list(categories)).codes
    out = np.zeros((len(column), len(categories)))
    known = codes >= 0
    out[np.flatnonzero(known), codes[known]] = 1.0
    return out


def encode_tabular(train: pd.DataFrame, test: pd.DataFrame, roles: ColumnRoles) -> EncodedTabular:
    """Encode both splits with statistics from `train` only (no test leakage into the scaling)."""
    train_blocks: list[np.ndarray] = []
    test_blocks: list[np.ndarray] = []
    names: list[str] = []
    specs: list[FeatureSpec] = []
    for column in roles.ordered(list(train.columns)):
        start = len(names)
        protected = column in roles.sensitive
        if column in roles.numeric:
            tr, te = _standardise(train[column], test[column])
            train_blocks.append(tr[:, None])
            test_blocks.append(te[:, None])
            names.append(column)
            specs.append(FeatureSpec(column, "numeric", (start,), mutable=not protected, sensitive=protected))
        else:
            cats = _categories(train[column], test[column])
            train_blocks.append(_one_hot(train[column], cats))
            test_blocks.append(_one_hot(test[column], cats))
            names.extend(f"{column}={c}" for c in cats)
            columns = tuple(range(start, start + len(cats)))
            specs.append(FeatureSpec(column, "categorical", columns, cats, mutable=not protected, sensitive=protected))
    return EncodedTabular(
        x_train=torch.tensor(np.hstack(train_blocks), dtype=torch.float32),
        x_test=torch.tensor(np.hstack(test_blocks), dtype=torch.float32),
        feature_names=tuple(names),
        features=tuple(specs),
    )


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test row indices (each sorted) keeping every class's share in both splits."""
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        test_parts.append(rows[: int(round(len(rows) * test_fraction))])
    test_idx = np.sort(np.concatenate(test_parts))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx
