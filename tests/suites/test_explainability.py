"""End-to-end behaviour of the explainability suite on synthetic models (fast, quick-sized params)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audit.errors import AuditInputError
from audit.suite import SuiteContext, validate_params
from audit.suites.explainability import ExplainabilityParams, ExplainabilitySuite
from audit.testing import synthetic_tabular, tabular_model, wrap_module
from audit.types import SuiteResult, SuiteStatus, Table

SMALL = ExplainabilityParams(n_explain=60, nsamples=40, permutation_rows=300, permutation_repeats=3, n_local=2,
                             bootstrap_resamples=200, kernel_max_rows=20, kernel_background=10)


class OnlyColumn(nn.Module):
    """Logits that depend on one input column only."""

    def __init__(self, column: int):
        super().__init__()
        self.column = column

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 2.0 * x[:, self.column : self.column + 1]
        return torch.cat([-z, z], dim=1)


def _ctx(model, data, seed: int = 0, previous=None) -> SuiteContext:
    return SuiteContext(model=model, data=data, seed=seed, preset="quick", cache_dir=Path("."),
                        previous=previous or {})


def _by_name(output) -> dict:
    return {m.name: m for m in output.measurements}


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=800, seed=1)


def _importance(output) -> dict[str, float]:
    table = next(t for t in output.tables if t.id == "global_importance")
    return {row[1]: row[3] for row in table.rows}  # feature -> share


def test_model_using_one_feature_gets_all_attribution(data):
    model = wrap_module(OnlyColumn(1), data)
    output = ExplainabilitySuite().run(_ctx(model, data), SMALL)
    shares = _importance(output)
    assert shares["education"] > 0.99
    assert _by_name(output)["sensitive_reliance"].value < 0.01
    assert all(check.passed for check in output.validity)


class SquaredHidden(nn.Module):
    """Layers shap's DeepExplainer knows, joined by a functional square it cannot see."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.first, self.second = nn.Linear(7, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x) ** 2)


def test_deep_explainer_that_does_not_add_up_falls_back_to_gradients(data):
    params = dataclasses.replace(SMALL, nsamples=200)  # expected gradients converge slowly on a squared layer
    output = ExplainabilitySuite().run(_ctx(wrap_module(SquaredHidden(), data), data), params)
    assert "gradient explainer" in output.notes[0]
    assert any("did not add up" in note for note in output.notes)
    assert all(check.passed for check in output.validity)
    plain_mlp = tabular_model(data)  # Linear and ReLU layers only: DeepExplainer is used and adds up
    assert "deep explainer" in ExplainabilitySuite().run(_ctx(plain_mlp, data), SMALL).notes[0]


def test_kernel_fallback_without_gradients(data):
    model = wrap_module(OnlyColumn(0), data, capabilities=frozenset({"logits"}))
    output = ExplainabilitySuite().run(_ctx(model, data), SMALL)
    assert "kernel" in output.notes[0]
    assert _importance(output)["hours"] > 0.99


def test_reliance_on_a_sensitive_input_is_detected():
    biased_data = synthetic_tabular(n=800, seed=2, bias=3.0)
    fair_data = synthetic_tabular(n=800, seed=2, bias=0.0)
    suite = ExplainabilitySuite()
    biased = _by_name(suite.run(_ctx(tabular_model(biased_data), biased_data), SMALL))
    fair = _by_name(suite.run(_ctx(tabular_model(fair_data), fair_data), SMALL))
    assert biased["sensitive_reliance[sex]"].value > 0.25
    assert biased["sensitive_reliance[sex]"].ci[0] > fair["sensitive_reliance[sex]"].ci[1]
    overall = biased["sensitive_reliance"]
    assert overall.ci[0] <= overall.value <= overall.ci[1]


@pytest.fixture(scope="module")
def model(data):
    return tabular_model(data)


@pytest.fixture(scope="module")
def first(model, data):
    return ExplainabilitySuite().run(_ctx(model, data, seed=3), SMALL)


