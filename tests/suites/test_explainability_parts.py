"""Building blocks of the explainability suite checked against shap, scipy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import shap
import torch
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import permutation_importance as sk_permutation_importance
from torch import nn

from audit.suites.explainability.attribution import DecisionOutput, ExplainerSpec, _drop_added_parameters, explain
from audit.suites.explainability.groups import FeatureGroup, feature_groups, group_sum, image_patches
from audit.suites.explainability.reliance import mask_of, share
from audit.suites.explainability.trust import permutation_importance, spearman_rows
from audit.testing import synthetic_tabular, tabular_model


@pytest.fixture(scope="module")
def setup():
    data = synthetic_tabular(n=700, seed=4)
    return data, tabular_model(data, seed=4)


def test_gradient_attributions_match_shap_called_directly(setup):
    data, model = setup
    x, background = data.test.x[:30], data.train.x[:50]
    ours = explain(model, data.positive_class, x, background, ExplainerSpec("gradient", 50, 10), seed=7)
    head = DecisionOutput(model.module, "binary", "logits", data.positive_class)
    reference = shap.GradientExplainer(head, background).shap_values(x, nsamples=50, rseed=7)
    np.testing.assert_allclose(ours.values, np.asarray(reference)[..., 0], rtol=1e-6, atol=1e-8)
    # An independent explainer (DeepLIFT, exact additivity) ranks the features the same way.
    deep = explain(model, data.positive_class, x, background, ExplainerSpec("deep", 0, 0), seed=0)
    groups = feature_groups(data)
    grad_rank = np.abs(group_sum(ours.values, groups)).mean(axis=0)
    deep_rank = np.abs(group_sum(deep.values, groups)).mean(axis=0)
    assert spearmanr(grad_rank, deep_rank).statistic > 0.7
    np.testing.assert_allclose(deep.values.sum(axis=1), deep.explained - deep.baseline, atol=1e-4)


def test_decision_output_is_the_log_odds_of_the_positive_class(setup):
    data, model = setup
    x = data.test.x[:20]
    proba = model.predict_proba(x)
    head = DecisionOutput(model.module, "binary", "logits", data.positive_class)
    expected = np.log(proba[:, 1] / proba[:, 0])
    np.testing.assert_allclose(head(x).detach().numpy()[:, 0], expected, rtol=1e-4, atol=1e-4)


def test_one_hot_columns_sum_back_to_their_feature(setup):
    data, _ = setup
    groups = feature_groups(data)
    values = np.arange(2 * 7, dtype=float).reshape(2, 7)
    summed = group_sum(values, groups)
    job = [g.name for g in groups].index("job")
    assert summed[0, job] == values[0, 2] + values[0, 3] + values[0, 4]
    assert summed.sum() == pytest.approx(values.sum())
    assert [g.sensitive for g in groups] == [False, False, False, True]


def test_image_patches_tile_every_pixel_once():
    patches = image_patches((1, 28, 28), 7)
    columns = sorted(c for p in patches for c in p.columns)
    assert len(patches) == 49 and columns == list(range(784))


def test_spearman_rows_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 9)), rng.normal(size=(5, 9))
    a[0, :3] = 1.0  # ties
    expected = [spearmanr(a[i], b[i]).statistic for i in range(5)]
    np.testing.assert_allclose(spearman_rows(a, b), expected, rtol=1e-10)


class _SklearnView(BaseEstimator, ClassifierMixin):
    """A fitted scikit-learn facade over the torch model so sklearn can permute and score it."""

    def __init__(self, model=None):
        self.model = model

    def fit(self, x, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x):
        return self.model.predict_proba(torch.as_tensor(np.asarray(x), dtype=torch.float32))

    def predict(self, x):
        return self.predict_proba(x).argmax(axis=1)


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
def test_permutation_importance_agrees_with_scikit_learn(setup):
    data, model = setup
    x, y = data.test.x, data.test.y.numpy()
    columns = tuple(FeatureGroup(name, (i,)) for i, name in enumerate(data.feature_names))
    ours = permutation_importance(model.predict_proba, x, y, columns, 20, np.random.default_rng(0)).mean(axis=1)
    view = _SklearnView(model).fit(x.numpy(), y)
    theirs = sk_permutation_importance(view, x.numpy(), y, scoring="neg_log_loss", n_repeats=20,
                                       random_state=0).importances_mean
    np.testing.assert_allclose(ours, theirs, atol=0.02)
    assert np.argmax(ours) == np.argmax(theirs)


def test_share_is_the_ratio_of_mean_absolute_attributions():
    rows = np.array([[1.0, 3.0], [3.0, 1.0], [0.0, 4.0]])
    value, (lo, hi) = share(rows, mask_of([0], 2), resamples=200, seed=0)
    assert value == pytest.approx(4.0 / 12.0)
    assert 0.0 <= lo <= value <= hi <= 1.0


def test_deep_explainer_leaves_no_parameters_on_layers_inside_a_custom_module() -> None:
    """shap's DeepExplainer cleanup misses layers inside custom modules; a later suite loads the state_dict."""
    import shap
    import torch
    from torch import nn

    from audit.suites.explainability.attribution import DecisionOutput, ExplainerSpec, _torch_explainer

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

    x, background = torch.rand(4, 1, 8, 8), torch.rand(10, 1, 8, 8)
    raw = Wrapped()
    keys = set(raw.state_dict())
    shap.DeepExplainer(DecisionOutput(raw, "multiclass", "logits", 0).eval(), background).shap_values(
        x, ranked_outputs=1, check_additivity=False)
    assert set(raw.state_dict()) - keys  # shap alone leaves x / y behind
    ours = Wrapped()
    _torch_explainer(DecisionOutput(ours, "multiclass", "logits", 0).eval(), x, background,
                     ExplainerSpec("deep", 10, 5), 0)
    assert set(ours.state_dict()) == keys


