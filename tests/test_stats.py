"""Shared bootstrap machinery: multiplicities equal explicit resampling; exact binomial bounds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from audit import stats


def test_counts_equal_explicit_resamples_and_chunking_keeps_the_stream() -> None:
    values = np.random.default_rng(0).normal(size=50)
    idx = stats.bootstrap_indices(50, 230, seed=4)
    counts = stats.resample_counts(50, 230, np.random.default_rng(4))
    assert counts.shape == (230, 50) and (counts.sum(axis=1) == 50).all()
    np.testing.assert_allclose(counts @ values / 50, values[idx].mean(axis=1))
    chunks = np.vstack(list(stats.iter_resample_counts(50, 230, np.random.default_rng(4), chunk=7)))
    np.testing.assert_array_equal(chunks, counts)


def test_clopper_pearson_matches_scipy_binomtest() -> None:
    for k, n in [(0, 20), (3, 20), (20, 20), (57, 400)]:
        expected = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert stats.clopper_pearson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)
