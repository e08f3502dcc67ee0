"""The balanced evaluation set: equal numbers of members (training rows) and non-members (held-out rows).

Held-out rows whose features exactly equal some training row are members in all but name (the model
saw that input), so they are counted, reported and excluded. The training rows with those same features
are excluded too: dropping common feature vectors from one side only would make the two sides differ in
distribution, and the attacks would pick up that difference instead of memorisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset, Split
from audit.errors import AuditInputError, SuiteSkipped

NO_TRAINING_DATA = "needs the model's training rows (--train-data)"
MIN_PER_SIDE = 50
# Past this share of held-out rows duplicated in training, the two files are almost surely the same data.
MAX_OVERLAP_SHARE = 0.5


@dataclass(frozen=True)
class EvaluationSet:
    """Rows ordered members first; `labels` 1 for members, 0 for non-members."""

    x: torch.Tensor
    y: torch.Tensor
    labels: np.ndarray
    sensitive: pd.DataFrame
    n_per_side: int
    overlap: int  # held-out rows identical to a training row (excluded)
    overlap_members: int  # training rows identical to a held-out row (excluded likewise)
    members_available: int
    nonmembers_available: int


def _row_keys(x: torch.Tensor) -> list[bytes]:
    return [row.tobytes() for row in x.reshape(x.shape[0], -1).numpy()]


def _in_other(keys: list[bytes], other: set[bytes]) -> np.ndarray:
    return np.array([key in other for key in keys], dtype=bool)


def overlap_masks(train: Split, test: Split) -> tuple[np.ndarray, np.ndarray]:
    """Rows of train, and of test, whose feature vector also occurs in the other split (exact match)."""
    train_keys, test_keys = _row_keys(train.x), _row_keys(test.x)
    return _in_other(train_keys, set(test_keys)), _in_other(test_keys, set(train_keys))


def _check_overlap(overlap: int, n_test: int) -> None:
    if n_test and overlap / n_test > MAX_OVERLAP_SHARE:
        raise AuditInputError(
            f"{overlap} of {n_test} held-out rows also appear in the training data: members and non-members "
            "overlap too much to measure membership leakage. Pass the model's training rows with --train-data "
            "and rows it never saw with --data."
        )


def balanced_evaluation_set(data: Dataset, max_per_side: int, rng: np.random.Generator) -> EvaluationSet:
    """A seeded sample of n members and n non-members, n = min(available, max_per_side), n even."""
    if data.train is None or len(data.train) == 0:
        raise SuiteSkipped(NO_TRAINING_DATA)
    train_dup, test_dup = overlap_masks(data.train, data.test)
    _check_overlap(int(test_dup.sum()), len(data.test))
    clean_train, clean_test = np.flatnonzero(~train_dup), np.flatnonzero(~test_dup)
    n = min(clean_train.size, clean_test.size, max_per_side) // 2 * 2
    if n < MIN_PER_SIDE:
        raise SuiteSkipped(
            f"too few rows to measure membership leakage: {clean_train.size} members and {clean_test.size} "
            f"non-members (after removing duplicates); at least {MIN_PER_SIDE} of each are needed"
        )
    members = np.sort(rng.choice(clean_train, n, replace=False))
    nonmembers = np.sort(rng.choice(clean_test, n, replace=False))
    train_part = data.train.subset(torch.as_tensor(members))
    test_part = data.test.subset(torch.as_tensor(nonmembers))
    return EvaluationSet(
        x=torch.cat([train_part.x, test_part.x]),
        y=torch.cat([train_part.y, test_part.y]),
        labels=np.r_[np.ones(n, int), np.zeros(n, int)],
        sensitive=pd.concat([train_part.sensitive, test_part.sensitive], ignore_index=True),
        n_per_side=n, overlap=int(test_dup.sum()), overlap_members=int(train_dup.sum()),
        members_available=len(data.train), nonmembers_available=int(clean_test.size),
    )