class _Cnn(nn.Module):
    """Conv / ReLU / MaxPool / Flatten / Linear inside a custom module; `functional_flatten` flattens in forward,
    so the layers no longer form a plain chain."""

    def __init__(self, functional_flatten: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.functional_flatten = functional_flatten
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 6, 3, padding=1), nn.ELU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.head = nn.Sequential(nn.Linear(24, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        return self.head(z.flatten(1) if self.functional_flatten else self.flatten(z))


def _images(n: int, seed: int) -> torch.Tensor:
    x = 4 * torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed))
    x[:, :, :2, :] = 0.0  # a blank band: equal inputs, where shap's rules fall back to plain gradients
    return x


@pytest.mark.parametrize("functional_flatten", [False, True])
def test_batched_deeplift_equals_shaps_deep_explainer_row_by_row(functional_flatten):
    from audit.suites.explainability import deeplift

    head = DecisionOutput(_Cnn(functional_flatten), "multiclass", "logits", 0).eval()
    x, background = _images(7, 1), _images(13, 2)
    keys = set(head.module.state_dict())
    chain = deeplift._chain(head, x[:1])
    assert (chain is None) == functional_flatten  # the second model goes through shap's own hooks, batched
    with torch.no_grad():
        classes = head(x).argmax(dim=1).numpy()
    ours = deeplift.deeplift(head, x, background, classes)
    own = {id(m): set(m._parameters) for m in head.modules()}
    values, ranks = shap.DeepExplainer(head, background).shap_values(x, ranked_outputs=1, check_additivity=False)
    _drop_added_parameters(head, own)
    assert (ranks[:, 0].numpy() == classes).all()
    theirs = np.asarray(values)[..., 0].reshape(len(x), -1)
    assert np.abs(theirs).max() > 0.01
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert set(head.module.state_dict()) == keys


