"""The zoo's scikit-learn reference `adult-gbt`: trained deterministically, cached as .skops and read back through
the trusted-types check, retrained when its settings change. (Fewer iterations here to keep the test fast.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from audit.models import sklearn_zoo
from audit.testing import synthetic_tabular


@pytest.fixture()
def quick_params(monkeypatch) -> None:
    monkeypatch.setattr(sklearn_zoo, "GBT_PARAMS", {**sklearn_zoo.GBT_PARAMS, "max_iter": 5})


def test_training_is_deterministic() -> None:
    data = synthetic_tabular(400, seed=3)
    first, second = sklearn_zoo.train_gbt(data), sklearn_zoo.train_gbt(data)
    assert np.array_equal(first.predict_proba(data.test.x.numpy()), second.predict_proba(data.test.x.numpy()))


def test_cached_as_skops_and_reused_until_its_settings_change(tmp_path, quick_params, monkeypatch) -> None:
    model, data = sklearn_zoo.load_gbt(tmp_path)
    assert (tmp_path / "model.skops").is_file() and model.source.kind == "zoo"
    assert model.capabilities == {"predict", "predict_proba", "score", "queries"}
    accuracy = float(np.mean(model.predict(data.test.x) == data.test.y.numpy()))
    assert accuracy == pytest.approx(accuracy_score(data.test.y.numpy(), model.predict_proba(data.test.x).argmax(1)))
    assert accuracy > 0.8
    stamp = (tmp_path / "model.skops").stat().st_mtime_ns
    again, _ = sklearn_zoo.load_gbt(tmp_path)
    assert (tmp_path / "model.skops").stat().st_mtime_ns == stamp and again.source.sha256 == model.source.sha256
    monkeypatch.setattr(sklearn_zoo, "GBT_PARAMS", {**sklearn_zoo.GBT_PARAMS, "max_iter": 6})
    sklearn_zoo.load_gbt(tmp_path)
    assert json.loads((tmp_path / "recipe.json").read_text())["params"]["max_iter"] == 6
