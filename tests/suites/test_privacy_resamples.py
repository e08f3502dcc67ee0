"""Bootstrap counts kept across the attacks of one run give the same CIs as counts drawn afresh."""

from __future__ import annotations

import numpy as np

from audit.suites.privacy import roc


def test_kept_counts_give_the_same_intervals_as_fresh_ones() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([1, 0], 150)
    scores = [rng.normal(labels * shift, 1.0) for shift in (0.2, 0.8, 1.5)]
    roc.forget_resamples()
    kept = [roc.bootstrap_roc_cis(s, labels, 200, seed=3) for s in scores]
    half = rng.permutation(labels.size)[:120]  # another label vector in between (ART's held-out half)
    roc.bootstrap_roc_cis(scores[0][half], labels[half], 200, seed=3)
    for s, expected in zip(scores, kept, strict=True):
        roc.forget_resamples()
        assert roc.bootstrap_roc_cis(s, labels, 200, seed=3) == expected
    assert roc.stratified_counts(labels, 200, 3) is roc.stratified_counts(labels, 200, 3)
    assert roc.stratified_counts(labels, 200, 4) is not roc.stratified_counts(labels, 200, 3)
    roc.forget_resamples()


def test_stratified_counts_are_each_sides_own_draws() -> None:
    """Members by `seed`, non-members by seed + 1, whether each side's rows are one block or scattered."""
    from audit.stats import resample_counts

    rng = np.random.default_rng(2)
    for labels in (np.repeat([1, 0], [130, 170]), rng.permutation(np.repeat([1, 0], [130, 170]))):
        roc.forget_resamples()
        counts = roc.stratified_counts(labels, 250, 9)
        assert counts.dtype == np.int32 and counts.shape == (250, 300)
        np.testing.assert_array_equal(counts[:, labels == 1], resample_counts(130, 250, 9, np.int32))
        np.testing.assert_array_equal(counts[:, labels == 0], resample_counts(170, 250, 10, np.int32))
    roc.forget_resamples()