def test_chain_deeplift_equals_shap_on_a_binary_tabular_model(setup):
    from audit.suites.explainability import deeplift

    data, model = setup
    x, background = data.test.x[:20], data.train.x[:30]
    head = DecisionOutput(model.module, "binary", "logits", data.positive_class).eval()
    assert deeplift._chain(head, x[:1]) is not None
    ours = deeplift.deeplift(head, x, background, np.full(len(x), data.positive_class))
    own = {id(m): set(m._parameters) for m in head.modules()}
    theirs = shap.DeepExplainer(head, background).shap_values(x, check_additivity=False)
    _drop_added_parameters(head, own)
    np.testing.assert_allclose(ours, np.asarray(theirs)[..., 0], rtol=1e-4, atol=1e-6)


def test_permutation_importance_skipping_unchanged_rows_equals_predicting_every_row():
    """Rows whose shuffled patch equals their own are not predicted again; the drops equal the plain computation."""
    model = _Cnn().eval()

    def proba(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(x), dim=1).numpy()

    x = _images(120, 3)
    x[:60, :, 4:, 4:] = 0.0  # half the rows blank in one corner
    y = proba(x).argmax(axis=1)
    y[::5] = (y[::5] + 1) % 3
    groups = image_patches((1, 8, 8), 4)
    ours = permutation_importance(proba, x, y, groups, 3, np.random.default_rng(5))
    rng, flat = np.random.default_rng(5), x.reshape(len(x), -1)
    base = np.log(np.clip(proba(x)[np.arange(len(y)), y], 1e-7, 1)).mean()
    for g, group in enumerate(groups):
        cols = list(group.columns)
        for r in range(3):
            shuffled = flat.clone()
            shuffled[:, cols] = flat[torch.from_numpy(rng.permutation(len(x)))][:, cols]
            p = proba(shuffled.reshape(x.shape))[np.arange(len(y)), y]
            assert ours[g, r] == pytest.approx(base - np.log(np.clip(p, 1e-7, 1)).mean(), abs=1e-5)
    assert not ours[0].any() and np.abs(ours).max() > 1e-3  # a patch blank in every row changes nothing


def test_deep_rules_name_the_layers_shap_has_rules_for():
    from shap.explainers._deep.deep_pytorch import op_handler

    from audit.suites.explainability.deeplift import SHAP_RULES

    assert set(op_handler) == SHAP_RULES


def test_deeplift_takes_the_reference_gradient_where_a_unit_does_not_move():
    """A hidden unit x0 - x1 that is equal for a row and a background row (both inputs moved alike): shap takes the
    ReLU's plain gradient there, which still splits between the two inputs."""
    from audit.suites.explainability import deeplift

    torch.manual_seed(3)
    first, last = nn.Linear(2, 3), nn.Linear(3, 2)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.8]]))
        first.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    head = DecisionOutput(nn.Sequential(first, nn.ReLU(), last), "binary", "logits", 1).eval()
    background = torch.randn(6, 2, generator=torch.Generator().manual_seed(4))
    x = torch.cat([background[:3] + 0.7, torch.randn(3, 2, generator=torch.Generator().manual_seed(5))])
    ours = deeplift.deeplift(head, x, background, np.ones(len(x), dtype=int))
    own = {id(m): set(m._parameters) for m in head.modules()}
    theirs = np.asarray(shap.DeepExplainer(head, background).shap_values(x, check_additivity=False))[..., 0]
    _drop_added_parameters(head, own)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("dims", "kernel", "stride", "padding"),
                         [(1, 2, 2, 0), (2, 2, 2, 0), (2, 3, 2, 1), (3, 2, 1, 0)])
