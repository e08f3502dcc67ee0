"""The data suite's statistics against independent implementations (scipy, scikit-learn, pandas, Newcombe 1998)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from audit.stats import iter_resample_counts, percentile_ci, weighted_auc
from audit.suites.data.domain import delong_interval
from audit.suites.data.features import FeaturePair
from audit.suites.data.proportions import group_rates, row_keys, share_difference, unique_inverse, unique_rows
from audit.suites.data.shift import feature_shift, with_fdr


def _psi_reference(train: np.ndarray, audit: np.ndarray, bins: int) -> float:
    """PSI written independently: np.histogram over training-decile edges, a loop over bins, 1e-4 floor."""
    inner = np.unique(np.percentile(train, np.linspace(0, 100, bins + 1))[1:-1])
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    # np.histogram's bins are [a, b): a value equal to an inner edge falls in the upper bin.
    e, _ = np.histogram(train, edges)
    a, _ = np.histogram(audit, edges)
    total = 0.0
    for ei, ai in zip(e / e.sum(), a / a.sum(), strict=True):
        ei, ai = max(ei, 1e-4), max(ai, 1e-4)
        total += (ai - ei) * np.log(ai / ei)
    return total


def test_numeric_shift_matches_scipy_ks_and_reference_psi() -> None:
    rng = np.random.default_rng(0)
    train, audit = np.round(rng.normal(0, 1, 900), 1), np.round(rng.normal(0.3, 1.2, 500), 1)  # with ties
    s = feature_shift(FeaturePair("f", "numeric", train, audit), 10, 50, np.random.default_rng(1))
    ks = sps.ks_2samp(train, audit)
    assert s.test == "KS"
    assert s.statistic == pytest.approx(ks.statistic) and s.p_value == pytest.approx(ks.pvalue)
    assert s.psi == pytest.approx(_psi_reference(train, audit, 10))
    assert s.psi_ci[0] <= s.psi <= s.psi_ci[1] or s.psi_ci[0] > 0  # the bootstrap of a PSI is biased upward


def test_categorical_shift_matches_scipy_chi2_and_pandas() -> None:
    rng = np.random.default_rng(1)
    train = rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2]).astype(object)
    audit = rng.choice(["a", "b", "c", "d"], 400, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    s = feature_shift(FeaturePair("g", "categorical", train, audit), 10, 50, np.random.default_rng(2))
    table = pd.crosstab(np.r_[np.zeros(800), np.ones(400)], np.concatenate([train, audit]))
    ref = sps.chi2_contingency(table.to_numpy(), correction=False)
    assert s.statistic == pytest.approx(ref.statistic) and s.p_value == pytest.approx(ref.pvalue)
    e = table.iloc[0] / 800
    a = table.iloc[1] / 400
    assert s.effect == pytest.approx(0.5 * (e - a).abs().sum())
    floor_e, floor_a = e.clip(lower=1e-4), a.clip(lower=1e-4)
    assert s.psi == pytest.approx(float(((floor_a - floor_e) * np.log(floor_a / floor_e)).sum()))


def test_benjamini_hochberg_matches_the_step_up_rule() -> None:
    rng = np.random.default_rng(2)
    pairs = [FeaturePair(f"f{i}", "numeric", rng.normal(0, 1, 300), rng.normal(0.05 * i, 1, 300)) for i in range(8)]
    shifts = with_fdr([feature_shift(p, 10, 20, rng) for p in pairs], 0.05, 0.0)
    p = np.array([s.p_value for s in shifts])
    order = np.argsort(p)
    m = p.size
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)  # textbook BH adjusted p-values
    expected = np.empty(m)
    expected[order] = adjusted
    np.testing.assert_allclose([s.p_adjusted for s in shifts], expected)
    assert [s.flagged for s in shifts] == list(expected < 0.05)
    assert [s.effect for s in shifts] == sorted((s.effect for s in shifts), reverse=True)


def test_newcombe_interval_matches_published_examples() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10.
    d, (lo, hi) = share_difference(56, 70, 48, 80)
    assert d == pytest.approx(0.2) and (lo, hi) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    _, (lo, hi) = share_difference(9, 10, 3, 10)
    assert (lo, hi) == pytest.approx((0.1705, 0.8090), abs=5e-5)


def test_group_rates_match_pandas_and_a_row_bootstrap() -> None:
    rng = np.random.default_rng(3)
    groups = rng.choice(["x", "y", "z", "tiny"], 3000, p=[0.5, 0.3, 0.195, 0.005])
    values = (rng.random(3000) < np.where(groups == "x", 0.3, 0.5)).astype(float)
    rates = group_rates(values, groups, min_size=30, resamples=2000, seed=0)
    means = pd.Series(values).groupby(groups).mean()
    np.testing.assert_allclose(rates.rates[:, 0], means.loc[list(rates.labels)].to_numpy())
    assert rates.labels[int(np.flatnonzero(~rates.eligible)[0])] == "tiny"  # too small: not in the gap
    assert rates.gap == pytest.approx(means[["x", "y", "z"]].max() - means[["x", "y", "z"]].min())
    # The multinomial cell bootstrap has the distribution of a plain row bootstrap.
    idx = np.random.default_rng(9).integers(0, 3000, size=(2000, 3000))
    frame = pd.DataFrame({"g": groups, "v": values})
    eligible = ["x", "y", "z"]
    row_gaps = [frame.iloc[i].groupby("g")["v"].mean()[eligible].agg(lambda s: s.max() - s.min()) for i in idx[:400]]
    assert rates.ci == pytest.approx(percentile_ci(np.array(row_gaps)), abs=0.015)


@pytest.mark.parametrize("seed", range(5))
def test_hashed_uniques_equal_numpy_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    labels = rng.choice(np.array(["Female", "Male", "missing", "10", "9", "é", ""]), n).astype(str)
    values, codes = np.unique(labels, return_inverse=True)
    got_values, got_codes = unique_inverse(labels)
    assert got_values.dtype == values.dtype and got_values.tolist() == values.tolist()
    np.testing.assert_array_equal(got_codes, codes.ravel())
    table = np.hstack([rng.integers(0, 4, (n, 1)).astype(float),
                       rng.choice([0.0, 1.0, 0.5, -2.0], (n, int(rng.integers(1, 4))))])
    rows, row_codes = np.unique(table, axis=0, return_inverse=True)
    got_rows, got_row_codes = unique_rows(table)
    np.testing.assert_array_equal(got_rows, rows)
    np.testing.assert_array_equal(got_row_codes, row_codes.ravel())


def test_delong_interval_agrees_with_sklearn_and_bootstrap() -> None:
    rng = np.random.default_rng(4)
    is_pos = rng.random(2000) < 0.3
    scores = np.round(rng.normal(size=2000) + 0.6 * is_pos, 1)
    lo, hi = delong_interval(scores, is_pos)
    auc = roc_auc_score(is_pos, scores)
    assert lo < auc < hi
    boot = np.concatenate([weighted_auc(scores, is_pos, w) for w in iter_resample_counts(2000, 1000, 5)])
    assert (lo, hi) == pytest.approx(percentile_ci(boot), abs=0.01)


def test_row_keys_are_content_hashes() -> None:
    rows = np.array([[0.0, 1.5], [-0.0, 1.5], [0.0, 1.5000001], [0.0, 1.5]])
    keys = row_keys(rows)
    assert keys[0] == keys[1] == keys[3] and keys[2] != keys[0]
