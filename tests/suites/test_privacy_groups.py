"""Leakage by group: the advantage CI, read from the AUC's stratified counts, equals resampling the flags by index."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from audit.stats import bootstrap_indices, percentile_ci
from audit.suites.privacy import groups, roc


def _by_index(flags: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Each resample's share of flagged rows, the rows drawn explicitly (`bootstrap_indices`)."""
    return flags[bootstrap_indices(flags.size, resamples, seed)].mean(axis=1)


def test_group_advantage_ci_equals_resampling_rows_by_index() -> None:
    rng = np.random.default_rng(5)
    labels = rng.permutation(np.repeat([1, 0], 400))
    scores = rng.normal(labels * 0.7, 1.0).round(1)  # ties, as a coarse attack score has
    sensitive = {"sex": rng.choice(["f", "m"], labels.size), "band": rng.choice(["a", "b", "c"], labels.size)}
    threshold, resamples, seed = 0.4, 300, 11
    roc.forget_resamples()
    leaks = groups.group_leakage(scores, labels, sensitive, threshold, 30, resamples, seed)
    expected = [(a, g) for a in sensitive for g in sorted(set(sensitive[a].tolist()))]
    assert [(g.attribute, g.group) for g in leaks] == expected
    for leak in leaks:
        rows = sensitive[leak.attribute] == leak.group
        s, y = scores[rows], labels[rows]
        flags = (s >= threshold).astype(float)
        diffs = _by_index(flags[y == 1], resamples, seed) - _by_index(flags[y == 0], resamples, seed + 1)
        assert leak.advantage_ci == percentile_ci(diffs)
        assert leak.advantage == flags[y == 1].mean() - flags[y == 0].mean()
        assert np.isclose(leak.auc, roc_auc_score(y, s))
        assert leak.auc_ci[0] <= leak.auc <= leak.auc_ci[1]
    roc.forget_resamples()