def test_trust_figures_and_determinism(model, data, first):
    assert first == ExplainabilitySuite().run(_ctx(model, data, seed=3), SMALL)
    figures = _by_name(first)
    for name in ("rank_stability", "permutation_agreement"):
        assert -1.0 <= figures[name].value <= 1.0
        assert figures[name].insufficient_reason is None
    assert figures["rank_stability"].value > 0.7  # two backgrounds agree on a 4-feature model
    local = next(t for t in first.tables if t.id == "local_explanations")
    assert {row[0] for row in local.rows} and all(row[1] != row[2] for row in local.rows)  # errors only
    assert {c.id for c in first.charts} == {"global_importance", "shap_beeswarm"}


def test_proxy_reliance_from_the_fairness_suite(model, data, first):
    proxies = Table("proxies", "Proxies", ("attribute", "feature", "importance"),
                    (("race", "education", 0.4), ("race", "job=manager", 0.1), ("sex", "unknown", 0.2)))
    previous = {"fairness": SuiteResult("fairness", "fairness", SuiteStatus.OK, tables=(proxies,))}
    output = ExplainabilitySuite().run(_ctx(model, data, previous=previous), SMALL)
    figures = _by_name(output)
    shares = _importance(output)
    assert figures["proxy_reliance[race]"].value == pytest.approx(shares["education"] + shares["job"], abs=1e-5)
    assert figures["proxy_reliance[race]"].details["proxies"] == ["education", "job"]
    assert "proxy_reliance[sex]" not in figures  # its proxy is not a model input
    assert any("fairness suite did not run" in note for note in first.notes)


def test_bad_params_are_input_errors(data):
    model = wrap_module(OnlyColumn(0), data, capabilities=frozenset({"logits"}))
    with pytest.raises(AuditInputError, match="explainability.explainer = 'lime'.*one of 'auto'"):
        validate_params("explainability", dataclasses.replace(SMALL, explainer="lime"))
    with pytest.raises(AuditInputError, match="gradients"):
        ExplainabilitySuite().run(_ctx(model, data), dataclasses.replace(SMALL, explainer="gradient"))


def test_image_model_gets_attribution_maps():
    data = _tiny_images()
    model = wrap_module(_top_left_detector(), data)
    params = dataclasses.replace(SMALL, n_explain=40, patches_per_side=4, permutation_rows=200)
    output = ExplainabilitySuite().run(_ctx(model, data), params)
    charts = {c.id: c for c in output.charts}
    assert charts["attribution_maps"].images.cmap == "diverging"
    assert len(charts["attribution_maps"].images.images[0][0]) == 8  # 8x8 pixels
    table = next(t for t in output.tables if t.id == "global_importance")
    assert table.rows[0][1] == "r0c0"  # the label is written in the top-left patch


def _top_left_detector() -> nn.Module:
    """A conv net whose class-1 score is the brightness of the 2x2 top-left patch (no training needed)."""
    conv = nn.Conv2d(1, 1, 1)
    linear = nn.Linear(64, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
        linear.weight.zero_()
        linear.bias.copy_(torch.tensor([0.5, -0.5]))
        for pixel in (0, 1, 8, 9):
            linear.weight[1, pixel] = 1.0
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), linear)


def _tiny_images():
    import pandas as pd

    from audit.data.types import Dataset, Split

    rng = np.random.default_rng(0)
    n = 500
    y = rng.integers(0, 2, n)
    x = rng.uniform(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    x[:, 0, :2, :2] += (y[:, None, None] * 0.7).astype(np.float32)
    whole = Split(torch.tensor(x), torch.tensor(y), pd.DataFrame(index=range(n)))
    return Dataset("tiny-images", "multiclass", ("a", "b"), "image", (), (), (),
                   whole.subset(torch.arange(300)), whole.subset(torch.arange(300, n)), "test", "0")
