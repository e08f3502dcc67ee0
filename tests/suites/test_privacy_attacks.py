"""Attack building blocks against independent implementations (ART, torch, scipy)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats as sps
from torch.func import stack_module_state

from audit.models.architectures import build
from audit.models.recipes import BASE_RECIPES
from audit.models.types import Recipe
from audit.suites.privacy import shadow as shadow_module
from audit.suites.privacy.art_attack import art_blackbox_scores
from audit.suites.privacy.lira import lira_scores
from audit.suites.privacy.shadow import (
    _grouped_layers,
    grouped_forward,
    paired_assignment,
    predict_stack,
    train_sequential,
    train_vectorised,
)
from audit.suites.privacy.threshold import correctness_scores, logit_confidence, loss_scores
from audit.testing import synthetic_tabular, tabular_model


@pytest.fixture(scope="module")
def data_and_model():
    data = synthetic_tabular(400, seed=1)
    return data, tabular_model(data, epochs=40)


def test_loss_and_confidence_scores_match_torch(data_and_model) -> None:
    data, model = data_and_model
    out = model.scores(data.test.x)
    expected = -torch.nn.functional.cross_entropy(out, data.test.y, reduction="none").double().numpy()
    assert np.allclose(loss_scores(out, data.test.y, "logits"), expected, atol=1e-5)
    probs = torch.softmax(out.double(), dim=1)
    assert np.allclose(loss_scores(probs, data.test.y, "probabilities"), expected, atol=1e-5)
    p_true = probs.gather(1, data.test.y[:, None]).squeeze(1).numpy()
    direct = np.log(p_true / (1 - p_true))
    assert np.allclose(logit_confidence(out, data.test.y, "logits"), direct, atol=1e-6)
    assert np.allclose(logit_confidence(probs, data.test.y, "probabilities"), direct, atol=1e-6)


def test_correctness_rule_matches_art_rule_based_attack(data_and_model) -> None:
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased
    from art.estimators.classification import BlackBoxClassifier

    data, model = data_and_model
    x = torch.cat([data.train.x, data.test.x])
    y = torch.cat([data.train.y, data.test.y])
    estimator = BlackBoxClassifier(lambda a: model.predict_proba(torch.as_tensor(a)), (x.shape[1],), 2)
    art_says = MembershipInferenceBlackBoxRuleBased(estimator).infer(x.numpy(), y.numpy())
    ours = correctness_scores(model.scores(x), y)
    assert np.array_equal(art_says.astype(float), ours)


def test_art_blackbox_scores_the_held_out_half_deterministically(data_and_model) -> None:
    data, model = data_and_model
    x = torch.cat([data.train.x[:160], data.test.x[:160]])
    y = torch.cat([data.train.y[:160], data.test.y[:160]]).numpy()
    labels = np.r_[np.ones(160, int), np.zeros(160, int)]
    probs = model.predict_proba(x)
    first = art_blackbox_scores(probs, y, labels, 2, "gb", np.random.default_rng(0))
    again = art_blackbox_scores(probs, y, labels, 2, "gb", np.random.default_rng(0))
    assert first.scores.shape == (160,) and first.labels.sum() == 80
    assert np.array_equal(first.scores, again.scores)
    assert np.array_equal(first.labels, labels[first.held_out])
    assert ((first.scores >= 0) & (first.scores <= 1)).all()


def test_paired_assignment_balances_rows_and_models() -> None:
    keep = paired_assignment(6, 40, np.random.default_rng(0))
    assert (keep.sum(axis=0) == 3).all() and (keep.sum(axis=1) == 20).all()


@pytest.mark.parametrize(("optimizer", "weight_decay"), [("adam", 0.0), ("adam", 1e-3), ("adamw", 1e-2), ("sgd", 1e-3)])
def test_vectorised_shadows_equal_sequential_training(data_and_model, optimizer: str, weight_decay: float) -> None:
    """The stacked models' own optimiser step against torch.optim's, one model at a time."""
    data, model = data_and_model
    recipe = dataclasses.replace(model.recipe, batch_size=32, lr=0.01, optimizer=optimizer, weight_decay=weight_decay)
    x, y = data.train.x, data.train.y
    keep = paired_assignment(4, len(y), np.random.default_rng(1))
    stack = train_vectorised(recipe, x, y, keep, epochs=3, seed=5)
    sequential = train_sequential(recipe, x, y, keep, epochs=3, seed=5)
    with torch.no_grad():
        expected = torch.stack([m(x) for m in sequential])
    assert torch.allclose(predict_stack(stack, x), expected, atol=1e-4)


def _mnist_recipe(**changes: object) -> Recipe:
    return dataclasses.replace(BASE_RECIPES["mnist-cnn"], arch_kwargs={"n_classes": 10, "channels": [4, 6],
                                                                        "hidden": 12}, **changes)


@pytest.mark.parametrize("architecture", ["tabular-mlp", "mnist-cnn"])
def test_grouped_forward_equals_each_model_run_alone(architecture: str) -> None:
    """The shadows' grouped model (grouped convolution, batched matmul) against each torch module on its own rows."""
    torch.manual_seed(0)
    if architecture == "mnist-cnn":
        kwargs: dict = dict(_mnist_recipe().arch_kwargs)
        x = torch.rand(3, 5, 1, 28, 28)
    else:
        kwargs = {"in_features": 7, "n_classes": 3, "hidden": [6, 5]}
        x = torch.randn(3, 5, 7)
    models = [build(architecture, **kwargs) for _ in range(3)]
    params, _ = stack_module_state(models)
    layers = _grouped_layers(copy.deepcopy(models[0]).to("meta"), architecture)
    assert layers is not None
    got = grouped_forward(layers, params, x)
    with torch.no_grad():
        expected = torch.stack([m(xb) for m, xb in zip(models, x, strict=True)])
    assert torch.allclose(got, expected, atol=1e-5)
    assert _grouped_layers(build("tabular-mlp", in_features=7, dropout=0.2), "tabular-mlp") is None  # vmap then


