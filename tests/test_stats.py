"""Shared bootstrap machinery: multiplicities equal explicit resampling; exact binomial bounds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from audit import stats


def test_counts_equal_explicit_resamples_and_chunking_keeps_the_stream() -> None:
    values = np.random.default_rng(0).normal(size=50)
    idx = stats.bootstrap_indices(50, 230, seed=4)
    counts = stats.resample_counts(50, 230, np.random.default_rng(4))
    assert counts.shape == (230, 50) and (counts.sum(axis=1) == 50).all()
    np.testing.assert_allclose(counts @ values / 50, values[idx].mean(axis=1))
    chunks = np.vstack(list(stats.iter_resample_counts(50, 230, np.random.default_rng(4), chunk=7)))
    np.testing.assert_array_equal(chunks, counts)



def test_one_resample_api_takes_a_seed_or_a_generator_and_any_dtype() -> None:
    by_seed = stats.resample_counts(40, 9, 3, np.int32)
    assert by_seed.dtype == np.int32
    np.testing.assert_array_equal(by_seed, stats.resample_counts(40, 9, np.random.default_rng(3)))
    assert stats.resample_counts(40, 0, 3).shape == (0, 40)
    assert stats.exact_float(2**24 - 1) is np.float32 and stats.exact_float(2**24) is np.float64

def test_clopper_pearson_matches_scipy_binomtest() -> None:
    for k, n in [(0, 20), (3, 20), (20, 20), (57, 400)]:
        expected = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert stats.clopper_pearson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def _tied_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, n) / 5.0  # many ties
    return scores, rng.random(n) < 0.3 + 0.1 * scores


def test_weighted_auc_equals_sklearn_sample_weight_with_ties() -> None:
    scores, is_pos = _tied_scores(400, 2)
    weights = np.random.default_rng(3).gamma(1.0, size=(5, 400))
    weights[0] = 1.0
    got = stats.weighted_auc(scores, is_pos, weights, chunk=2)  # chunking must not matter
    for r in range(5):
        assert got[r] == pytest.approx(roc_auc_score(is_pos, scores, sample_weight=weights[r]), rel=1e-12)


def test_weighted_auc_on_bootstrap_counts_equals_sklearn_on_the_resampled_rows() -> None:
    scores, is_pos = _tied_scores(300, 4)
    counts = stats.resample_counts(300, 6, np.random.default_rng(7), dtype=np.int32)
    idx = stats.bootstrap_indices(300, 6, 7)
    got = stats.weighted_auc(scores, is_pos, counts)
    for r in range(6):
        assert got[r] == pytest.approx(roc_auc_score(is_pos[idx[r]], scores[idx[r]]), rel=1e-12)



def test_weighted_auc_without_ties_integer_and_float_weights_agree_with_sklearn() -> None:
    rng = np.random.default_rng(8)
    scores, is_pos = rng.normal(size=500), rng.random(500) < 0.4
    counts = stats.resample_counts(500, 4, 3, np.int32)
    exact, floating = stats.weighted_auc(scores, is_pos, counts), stats.weighted_auc(scores, is_pos, counts * 1.0)
    for r in range(4):
        expected = roc_auc_score(is_pos, scores, sample_weight=counts[r])
        assert exact[r] == pytest.approx(expected, rel=1e-12) and floating[r] == pytest.approx(expected, rel=1e-12)

def test_weighted_auc_is_nan_without_both_classes() -> None:
    scores = np.array([0.1, 0.4, 0.9])
    weights = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    got = stats.weighted_auc(scores, np.array([False, True, True]), weights)
    assert got[0] == 1.0 and np.isnan(got[1]) and np.isnan(got[2])


def test_macro_auc_equals_sklearn_ovr_macro_and_binary() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 600)
    proba = rng.dirichlet([1, 1, 1], 600) + 0.3 * (truth[:, None] == np.arange(3))
    proba /= proba.sum(axis=1, keepdims=True)
    weights = np.vstack([np.ones(600), rng.gamma(1.0, size=600)])
    got = stats.macro_auc(proba, truth, weights)
    for r in range(2):
        expected = roc_auc_score(truth, proba, multi_class="ovr", average="macro", sample_weight=weights[r])
        assert got[r] == pytest.approx(expected, rel=1e-12)
    binary = np.stack([1 - proba[:, 0], proba[:, 0]], axis=1)
    assert stats.macro_auc(binary, truth == 0, weights)[1] == pytest.approx(
        roc_auc_score(truth == 0, proba[:, 0], sample_weight=weights[1]), rel=1e-12)


def test_macro_auc_leaves_out_a_class_absent_under_the_weights() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    weights = (truth != 2).astype(float)[None]  # class 2 weighs nothing: macro over classes 0 and 1
    kept = truth != 2
    expected = np.mean([roc_auc_score(truth[kept] == k, proba[kept, k]) for k in (0, 1)])
    assert stats.macro_auc(proba, truth, weights)[0] == pytest.approx(expected, rel=1e-12)


def test_derived_seeds_keep_todays_formula_and_stay_in_torch_range() -> None:
    import torch

    assert stats.derive_seed(7, 3) == 7 * 1_000_003 + 3
    assert stats.derive_seed(7, 100, 2) == (7 * 1_000_003 + 100) * 1_000_003 + 2
    assert len({stats.derive_seed(s, salt) for s in range(50) for salt in range(50)}) == 2500
    huge = stats.derive_seed(2**64 - 1, 5)
    assert 0 <= huge < 2**64
    torch.Generator().manual_seed(huge)  # would raise if out of range


def test_sequential_looks_split_alpha_and_use_exact_intervals() -> None:
    rule = stats.SequentialLooks.for_rows(1000, (250, 500, 2000), half_width=0.04)
    assert rule.looks == (250, 500, 1000)
    assert rule.alphas == pytest.approx((0.01, 0.01, 0.03)) and sum(rule.alphas) == pytest.approx(0.05)
    lo, hi = rule.interval(1, 480, 500)
    ref = sps.binomtest(480, 500).proportion_ci(confidence_level=0.99, method="exact")
    assert (lo, hi) == pytest.approx((ref.low, ref.high))
    assert rule.stops(0, 245, 250) and not rule.stops(0, 140, 250) and rule.stops(2, 500, 1000)
    single = stats.SequentialLooks.for_rows(300, (500,), half_width=0.0)
    assert single.looks == (300,) and single.interval(0, 150, 300) == stats.clopper_pearson(150, 300)
    with pytest.raises(ValueError):
        stats.SequentialLooks((250, 500, 1000), 0.04, early_alpha=0.03)  # nothing left for the last look
    with pytest.raises(ValueError):
        stats.SequentialLooks((500, 250), 0.04)


def _per_k(rule: stats.SequentialLooks) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per look, the rule's interval and stop decision for every k in 0..n (simulated runs look them up)."""
    return [(np.array([rule.interval(j, k, n) for k in range(n + 1)]),
             np.array([rule.stops(j, k, n) for k in range(n + 1)])) for j, n in enumerate(rule.looks)]


