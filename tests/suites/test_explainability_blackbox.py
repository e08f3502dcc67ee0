"""Black-box explainers (KernelExplainer, PermutationExplainer) on a model without gradients."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from audit.models.types import ModelSource, ModelUnderAudit, QueryOnlyModule
from audit.suites.explainability import ExplainabilitySuite
from audit.suites.explainability.attribution import ExplainerSpec, additivity_error, explain
from audit.suites.explainability.suite import QUICK
from audit.testing import synthetic_tabular
from tests.suites.robustness_helpers import context


class _Probabilities:
    def __init__(self, est):
        self.est = est

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.est.predict_proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.est.predict(x)


@pytest.fixture(scope="module")
def fitted():
    data = synthetic_tabular(400)
    est = LogisticRegression().fit(data.train.x.numpy(), data.train.y.numpy())
    backend = _Probabilities(est)
    model = ModelUnderAudit(
        name="lr", module=QueryOnlyModule(backend), task=data.task, n_classes=2, input_kind="tabular",
        input_shape=data.input_shape, outputs="probabilities", device="cpu",
        capabilities=frozenset({"predict", "predict_proba", "queries"}), source=ModelSource("test", "lr", "0" * 64),
        backend=backend)
    return data, est, model


@pytest.mark.parametrize("method", ["permutation", "kernel"])
def test_black_box_explainers_recover_a_linear_models_exact_shapley_values(fitted, method):
    data, est, model = fitted
    x, background = data.test.x[:8], data.train.x[:20]
    attr = explain(model, 1, x, background, ExplainerSpec(method, 200, 20, permutations=4), seed=0)
    # Log-odds are linear, so interventional Shapley values are w_i (x_i - mean of the background's x_i).
    exact = est.coef_[0] * (x.numpy() - background.numpy().mean(axis=0))
    assert np.abs(attr.values - exact).max() < 1e-3
    assert additivity_error(attr) < 1e-6


def test_suite_names_the_black_box_explainer_it_used(fitted):
    data, _, model = fitted
    params = dataclasses.replace(QUICK, explainer="permutation", kernel_max_rows=10, n_background=20,
                                 shap_permutations=2, permutation_rows=100, n_local=1, bootstrap_resamples=100)
    out = ExplainabilitySuite().run(context(model, data), params)
    assert any("black-box explainer (shap's PermutationExplainer)" in note for note in out.notes)
    stability = next(m for m in out.measurements if m.name == "rank_stability")
    assert stability.details["explainer"] == "permutation"


def test_gradient_free_model_defaults_to_kernel_explainer(fitted):
    data, _, model = fitted
    params = dataclasses.replace(QUICK, kernel_max_rows=10, n_background=20, nsamples=64, permutation_rows=100,
                                 n_local=1, bootstrap_resamples=100)
    out = ExplainabilitySuite().run(context(model, data), params)
    assert any("shap's KernelExplainer" in note for note in out.notes)