def test_unpool_writes_what_max_unpool_writes(dims, kernel, stride, padding):
    """The scatter that replaces F.max_unpool*d: the same bits, signed zeros and overlapping windows included."""
    from audit.suites.explainability.deeplift import _unpool

    gen = torch.Generator().manual_seed(dims + kernel)
    x = torch.randn((3, 4, *([7] * dims)), generator=gen)
    pool = getattr(torch.nn.functional, f"max_pool{dims}d")
    pooled, index = pool(x, kernel, stride, padding, return_indices=True)
    values = torch.randn(pooled.shape, generator=gen)
    values[values.abs() < 0.3] = -0.0
    expected = getattr(torch.nn.functional, f"max_unpool{dims}d")(values, index, kernel, stride, padding,
                                                                   list(x.shape))
    ours = _unpool(values, index, tuple(x.shape))
    assert torch.equal(ours.view(torch.int32), expected.view(torch.int32))


def _awkward(dtype: torch.dtype, threshold: float) -> torch.Tensor:
    """Values at and around `threshold`, signed zeros, subnormals, infinities and NaN."""
    tiny = torch.finfo(dtype).tiny
    edge = torch.tensor(threshold, dtype=dtype)
    special = torch.tensor([0.0, -0.0, tiny / 4, -tiny / 4, float("inf"), -float("inf"), float("nan")], dtype=dtype)
    near = torch.stack([edge, -edge, torch.nextafter(edge, torch.zeros_like(edge)),
                        torch.nextafter(edge, torch.ones_like(edge))])
    noise = torch.randn(500, generator=torch.Generator().manual_seed(1), dtype=dtype) * threshold * 3
    return torch.cat([special, near, -near, noise])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_bit_masks_equal_torch_where_and_masked_fill(dtype):
    """The integer-op masks of the DeepLIFT rules select exactly what the comparisons with bool masks select."""
    from audit.suites.explainability.deeplift import _select_where_small, _zero_where_small

    for threshold in (1e-7, 1e-6):
        d = _awkward(dtype, threshold)
        values = _awkward(dtype, 1.0)[torch.randperm(len(d), generator=torch.Generator().manual_seed(2))]
        expected = values.clone().masked_fill_(d.abs() < threshold, 0.0)
        assert torch.equal(_zero_where_small(values.clone(), d, threshold).view(-1).view(torch.uint8),
                           expected.view(torch.uint8))
        k, refs = 3, len(d) // 3  # pairs (row, reference): one reference gradient per reference
        pairs = d[: k * refs]
        ref_grad = torch.randn(refs, generator=torch.Generator().manual_seed(3), dtype=dtype)
        ref_grad[::4] = -0.0
        ratio = values[: k * refs]
        expected = torch.where((pairs.abs() < threshold).view(k, refs), ref_grad[None], ratio.view(k, refs))
        ours = _select_where_small(pairs, threshold, ref_grad, ratio.clone(), k)
        assert torch.equal(ours.view(torch.uint8), expected.reshape(-1).view(torch.uint8))


def test_chain_deeplift_is_the_same_whatever_the_pair_batches(monkeypatch):
    """Rows against parts of the background, one row or several against all of it: the same values to float32
    rounding (the products of a few pairs may round differently from many pairs'; mnist-cnn's 50-pair and
    200-pair batches agree bit for bit)."""
    from audit.suites.explainability import deeplift

    head = DecisionOutput(_Cnn(), "multiclass", "logits", 0).eval()
    x, background = _images(9, 4), _images(13, 5)
    with torch.no_grad():
        classes = head(x).argmax(dim=1).numpy()
    results = {}
    for pairs in (1, 4, 7, 13, 30, 256):  # widest layer: 4 x 8 x 8 = 256 values per pair
        monkeypatch.setattr(deeplift, "PAIR_VALUES", pairs * 256)
        results[deeplift.pair_batch(len(background), 256)] = deeplift.deeplift(head, x, background, classes)
    assert set(results) == {(1, 1), (1, 4), (1, 7), (1, 13), (2, 13), (19, 13)}
    reference = results.pop((19, 13))
    assert np.abs(reference).max() > 0.01
    for values in results.values():
        np.testing.assert_allclose(values, reference, rtol=1e-5, atol=1e-7)
    assert np.array_equal(results[(1, 13)], reference)  # whole rows, one or many: the same products
