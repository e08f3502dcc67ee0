"""ROC metrics, bootstrap and the ε bound checked against scikit-learn and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score, roc_curve

from audit.stats import clopper_pearson
from audit.suites.privacy import roc
from audit.suites.privacy.epsilon import cp_lower, cp_upper, epsilon_from_counts, epsilon_lower_bound
from audit.suites.privacy.roc import (
    bootstrap_roc_cis,
    low_fpr_insufficient,
    roc_metrics,
)


def _scores(n_pos: int, n_neg: int, shift: float, seed: int, decimals: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    scores = np.round(rng.normal(size=labels.size) + shift * labels, decimals)  # rounding makes ties
    return scores, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_metrics_match_sklearn(seed: int) -> None:
    scores, labels = _scores(400, 900, 0.7, seed)
    m = roc_metrics(scores, labels, (0.001, 0.01, 0.1))
    fpr, tpr, _ = roc_curve(labels, scores)
    assert m.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert m.advantage == pytest.approx((tpr - fpr).max(), abs=1e-12)
    assert m.balanced_accuracy == pytest.approx(0.5 + (tpr - fpr).max() / 2, abs=1e-12)
    for target, value in zip((0.001, 0.01, 0.1), m.tpr_at, strict=True):
        assert value == pytest.approx(np.interp(target, fpr, tpr), abs=1e-12)


def test_bootstrap_cis_cover_the_estimate_and_are_seeded() -> None:
    scores, labels = _scores(300, 300, 0.5, 4)
    m = roc_metrics(scores, labels)
    cis = bootstrap_roc_cis(scores, labels, 300, seed=11)
    assert cis == bootstrap_roc_cis(scores, labels, 300, seed=11)
    assert cis["auc"][0] < m.auc < cis["auc"][1]
    assert cis["auc"][1] - cis["auc"][0] < 0.15


@pytest.mark.parametrize(("decimals", "n_pos", "n_neg"), [(1, 300, 700), (3, 2000, 2000), (8, 1500, 2500), (0, 40, 60)])
def test_each_bootstrap_resample_matches_sklearn_on_the_resampled_rows(decimals: int, n_pos: int, n_neg: int) -> None:
    """The bootstrap's per-resample figures (from class-wise running totals) equal scikit-learn's weighted ROC
    and `roc_metrics` on the rows each resample draws."""
    scores, labels = _scores(n_pos, n_neg, 0.6, decimals + n_pos, decimals)
    order = np.random.default_rng(decimals).permutation(labels.size)  # members and non-members interleaved
    scores, labels = scores[order], labels[order]
    fprs = (0.001, 0.01, 0.1)
    counts = roc.stratified_counts(labels, 12, seed=decimals)
    rows = roc._ranked_metrics(counts, roc._rank_plan(scores, labels), fprs)
    for w, got in zip(counts, rows, strict=True):
        assert got[0] == pytest.approx(roc_auc_score(labels, scores, sample_weight=w), abs=1e-12)
        fpr, tpr, _ = roc_curve(labels, scores, sample_weight=w, drop_intermediate=False)
        assert got[2] == pytest.approx(max((tpr - fpr).max(), 0.0), abs=1e-12)
        assert got[1] == pytest.approx(0.5 + got[2] / 2, abs=1e-12)
        drawn = np.repeat(np.arange(labels.size), w)
        m = roc_metrics(scores[drawn], labels[drawn], fprs)
        assert got[0] == pytest.approx(m.auc, abs=1e-12)
        assert got[2] == pytest.approx(m.advantage, abs=1e-12)
        for k, f in enumerate(fprs):
            assert got[3 + k] == pytest.approx(m.tpr_at[k], abs=1e-12)
            assert got[3 + k] == pytest.approx(np.interp(f, fpr, tpr), abs=1e-9)


def test_bootstrap_needs_no_member_to_tie_a_non_member() -> None:
    """Perfectly separated, and all-tied, scores: AUC 1 and 0.5 in every resample, as scikit-learn says."""
    labels = np.r_[np.ones(50, int), np.zeros(50, int)]
    separated = bootstrap_roc_cis(labels + np.linspace(0, 0.5, 100), labels, 200, seed=1)
    assert separated["auc"] == (1.0, 1.0) and separated["tpr@0.01"] == (1.0, 1.0)
    tied = bootstrap_roc_cis(np.zeros(100), labels, 200, seed=1)
    assert tied["auc"] == (0.5, 0.5) and tied["advantage"] == (0.0, 0.0)


def test_low_fpr_needs_enough_nonmembers() -> None:
    assert low_fpr_insufficient(0.001, 1000) is not None
    assert low_fpr_insufficient(0.01, 1000) is None


def test_clopper_pearson_bounds_match_shared_stats() -> None:
    for k, n in [(0, 50), (3, 50), (50, 50), (17, 400)]:
        lo, hi = clopper_pearson(k, n)
        assert cp_lower(np.array([k]), n)[0] == pytest.approx(lo)
        assert cp_upper(np.array([k]), n)[0] == pytest.approx(hi)


def test_epsilon_formula_by_hand() -> None:
    tp, n_pos, fp, n_neg, delta = 900, 1000, 20, 1000, 1e-5
    tpr_lo = sps.beta.ppf(0.025, tp, n_pos - tp + 1)
    fpr_hi = sps.beta.ppf(0.975, fp + 1, n_neg - fp)
    expected = max(np.log((tpr_lo - delta) / fpr_hi), np.log((1 - fpr_hi - delta) / (1 - tpr_lo)))
    got = epsilon_from_counts(np.array([tp]), n_pos, np.array([fp]), n_neg, delta)[0]
    assert got == pytest.approx(expected)
    assert epsilon_from_counts(np.array([500]), 1000, np.array([500]), 1000)[0] == 0.0


@pytest.mark.parametrize("true_eps", [0.5, 1.5])
def test_epsilon_bound_is_sound_and_tight_on_randomised_response(true_eps: float) -> None:
    """Randomised response is exactly ε-DP: the bound must stay below ε and come close with many rows."""
    rng = np.random.default_rng(0)
    n = 20_000
    keep = np.exp(true_eps) / (1 + np.exp(true_eps))
    labels = np.r_[np.ones(n, int), np.zeros(n, int)]
    says_member = np.where(labels == 1, rng.random(2 * n) < keep, rng.random(2 * n) >= keep)
    bound = epsilon_lower_bound(says_member.astype(float), labels, np.random.default_rng(1))
    assert bound.value <= true_eps
    assert bound.value >= 0.85 * true_eps


def test_epsilon_bound_is_zero_without_signal() -> None:
    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(2000, int), np.zeros(2000, int)]
    bound = epsilon_lower_bound(rng.normal(size=4000), labels, np.random.default_rng(2))
    assert bound.value < 0.15
    perfect = epsilon_lower_bound(labels.astype(float), labels, np.random.default_rng(2))
    assert perfect.value == pytest.approx(perfect.max_demonstrable)
    assert perfect.value > 5
