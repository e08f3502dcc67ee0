"""Vectorised bootstrap of group counts: one index matrix, group sums by matrix products.

Resampling rows with replacement and summing a group's indicators equals weighting each row by
how often it was drawn, so every resample's group counts are one product `weights @ indicators`
(no Python loop over resamples, unlike fairlearn's sequential MetricFrame bootstrap).

Rows that agree on everything the counts read (their group on every axis, their label and their prediction) are
interchangeable, so `cell_resamples` draws each resample's count of every such cell from the multinomial
distribution a row bootstrap induces on them: the same distribution as resampling the n rows, at a cost that
depends on the number of cells (tens to hundreds) rather than on n.
"""

from __future__ import annotations

import numpy as np


def resampled_group_sums(weights: np.ndarray, indicators: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """(resamples, groups, k) indicator sums of every group in every resample."""
    groups, k = membership.shape[0], indicators.shape[1]
    per_group = (membership.T[:, :, None] * indicators[:, None, :]).reshape(indicators.shape[0], groups * k)
    sums = weights @ per_group.astype(weights.dtype)
    return sums.reshape(weights.shape[0], groups, k).astype(np.float64)


def cell_resamples(keys: np.ndarray, resamples: int, rng: np.random.Generator,
                   dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Row bootstrap as cell counts. `keys`: (n, m) non-negative integer codes of what each row is counted by.

    Returns (one row index per cell, (resamples, cells) counts): resample r holds counts[r, c] copies of cell c's
    rows, a Multinomial(n, cell shares) draw, which is exactly how a resample of n rows with replacement falls on
    the cells."""
    n = keys.shape[0]
    key, width = np.zeros(n, np.int64), 1
    for column in keys.T:
        size = int(column.max()) + 1 if n else 1
        width *= size
        if width >= 2**62:  # too many combinations for one integer: a row-wise unique
            _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            break
        key = key * size + column
    else:
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    shares = np.bincount(inverse.ravel(), minlength=first.size) / max(n, 1)
    return first, rng.multinomial(n, shares, size=resamples).astype(dtype)
