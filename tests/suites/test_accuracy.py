"""Accuracy metrics against scikit-learn on the same predictions; CIs seeded and sane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier

from audit import stats
from audit.suite import SuiteContext
from audit.suites.accuracy import AccuracyParams, AccuracySuite
from audit.suites.accuracy import metrics as mx
from audit.testing import synthetic_tabular, tabular_model


def _random_predictions(n: int, k: int, seed: int) -> mx.Predictions:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return mx.Predictions(y=y, proba=proba)


def _ece_reference(y: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """Textbook ECE (Guo et al. 2017) written independently with a loop over bins."""
    conf, pred = proba.max(axis=1), proba.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for i in range(bins):
        upper = conf <= edges[i + 1] if i == bins - 1 else conf < edges[i + 1]
        in_bin = (conf >= edges[i]) & upper
        if in_bin.any():
            total += in_bin.mean() * abs((pred[in_bin] == y[in_bin]).mean() - conf[in_bin].mean())
    return total


@pytest.mark.parametrize("k", [2, 4])
def test_point_estimates_match_sklearn(k: int) -> None:
    p = _random_predictions(500, k, seed=k)
    ones = np.ones((1, 500))
    pred = p.proba.argmax(axis=1)
    assert mx.accuracy(p, ones)[0] == pytest.approx(skm.accuracy_score(p.y, pred))
    assert mx.balanced_accuracy(p, ones)[0] == pytest.approx(skm.balanced_accuracy_score(p.y, pred))
    assert mx.macro_f1(p, ones)[0] == pytest.approx(skm.f1_score(p.y, pred, average="macro"))
    assert mx.log_loss(p, ones)[0] == pytest.approx(skm.log_loss(p.y, p.proba, labels=list(range(k))))
    if k == 2:
        assert mx.auroc(p, ones)[0] == pytest.approx(skm.roc_auc_score(p.y, p.proba[:, 1]))
        assert mx.brier(p, ones)[0] == pytest.approx(skm.brier_score_loss(p.y, p.proba[:, 1]))
    else:
        assert mx.auroc(p, ones)[0] == pytest.approx(skm.roc_auc_score(p.y, p.proba, multi_class="ovr"))
    assert mx.expected_calibration_error(p, ones)[0] == pytest.approx(_ece_reference(p.y, p.proba), abs=1e-9)
    baseline = DummyClassifier(strategy="most_frequent").fit(np.zeros((500, 1)), p.y)
    trivial = skm.accuracy_score(p.y, baseline.predict(np.zeros((500, 1))))
    assert mx.accuracy_over_majority(p, ones)[0] == pytest.approx(skm.accuracy_score(p.y, pred) - trivial)


def test_auroc_handles_ties_like_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    score = np.round(rng.random(400) + 0.3 * y, 1)  # heavy ties
    p = mx.Predictions(y=y, proba=np.stack([1 - score / 2, score / 2], axis=1))
    assert mx.auroc(p, np.ones((1, 400)))[0] == pytest.approx(skm.roc_auc_score(y, score))


def test_bootstrap_weights_equal_explicit_resamples() -> None:
    """Weighted formulas on multiplicities == sklearn on the resampled rows themselves."""
    p = _random_predictions(200, 2, seed=9)
    weights = stats.resample_counts(200, 5, seed=1)
    idx = np.random.default_rng(1).integers(0, 200, size=(5, 200))
    for r in range(5):
        rows = idx[r]
        assert mx.accuracy(p, weights[r : r + 1])[0] == pytest.approx(skm.accuracy_score(p.y[rows], p.pred[rows]))
        assert mx.auroc(p, weights[r : r + 1])[0] == pytest.approx(skm.roc_auc_score(p.y[rows], p.proba[rows, 1]))
        assert mx.macro_f1(p, weights[r : r + 1])[0] == pytest.approx(
            skm.f1_score(p.y[rows], p.pred[rows], average="macro"))


def _run(seed: int = 0, params: AccuracyParams | None = None, n: int = 800):
    data = synthetic_tabular(n, seed=1)
    model = tabular_model(data)
    ctx = SuiteContext(model=model, data=data, seed=seed, preset="quick", cache_dir=Path("."))
    return AccuracySuite().run(ctx, params or AccuracyParams(bootstrap_resamples=200)), model, data


def test_suite_measurements_have_cis_and_match_sklearn() -> None:
    out, model, data = _run()
    by = {m.name: m for m in out.measurements}
    y = data.test.y.numpy()
    pred = model.predict(data.test.x)
    assert by["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    for name in ("accuracy", "accuracy_over_majority", "balanced_accuracy", "macro_f1", "auroc", "log_loss", "brier",
                 "ece"):
        lo, hi = by[name].ci
        assert lo <= by[name].value <= hi, name
        assert by[name].insufficient_reason is None
    recall = skm.recall_score(y, pred, average=None)
    assert by["recall[>50K]"].value == pytest.approx(recall[1])
    assert {t.id for t in out.tables} == {"confusion_matrix", "per_class"}
    assert any(c.id == "reliability" for c in out.charts)


def test_same_seed_same_output_and_other_seed_other_ci() -> None:
    a, _, _ = _run(seed=4)
    b, _, _ = _run(seed=4)
    c, _, _ = _run(seed=5)
    assert a == b
    assert a.measurements[0].ci != c.measurements[0].ci


def test_too_few_rows_is_insufficient_evidence() -> None:
    out, _, _ = _run(params=AccuracyParams(bootstrap_resamples=50, min_rows=10_000))
    assert all(m.insufficient_reason for m in out.measurements)


def test_predictions_on_one_torch_thread_change_no_figure_and_restore_the_callers_threads() -> None:
    """The suite predicts with torch on one thread (a second one spins on small products); every figure equals the
    one computed from the predictions torch makes on the caller's threads, and the caller keeps its setting."""
    import torch

    from audit.suites.accuracy.suite import _headline, _per_class_recall

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out, model, data = _run()
        assert torch.get_num_threads() == 2
        preds = mx.Predictions(y=data.test.y.numpy().astype(int), proba=model.predict_proba(data.test.x))
        ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=Path("."))
        params = AccuracyParams(bootstrap_resamples=200)
        expected = (*_headline(preds, ctx, params), *_per_class_recall(preds, data.class_names, params.min_rows))
        assert out.measurements == expected
    finally:
        torch.set_num_threads(previous)


def test_shared_products_give_the_same_figures() -> None:
    p = _random_predictions(500, 3, seed=2)
    chunks = list(stats.iter_resample_counts(500, 120, 7, chunk=50))
    fns = (mx.accuracy, mx.accuracy_over_majority, mx.balanced_accuracy, mx.macro_f1)
    plain = [[fn(p, w) for fn in fns] for w in chunks]
    with mx.shared_products():
        shared = [[fn(p, w) for fn in fns] for w in chunks]
    assert mx._SHARED is None
    for a, b in zip(plain, shared, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