def test_cnn_shadows_equal_sequential_training_in_any_stacking(monkeypatch: pytest.MonkeyPatch) -> None:
    """CNN shadows trained grouped (in one stack, or in stacks kept under the activation limit) against torch.optim
    training each model alone."""
    recipe = _mnist_recipe(batch_size=8, lr=0.01)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 1, 28, 28, generator=g), torch.randint(0, 10, (40,), generator=g)
    keep = paired_assignment(4, 40, np.random.default_rng(2))
    one = train_vectorised(recipe, x, y, keep, epochs=2, seed=5)
    monkeypatch.setattr(shadow_module, "STEP_ACTIVATION_BYTES", 1)  # one model per stack
    split = train_vectorised(recipe, x, y, keep, epochs=2, seed=5)
    sequential = train_sequential(recipe, x, y, keep, epochs=2, seed=5)
    with torch.no_grad():
        expected = torch.stack([m(x) for m in sequential])
    assert torch.allclose(predict_stack(one, x), expected, atol=1e-4)
    assert torch.allclose(predict_stack(split, x), expected, atol=1e-4)
    assert torch.allclose(predict_stack(split, x, batch_size=7), predict_stack(split, x), atol=1e-6)


def test_lira_scores_match_gaussian_likelihood_ratio() -> None:
    rng = np.random.default_rng(0)
    n_models, n = 8, 200
    keep = paired_assignment(n_models, n, rng)
    shadow = rng.normal(0, 1, (n_models, n)) + 2.0 * keep
    target = rng.normal(0, 1, n) + 2.0 * (np.arange(n) < n // 2)
    scores = lira_scores(target, shadow, keep, global_variance=False)
    j = 7
    ins, outs = shadow[keep[:, j], j], shadow[~keep[:, j], j]

    def spread(v: np.ndarray) -> float:  # root-mean-square distance from the median
        return float(np.sqrt(((v - np.median(v)) ** 2).mean()))

    expected = (sps.norm.logpdf(target[j], np.median(ins), spread(ins))
                - sps.norm.logpdf(target[j], np.median(outs), spread(outs)))
    assert scores.online[j] == pytest.approx(expected)
    members = np.arange(n) < n // 2
    assert scores.online[members].mean() > scores.online[~members].mean() + 1
    assert scores.in_per_example == scores.out_per_example == 4
    with pytest.raises(ValueError):
        lira_scores(target, shadow[:2], keep[:2])