def _simulate(rule: stats.SequentialLooks, tables: list, p: float, reps: int, seed: int) -> tuple[float, float]:
    """(coverage at the look where the rule stops, coverage of all looks at once) over simulated runs."""
    draws = np.random.default_rng(seed).random((reps, rule.looks[-1])) < p
    at_stop, everywhere, still = np.zeros(reps, dtype=bool), np.ones(reps, dtype=bool), np.ones(reps, dtype=bool)
    for n, (table, stops) in zip(rule.looks, tables, strict=True):
        k = draws[:, :n].sum(axis=1)
        lo, hi = table[k].T
        covers = (lo <= p) & (p <= hi)
        stop = still & stops[k]
        at_stop[stop] = covers[stop]
        everywhere &= covers
        still &= ~stop
    return float(at_stop.mean()), float(everywhere.mean())


def test_sequential_looks_keep_coverage_where_peeking_at_95_percent_loses_it() -> None:
    """The split keeps every look's interval covering at once (so any stop is valid) and the width rule's
    reported interval covers >= 95%; peeking at 95% at every look loses the joint coverage."""
    looks = (40, 60, 80, 100, 120, 140, 160, 180, 200)
    rule = stats.SequentialLooks(looks, half_width=0.06, early_alpha=0.05 / len(looks))
    reps = 3000
    floor = 0.95 - 3 * np.sqrt(0.05 * 0.95 / reps)  # Monte Carlo slack
    tables = _per_k(rule)
    for p in (0.5, 0.85, 0.97):
        at_stop, everywhere = _simulate(rule, tables, p, reps, seed=1)
        assert at_stop >= floor and everywhere >= floor
    naive = stats.SequentialLooks(looks, half_width=0.06, alpha=0.05 * len(looks), early_alpha=0.05)
    assert naive.alphas == pytest.approx((0.05,) * len(looks))
    assert _simulate(naive, _per_k(naive), 0.5, reps, seed=1)[1] < 0.9
