"""Vectorised bootstrap of group counts: one index matrix, group sums by matrix products.

Resampling rows with replacement and summing a group's indicators equals weighting each row by
how often it was drawn, so every resample's group counts are one product `weights @ indicators`
(no Python loop over resamples, unlike fairlearn's sequential MetricFrame bootstrap).
"""

from __future__ import annotations

import numpy as np


def resampled_group_sums(weights: np.ndarray, indicators: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """(resamples, groups, k) indicator sums of every group in every resample."""
    groups, k = membership.shape[0], indicators.shape[1]
    per_group = (membership.T[:, :, None] * indicators[:, None, :]).reshape(indicators.shape[0], groups * k)
    sums = weights @ per_group.astype(weights.dtype)
    return sums.reshape(weights.shape[0], groups, k).astype(np.float64)
