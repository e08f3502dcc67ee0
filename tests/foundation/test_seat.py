import itertools

import numpy as np
import torch

from audit.foundation.seat import (
    associations,
    effect_size,
    effect_size_ci,
    load_seat_tests,
    permutation_p_value,
    run_seat,
)


def _reference_weat(x, y, a, b):
    """Caliskan et al. (2017) written out with explicit loops, as an independent implementation."""
    def cos(u, v):
        return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))

    def s(w):
        return np.mean([cos(w, ai) for ai in a]) - np.mean([cos(w, bi) for bi in b])

    sx, sy = [s(w) for w in x], [s(w) for w in y]
    d = (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)
    observed = sum(sx) - sum(sy)
    pooled = sx + sy
    stats = []
    for part in itertools.combinations(range(len(pooled)), len(sx)):
        rest = [i for i in range(len(pooled)) if i not in part]
        stats.append(sum(pooled[i] for i in part) - sum(pooled[i] for i in rest))
    return d, float(np.mean(np.array(stats) >= observed - 1e-12))


def test_effect_size_and_exact_p_value_match_a_loop_implementation():
    rng = np.random.default_rng(0)
    x, y, a, b = (rng.normal(size=(n, 8)) for n in (5, 5, 4, 6))
    x[:, 0] += 1.0
    a[:, 0] += 1.0  # plant an X~A association
    s_x, s_y = associations(x, a, b), associations(y, a, b)
    d_ref, p_ref = _reference_weat(list(x), list(y), list(a), list(b))
    assert np.isclose(effect_size(s_x, s_y), d_ref)
    p, exact, count = permutation_p_value(s_x, s_y, n_permutations=10_000, seed=0)
    assert exact and count == 252
    assert np.isclose(p, p_ref)


def test_sampled_p_value_agrees_with_exact_one():
    rng = np.random.default_rng(1)
    s_x, s_y = rng.normal(0.2, 1, 7), rng.normal(0, 1, 7)
    exact, is_exact, _ = permutation_p_value(s_x, s_y, n_permutations=10_000, seed=0)
    sampled, is_sampled_exact, _ = permutation_p_value(s_x, s_y, n_permutations=2000, seed=0)
    assert is_exact and not is_sampled_exact
    assert abs(exact - sampled) < 0.04


def test_planted_association_is_large_and_significant_and_none_is_not():
    rng = np.random.default_rng(2)
    direction = rng.normal(size=16)
    def cloud(n, shift):
        return rng.normal(size=(n, 16)) + shift * direction
    x, y, a, b = cloud(20, 1.0), cloud(20, -1.0), cloud(10, 1.0), cloud(10, -1.0)
    s_x, s_y = associations(x, a, b), associations(y, a, b)
    assert effect_size(s_x, s_y) > 1.5
    assert permutation_p_value(s_x, s_y, 2000, 0)[0] < 0.01
    lo, hi = effect_size_ci(x, y, a, b, resamples=200, seed=0)
    assert lo > 1.0 and hi <= 2.0  # d is bounded by 2 for equal-size sets
    null = [cloud(20, 0.0) for _ in range(4)]
    s_x0, s_y0 = associations(null[0], null[2], null[3]), associations(null[1], null[2], null[3])
    assert abs(effect_size(s_x0, s_y0)) < 1.0


def test_bundled_tests_follow_the_papers_sets():
    tests = {t.name: t for t in load_seat_tests()}
    assert set(tests) == {"gender_career", "gender_science", "race_pleasantness"}
    career = tests["gender_career"]
    assert "This is John." in career.x and "This is Amy." in career.y
    assert len(tests["race_pleasantness"].a) == 25 * 6  # 25 pleasant words x 6 templates


def test_run_seat_uses_the_embedder_on_every_sentence():
    test = load_seat_tests()[0]
    seen = []

    def embed(texts):
        seen.extend(texts)
        gen = torch.Generator().manual_seed(len(texts))
        return torch.randn(len(texts), 12, generator=gen)

    result = run_seat(test, embed, n_permutations=500, resamples=50, seed=0)
    assert len(seen) == len(test.x) + len(test.y) + len(test.a) + len(test.b)
    assert 0.0 < result.p_value <= 1.0 and result.ci[0] <= result.effect_size <= result.ci[1]
