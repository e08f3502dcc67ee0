"""Per-feature shift between training and audit rows: KS (numeric) or chi-squared (categorical) tests with
Benjamini-Hochberg control, total variation / KS distance as the effect, and the population stability index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from audit.stats import percentile_ci
from audit.suites.data.features import FeaturePair
from audit.suites.data.proportions import unique_inverse

PSI_FLOOR = 1e-4  # bin shares are floored here so an empty bin gives a large, finite PSI (the usual convention)


@dataclass(frozen=True)
class FeatureShift:
    name: str
    kind: str
    test: str  # "KS" | "chi-squared"
    statistic: float
    p_value: float
    effect: float  # KS distance (numeric) or total variation distance (categorical), both in [0, 1]
    psi: float
    psi_ci: tuple[float, float]
    p_adjusted: float = float("nan")
    flagged: bool = False


def psi_from_counts(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """PSI = sum (a - e) ln(a / e) over bins; counts (..., bins) -> (...)."""
    e = np.maximum(expected / expected.sum(axis=-1, keepdims=True), PSI_FLOOR)
    a = np.maximum(actual / actual.sum(axis=-1, keepdims=True), PSI_FLOOR)
    return ((a - e) * np.log(a / e)).sum(axis=-1)


def binned_counts(pair: FeaturePair, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin: training-quantile bins for numeric features, categories for categorical ones."""
    if pair.kind == "numeric":
        edges = np.unique(np.quantile(pair.train, np.linspace(0, 1, bins + 1))[1:-1])
        width = edges.size + 1
        return (np.bincount(np.searchsorted(edges, pair.train, side="right"), minlength=width),
                np.bincount(np.searchsorted(edges, pair.audit, side="right"), minlength=width))
    categories, codes = unique_inverse(np.concatenate([pair.train, pair.audit]).astype(str))
    n = pair.train.size
    return (np.bincount(codes[:n], minlength=categories.size), np.bincount(codes[n:], minlength=categories.size))


def tvd_from_counts(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Total variation distance between the two count vectors' shares: (..., bins) -> (...)."""
    return 0.5 * np.abs(expected / expected.sum(axis=-1, keepdims=True)
                        - actual / actual.sum(axis=-1, keepdims=True)).sum(axis=-1)


def counts_ci(expected: np.ndarray, actual: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
              resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """Bootstrap CI of a statistic of the two splits' bin counts alone: a row bootstrap of each split is exactly
    a multinomial redraw of its counts."""
    e = rng.multinomial(int(expected.sum()), expected / expected.sum(), size=resamples)
    a = rng.multinomial(int(actual.sum()), actual / actual.sum(), size=resamples)
    return percentile_ci(statistic(e, a))


def chi_squared(expected: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-squared test of homogeneity (no continuity correction) on categories seen in either split."""
    table = np.stack([expected, actual])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = sps.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def feature_shift(pair: FeaturePair, bins: int, resamples: int, rng: np.random.Generator) -> FeatureShift:
    expected, actual = binned_counts(pair, bins)
    psi = float(psi_from_counts(expected, actual))
    if pair.kind == "numeric":
        ks = sps.ks_2samp(pair.train, pair.audit)
        statistic, p_value, effect, test = float(ks.statistic), float(ks.pvalue), float(ks.statistic), "KS"
    else:
        statistic, p_value = chi_squared(expected, actual)
        effect = float(tvd_from_counts(expected, actual))
        test = "chi-squared"
    return FeatureShift(pair.name, pair.kind, test, statistic, p_value, effect, psi,
                        counts_ci(expected, actual, psi_from_counts, resamples, rng))


def with_fdr(shifts: list[FeatureShift], alpha: float, min_effect: float) -> list[FeatureShift]:
    """Benjamini-Hochberg adjusted p-values; flagged = adjusted p below alpha and effect at least min_effect.
    Sorted by effect, largest first (the features that separate the splits most)."""
    from dataclasses import replace

    if not shifts:
        return []
    adjusted = sps.false_discovery_control(np.array([s.p_value for s in shifts]), method="bh")
    out = [replace(s, p_adjusted=float(p), flagged=bool(p < alpha and s.effect >= min_effect))
           for s, p in zip(shifts, adjusted, strict=True)]
    return sorted(out, key=lambda s: (-s.effect, s.name))
