"""The attacks have power: a memorising model is caught, a model that never saw the members is not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audit.data.types import Dataset, FeatureSpec, Split
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.privacy import PrivacyParams, PrivacySuite
from audit.testing import tabular_model, wrap_module
from audit.types import Measurement

PARAMS = PrivacyParams(max_per_side=1000, shadow_models=8, bootstrap_resamples=200, attribute_rows=300,
                       shift_rows=400)


def noisy_tabular(n_train: int, n_test: int, seed: int, d: int = 20, flip: float = 0.2) -> Dataset:
    """Gaussian features, a linear rule with `flip` label noise: room to memorise individual rows."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    y = np.where(rng.random(n) < flip, 1 - y, y)
    whole = Split(torch.tensor(x), torch.tensor(y), pd.DataFrame({"group": rng.choice(["a", "b"], n)}))
    names = tuple(f"f{i}" for i in range(d))
    return Dataset(
        name="noisy", task="binary", class_names=("no", "yes"), input_kind="tabular", feature_names=names,
        features=tuple(FeatureSpec(name, "numeric", (i,)) for i, name in enumerate(names)),
        sensitive_attributes=("group",), train=whole.subset(torch.arange(n_train)),
        test=whole.subset(torch.arange(n_train, n)), source="tests", sha256=f"noisy-{n_train}-{n_test}-{seed}",
    )


def _run(model, data, tmp_path: Path) -> dict[str, Measurement]:
    ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=tmp_path)
    out: SuiteOutput = PrivacySuite().run(ctx, PARAMS)
    assert all(v.passed for v in out.validity), out.validity
    return {m.name: m for m in out.measurements}


@pytest.fixture(scope="module")
def overfit_figures(tmp_path_factory) -> dict[str, Measurement]:
    data = noisy_tabular(100, 100, seed=4)  # a small subset
    model = tabular_model(data, epochs=300, hidden=(128,))  # no regularisation, many full-batch epochs
    return _run(model, data, tmp_path_factory.mktemp("overfit"))


def test_lira_catches_a_memorising_model(overfit_figures) -> None:
    assert overfit_figures["membership_auc[lira_online]"].value >= 0.7
    assert overfit_figures["membership_auc[lira_online]"].ci[0] > 0.6
    assert overfit_figures["epsilon_lower_bound"].value > 0.3


def test_a_well_generalising_model_leaks_clearly_less(overfit_figures, tmp_path: Path) -> None:
    data = noisy_tabular(3000, 1000, seed=5)  # plenty of data, a small model, few epochs
    figures = _run(tabular_model(data, epochs=60, hidden=(8,)), data, tmp_path)
    auc = figures["membership_auc[lira_online]"].value
    assert auc < 0.6
    assert auc < overfit_figures["membership_auc[lira_online]"].value - 0.15


def test_a_model_that_never_saw_the_members_sits_at_chance(tmp_path: Path) -> None:
    audited = noisy_tabular(200, 200, seed=6)
    elsewhere = noisy_tabular(200, 200, seed=7)
    trained_elsewhere = tabular_model(elsewhere, epochs=300, hidden=(128,))  # the memorising recipe
    model = wrap_module(trained_elsewhere.module, audited, recipe=trained_elsewhere.recipe)
    model = dataclasses.replace(model, recipe=dataclasses.replace(model.recipe, batch_size=len(audited.train)))
    figures = _run(model, audited, tmp_path)
    for attack in ("loss", "lira_online", "lira_offline"):
        auc = figures[f"membership_auc[{attack}]"]
        assert auc.ci[0] < 0.5 < auc.ci[1], (attack, auc.value, auc.ci)
    assert figures["epsilon_lower_bound"].value < 0.2
