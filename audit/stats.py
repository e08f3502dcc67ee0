"""Shared statistics: seed derivation, seeded (vectorised) bootstrap resamples and CIs, weighted AUC, exact
binomial intervals, and sequential looks with valid intervals. The one home of each: suites import these rather
than keeping their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

DEFAULT_ALPHA = 0.05
SEED_MULTIPLIER = 1_000_003  # a prime larger than any salt in use: distinct (seed, salt) give distinct seeds
Seed = int | np.random.Generator  # an integer seed, or a generator whose stream continues


def derive_seed(seed: int, *salts: int) -> int:
    """The seed of an independent stream: `seed * 1_000_003 + salt`, folded over the salts in turn.

    Reduced modulo 2**64, so that any run seed gives a value `torch.Generator().manual_seed` accepts.
    """
    for salt in salts:
        seed = seed * SEED_MULTIPLIER + salt
    return seed % 2**64


def bootstrap_indices(n: int, resamples: int, seed: Seed) -> np.ndarray:
    """(resamples, n) row indices drawn with replacement, reproducible from `seed`."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _indices_to_counts(idx: np.ndarray, n: int, dtype: type) -> np.ndarray:
    resamples = idx.shape[0]
    flat = (idx + n * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(dtype)


def iter_resample_counts(
    n: int, resamples: int, seed: Seed, chunk: int = 100, dtype: type = np.float64
) -> Iterator[np.ndarray]:
    """Bootstrap multiplicities, (≤chunk, n) at a time: row r counts how often each row was drawn in resample r.

    Weighting a per-row statistic by these counts equals computing it on the resampled rows, so every
    resample becomes one matrix product instead of a gather. The draws are exactly those of
    `bootstrap_indices(n, resamples, seed)`, whatever the chunk size.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        yield _indices_to_counts(idx, n, dtype)


def resample_counts(n: int, resamples: int, seed: Seed, dtype: type = np.float64) -> np.ndarray:
    """All (resamples, n) bootstrap multiplicities at once (see `iter_resample_counts`)."""
    if resamples == 0:
        return np.zeros((0, n), dtype)
    return np.vstack(list(iter_resample_counts(n, resamples, seed, dtype=dtype)))


def exact_float(n: int) -> type:
    """The smaller float type that still holds counts and sums over `n` rows exactly (float32 below 2**24)."""
    return np.float32 if n < 2**24 else np.float64


def weighted_auc(scores: np.ndarray, is_pos: np.ndarray, weights: np.ndarray, chunk: int = 128) -> np.ndarray:
    """ROC AUC (ties count one half, as sklearn's roc_auc_score) under each row of `weights` (R, n).

    Rows of `weights` are sample weights or bootstrap multiplicities; the scores are sorted once and each
    row is a weighted Mann-Whitney statistic. NaN where a row weighs no positive or no negative.
    """
    scores, is_pos = np.asarray(scores), np.asarray(is_pos, dtype=bool)
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if s.size else np.zeros(0, np.intp)
    pos = is_pos[order]
    parts = [_auc_rows(_exact_dtype(weights[i : i + chunk])[:, order], pos, starts)
             for i in range(0, weights.shape[0], chunk)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _exact_dtype(weights: np.ndarray) -> np.ndarray:
    """Integer weights (bootstrap multiplicities) stay integers: exact sums in a quarter of the memory, which is
    what a 1,000-resample paired comparison spends its time on; anything else becomes float64."""
    weights = np.asarray(weights)
    return weights if np.issubdtype(weights.dtype, np.integer) else weights.astype(float)


def _auc_rows(w: np.ndarray, pos: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if starts.size == 0:
        return np.full(w.shape[0], np.nan)
    n = w.shape[1]
    exact = np.issubdtype(w.dtype, np.integer)
    total = np.int64 if exact else np.float64
    neg_w = np.where(pos, w.dtype.type(0), w)
    small = exact and 2 * int(w.max(initial=0)) * n < 2**31  # `below + cum` below must fit int32 too
    cum = np.cumsum(neg_w, axis=1, dtype=np.int32 if small else total)  # negative weight at or below each position
    rows = np.flatnonzero(pos)
    w_pos = w[:, rows]
    if starts.size == n:  # no tied scores: each positive beats exactly the negatives before it
        num = np.einsum("ij,ij->i", w_pos, cum[:, rows], dtype=total)
    else:  # a positive beats the negatives below its tie group and half of those tied with it
        sizes = np.diff(np.r_[starts, n])
        group = np.repeat(np.arange(starts.size), sizes)[rows]
        first, last = starts[group], starts[group] + sizes[group] - 1
        below = cum[:, first] - neg_w[:, first]
        num = np.einsum("ij,ij->i", w_pos, below + cum[:, last], dtype=total) / 2  # (2·below + tied) / 2
    den = w_pos.sum(axis=1, dtype=total) * cum[:, -1].astype(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def macro_auc(proba: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Binary (two columns): the AUC of column 1 for class 1. More classes: the unweighted mean of one-vs-rest
    AUCs (sklearn's multi_class="ovr", average="macro") over the classes defined under each weight row (a class
    with no positive or no negative weight is left out, as balanced accuracy leaves out absent classes).

    `truth` holds class indices into the columns of `proba`; returns one value per row of `weights`.
    """
    if proba.shape[1] == 2:
        return weighted_auc(proba[:, 1], truth == 1, weights)
    per_class = np.stack([weighted_auc(proba[:, k], truth == k, weights) for k in range(proba.shape[1])])
    defined = np.isfinite(per_class)
    total = np.where(defined, per_class, 0.0).sum(axis=0)
    count = defined.sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def percentile_ci(samples: np.ndarray, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
    """Percentile interval of bootstrap samples, ignoring NaN resamples (e.g. an empty group)."""
    finite = np.asarray(samples, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    resamples: int,
    seed: int,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[float, float]:
    """CI of `statistic(indices)` over seeded resamples of row indices `0..n-1`."""
    idx = bootstrap_indices(n, resamples, seed)
    values = np.array([statistic(row) for row in idx], dtype=float)
    return percentile_ci(values, alpha)


def bootstrap_mean_ci(
    values: np.ndarray, resamples: int, seed: int, alpha: float = DEFAULT_ALPHA
) -> tuple[float, float]:
    """Vectorised CI of a mean (accuracy, success rate): one gather over all resamples."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    idx = bootstrap_indices(values.size, resamples, seed)
    return percentile_ci(values[idx].mean(axis=1), alpha)


def clopper_pearson(k: int, n: int, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.special import betaincinv  # what scipy.stats.beta.ppf computes, without importing scipy.stats

    lo = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    hi = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return (lo, hi)


def wilson_interval(k: int, n: int, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    from scipy.special import ndtri  # what scipy.stats.norm.ppf computes, without importing scipy.stats

    z = float(ndtri(1 - alpha / 2))
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (float(centre - half), float(centre + half))


@dataclass(frozen=True)
class SequentialLooks:
    """A stopping rule for adding rows until a proportion's interval is as tight as asked, keeping it valid.

    Rows are taken in a fixed (seeded, shuffled) order and the figure is looked at only at the row counts in
    `looks`, fixed before any row is seen. Look j spends `alphas[j]` of the error rate, the alphas summing to
    `alpha` (Bonferroni across looks): every early look spends `early_alpha`, the last one the rest. At look j
    the interval is the exact (Clopper-Pearson) one at level 1 - alphas[j]; sampling stops at the first look
    whose interval's half-width is at most `half_width`, else at the last. By the union bound, all the looks'
    intervals cover the true proportion at once with probability >= 1 - alpha, so the interval reported at the
    stopping look is a valid 1 - alpha interval whatever decided the stop.
    """

    looks: tuple[int, ...]  # increasing row counts; the last is all the rows there are
    half_width: float  # (hi - lo) / 2 at which sampling stops
    alpha: float = DEFAULT_ALPHA
    early_alpha: float = 0.01  # spent at each look but the last

    def __post_init__(self) -> None:
        increasing = all(b > a for a, b in zip(self.looks, self.looks[1:], strict=False))
        if not self.looks or self.looks[0] < 1 or not increasing:
            raise ValueError(f"looks must be increasing positive row counts, not {self.looks}")
        last = self.alpha - self.early_alpha * (len(self.looks) - 1)
        if not 0 < self.alpha < 1 or self.early_alpha <= 0 or last <= 0:
            raise ValueError(f"{len(self.looks) - 1} early look(s) at alpha {self.early_alpha} must leave part of "
                             f"alpha {self.alpha} (in (0, 1)) for the last look")

    @classmethod
    def for_rows(cls, n: int, early_looks: tuple[int, ...], half_width: float, alpha: float = DEFAULT_ALPHA,
                 early_alpha: float = 0.01) -> SequentialLooks:
        """The early looks that fall below `n` rows, then `n` (the schedule depends on n only, never on data)."""
        return cls(tuple(sorted({k for k in early_looks if 0 < k < n})) + (n,), half_width, alpha, early_alpha)

    @property
    def alphas(self) -> tuple[float, ...]:
        early = (self.early_alpha,) * (len(self.looks) - 1)
        return (*early, self.alpha - sum(early))

    def interval(self, look: int, k: int, n: int) -> tuple[float, float]:
        """The exact interval of k successes in n rows at look `look` (0-based)."""
        return clopper_pearson(k, n, self.alphas[look])

    def stops(self, look: int, k: int, n: int) -> bool:
        """Stop at this look: its interval is tight enough, or it is the last."""
        lo, hi = self.interval(look, k, n)
        return look == len(self.looks) - 1 or (hi - lo) / 2 <= self.half_width

    def describe(self) -> dict[str, object]:
        return {"rule": "exact intervals at fixed looks, error rate split across looks (Bonferroni); stop at the "
                        "first look whose interval half-width is at most the target",
                "looks": list(self.looks), "alphas": [round(a, 6) for a in self.alphas],
                "target_half_width": self.half_width, "alpha": self.alpha}
