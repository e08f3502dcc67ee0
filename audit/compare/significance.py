"""The tests of a release comparison: exact McNemar, bootstrap p-values, an approximate unpaired test from two
CIs, and Benjamini–Hochberg control of the false discovery rate across all compared measurements."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as _sps

Z_95 = float(_sps.norm.ppf(0.975))


def mcnemar_exact(baseline_correct: np.ndarray, candidate_correct: np.ndarray) -> tuple[int, int, float]:
    """Exact (binomial) McNemar test on the discordant rows: (rows only the baseline got right, rows only the
    candidate got right, two-sided p). Under no difference each discordant row is a fair coin."""
    base, cand = np.asarray(baseline_correct, bool), np.asarray(candidate_correct, bool)
    b, c = int((base & ~cand).sum()), int((~base & cand).sum())
    if b + c == 0:
        return b, c, 1.0
    return b, c, float(min(1.0, 2.0 * _sps.binom.cdf(min(b, c), b + c, 0.5)))


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from bootstrap samples of a difference: twice the smaller share of
    samples on either side of zero, counting the observed sample (+1) so it is never exactly 0."""
    d = np.asarray(differences, float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    below, above = int((d <= 0).sum()), int((d >= 0).sum())
    return float(min(1.0, 2.0 * (min(below, above) + 1) / (d.size + 1)))


def unpaired_from_cis(
    baseline: float, baseline_ci: tuple[float, float] | None, candidate: float, candidate_ci: tuple[float, float] | None
) -> tuple[tuple[float, float] | None, float | None]:
    """Normal approximation for two independent estimates with 95% CIs: the difference's CI and p-value.

    It ignores the correlation of two models judged on the same rows, so it is wider than a paired test: used
    only where no per-row evidence exists or pairing was refused. (None, None) when it cannot be formed."""
    if baseline_ci is None or candidate_ci is None:
        return None, None
    bounds = (*baseline_ci, *candidate_ci, baseline, candidate)
    if not all(math.isfinite(v) for v in bounds):
        return None, None
    se = math.hypot((baseline_ci[1] - baseline_ci[0]) / (2 * Z_95), (candidate_ci[1] - candidate_ci[0]) / (2 * Z_95))
    d = candidate - baseline
    if se == 0:
        return ((d, d), 1.0) if d == 0 else (None, None)
    return (d - Z_95 * se, d + Z_95 * se), float(2 * _sps.norm.sf(abs(d) / se))


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """BH-adjusted p-values (q-values) in the input order; None and NaN entries are left out of the family."""
    index = [i for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    adjusted: list[float | None] = [None] * len(p_values)
    if not index:
        return adjusted
    p = np.array([p_values[i] for i in index], dtype=float)
    m = p.size
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    for k, i in enumerate(index):
        adjusted[i] = float(out[k])
    return adjusted
