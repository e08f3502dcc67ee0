"""The tests themselves against scipy: exact McNemar, Benjamini–Hochberg, bootstrap and unpaired p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from audit.compare.significance import benjamini_hochberg, bootstrap_p_value, mcnemar_exact, unpaired_from_cis


@pytest.mark.parametrize("flips", [(0, 0), (3, 11), (25, 9), (40, 40)])
def test_mcnemar_equals_scipy_exact_binomial_on_discordant_counts(flips: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    base = rng.random(400) < 0.7
    cand = base.copy()
    right, wrong = np.flatnonzero(base), np.flatnonzero(~base)
    cand[right[: flips[0]]] = False  # rows only the baseline gets right
    cand[wrong[: flips[1]]] = True  # rows only the candidate gets right
    b, c, p = mcnemar_exact(base, cand)
    assert (b, c) == flips
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert p == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_benjamini_hochberg_equals_scipy_and_skips_missing() -> None:
    p = [0.001, 0.04, None, 0.03, 0.5, float("nan"), 0.02, 0.9]
    got = benjamini_hochberg(p)
    finite = [v for v in p if v is not None and np.isfinite(v)]
    expected = iter(stats.false_discovery_control(finite, method="bh"))
    for raw, adj in zip(p, got, strict=True):
        if raw is None or not np.isfinite(raw):
            assert adj is None
        else:
            assert adj == pytest.approx(next(expected), rel=1e-12)


def test_bootstrap_p_value() -> None:
    assert bootstrap_p_value(np.zeros(500)) == 1.0
    clearly_positive = np.random.default_rng(0).normal(1.0, 0.1, 999)
    assert bootstrap_p_value(clearly_positive) == pytest.approx(2 / 1000)
    centred = np.random.default_rng(1).normal(0.0, 1.0, 999)
    assert bootstrap_p_value(centred) > 0.5


def test_unpaired_from_cis_matches_a_z_test() -> None:
    se_b, se_c = 0.01, 0.02
    z = stats.norm.ppf(0.975)
    ci, p = unpaired_from_cis(0.80, (0.80 - z * se_b, 0.80 + z * se_b), 0.75, (0.75 - z * se_c, 0.75 + z * se_c))
    se = np.hypot(se_b, se_c)
    assert ci == pytest.approx((-0.05 - z * se, -0.05 + z * se))
    assert p == pytest.approx(2 * stats.norm.sf(0.05 / se))
    assert unpaired_from_cis(0.8, None, 0.7, (0.6, 0.8)) == (None, None)
