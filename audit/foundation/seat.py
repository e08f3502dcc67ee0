"""SEAT: the sentence-encoder association test (May et al. 2019), after WEAT (Caliskan et al. 2017).

For target sets X, Y and attribute sets A, B (words placed in bleached sentence templates):
  s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)
  effect size d = (mean_x s(x) - mean_y s(y)) / std_{w in X u Y} s(w)       (sample std, ddof=1)
  p = P[ sum s(X_i) - sum s(Y_i) >= sum s(X) - sum s(Y) ] over equal-size re-partitions of X u Y
A positive d means X is closer to A (and Y to B) than the other way round.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audit.stats import percentile_ci

SETS_FILE = Path(__file__).with_name("seat_sets.json")


@dataclass(frozen=True)
class SeatTest:
    name: str
    title: str
    x: tuple[str, ...]  # target sentences
    y: tuple[str, ...]
    a: tuple[str, ...]  # attribute sentences
    b: tuple[str, ...]
    labels: tuple[str, str, str, str]  # what X, Y, A, B are


@dataclass(frozen=True)
class SeatResult:
    test: str
    effect_size: float
    ci: tuple[float, float]
    p_value: float
    exact: bool  # all partitions enumerated (else a seeded sample of permutations)
    permutations: int


def load_seat_tests(path: Path = SETS_FILE) -> tuple[SeatTest, ...]:
    """The bundled SEAT tests with each word placed in every template of its kind."""
    spec = json.loads(path.read_text())
    templates = spec["templates"]

    def fill(words: Sequence[str], kind: str) -> tuple[str, ...]:
        return tuple(t.format(w) for w in words for t in templates[kind])

    tests = []
    for name, t in spec["tests"].items():
        tests.append(SeatTest(
            name=name, title=t["title"],
            x=fill(t["x"], t["kind_targets"]), y=fill(t["y"], t["kind_targets"]),
            a=fill(t["a"], t["kind_attributes"]), b=fill(t["b"], t["kind_attributes"]),
            labels=(t["x_label"], t["y_label"], t["a_label"], t["b_label"]),
        ))
    return tuple(tests)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)


def associations(targets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s(w, A, B) for each row w of `targets` (embeddings; cosine similarity)."""
    t, a, b = _unit(targets), _unit(a), _unit(b)
    return (t @ a.T).mean(axis=1) - (t @ b.T).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    spread = np.std(np.concatenate([s_x, s_y]), ddof=1)
    return float((s_x.mean() - s_y.mean()) / spread) if spread > 0 else 0.0


def permutation_p_value(s_x: np.ndarray, s_y: np.ndarray, n_permutations: int, seed: int) -> tuple[float, bool, int]:
    """One-sided p-value of the test statistic; exact when all partitions number <= n_permutations."""
    pooled = np.concatenate([s_x, s_y])
    n, k = pooled.size, s_x.size
    observed = s_x.sum() - s_y.sum()
    total = pooled.sum()
    if math.comb(n, k) <= n_permutations:
        stats = np.array([2 * pooled[list(c)].sum() - total for c in itertools.combinations(range(n), k)])
        return float(np.mean(stats >= observed - 1e-12)), True, stats.size
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((n_permutations, n)), axis=1)[:, :k]
    stats = 2 * pooled[picks].sum(axis=1) - total
    # +1 in numerator and denominator: a sampled permutation p-value that is never 0 (valid, conservative).
    return float((np.sum(stats >= observed - 1e-12) + 1) / (n_permutations + 1)), False, n_permutations


def effect_size_ci(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> tuple[float, float]:
    """Bootstrap CI of the effect size, resampling sentences within each of X, Y, A and B."""
    rng = np.random.default_rng(seed)
    x, y, a, b = map(_unit, (x, y, a, b))
    xa, xb, ya, yb = x @ a.T, x @ b.T, y @ a.T, y @ b.T
    sizes = (len(x), len(y), len(a), len(b))
    values = np.empty(resamples)
    for r in range(resamples):
        ix, iy, ia, ib = (rng.integers(0, s, s) for s in sizes)
        s_x = xa[np.ix_(ix, ia)].mean(1) - xb[np.ix_(ix, ib)].mean(1)
        s_y = ya[np.ix_(iy, ia)].mean(1) - yb[np.ix_(iy, ib)].mean(1)
        values[r] = effect_size(s_x, s_y)
    return percentile_ci(values)


def run_seat(
    test: SeatTest, embed: Callable[[list[str]], torch.Tensor], n_permutations: int = 10_000,
    resamples: int = 1000, seed: int = 0,
) -> SeatResult:
    """Embed the test's sentences with `embed` and compute effect size, CI and p-value."""
    x, y, a, b = (embed(list(s)).double().numpy() for s in (test.x, test.y, test.a, test.b))
    s_x, s_y = associations(x, a, b), associations(y, a, b)
    p_value, exact, used = permutation_p_value(s_x, s_y, n_permutations, seed)
    return SeatResult(
        test=test.name, effect_size=effect_size(s_x, s_y), ci=effect_size_ci(x, y, a, b, resamples, seed),
        p_value=p_value, exact=exact, permutations=used,
    )
