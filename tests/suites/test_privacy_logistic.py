"""The privacy suite's logistic regression (Newton) against scikit-learn's StandardScaler → PCA → LogisticRegression
pipeline scored by cross_val_predict on the same folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audit.suites.privacy.logistic import out_of_fold_proba


def _problem(n: int, d: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + rng.normal(0, 5, d)
    x[:, 0] = 3.0  # a constant column: sklearn only centres it
    logits = x[:, 1:4] @ rng.normal(size=(3, classes)) / x[:, 1:4].std(0).mean()
    target = (logits + rng.gumbel(size=(n, classes))).argmax(1)
    target[:12] = classes - 1  # a rare class stays learnable in every fold
    return x, target


@pytest.mark.parametrize(("n", "d", "classes", "components"), [
    (300, 5, 2, None), (400, 8, 4, None), (500, 30, 2, 10), (600, 40, 5, 10),
])
def test_out_of_fold_probabilities_match_sklearn(n: int, d: int, classes: int, components: int | None) -> None:
    x, target = _problem(n, d, classes, seed=n)
    limit = components or d
    ours = out_of_fold_proba(x, target, 5, 7, limit, c=0.5)
    steps = [StandardScaler()] + ([PCA(components, svd_solver="full")] if components else [])
    reference = cross_val_predict(make_pipeline(*steps, LogisticRegression(C=0.5, max_iter=10_000, tol=1e-12)), x,
                                  target, cv=StratifiedKFold(5, shuffle=True, random_state=7), method="predict_proba")
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_separable_classes_still_converge_to_the_regularised_optimum() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    target = (x[:, 0] > 0).astype(int)  # perfectly separable: only the penalty keeps the weights finite
    ours = out_of_fold_proba(x, target, 5, 0, 50)
    reference = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000, tol=1e-12)), x,
                                  target, cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    assert np.isfinite(ours).all()


@pytest.mark.parametrize("classes", [2, 4])
def test_hessian_matrix_equals_autograd(classes: int) -> None:
    """The preconditioner's Hessian (a BLAS symmetric rank-k update for the softmax) is the objective's own."""
    import torch

    from audit.suites.privacy import logistic

    x, target = _problem(120, 6, classes, seed=classes)
    x1 = logistic._with_intercept(torch.as_tensor((x - x.mean(0))[:, 1:] / x[:, 1:].std(0), dtype=torch.float64))
    onehot = torch.nn.functional.one_hot(torch.as_tensor(target), classes).double()
    k = 1 if classes == 2 else classes
    weights = torch.as_tensor(np.random.default_rng(0).normal(0, 0.3, (x1.shape[1], k)))
    penalty = torch.ones_like(weights)
    penalty[-1] = 0.0
    curvature = logistic._Curvature(x1, logistic._probabilities(x1, weights), 0.7, penalty)
    hessian = torch.autograd.functional.hessian(
        lambda w: logistic._objective(x1, onehot, w.reshape(k, -1).T, 0.7), weights.T.flatten())
    np.testing.assert_allclose(curvature.matrix(k).numpy(), hessian.numpy(), rtol=1e-10, atol=1e-10)
