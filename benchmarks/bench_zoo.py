"""Speed targets for the data loaders and the model zoo (2-core CPU target: each model < 60 s).

    pytest benchmarks/bench_zoo.py --benchmark-only

Training is measured from scratch (no cache), one round each; accuracy is checked on the result so a
faster recipe cannot quietly trade away the reference accuracy.
"""

from __future__ import annotations

import pytest
from sklearn.metrics import accuracy_score

from audit.data import reference
from audit.data.reference import load_reference
from audit.models.recipes import BASE_RECIPES, recipe_for
from audit.models.training import train_model

MIN_ACCURACY = {"adult-mlp": 0.84, "compas-mlp": 0.62, "german-mlp": 0.65, "mnist-cnn": 0.95}


def _cold_caches() -> None:
    reference._cached.cache_clear()
    reference._read_csv.cache_clear()
    reference._mnist_arrays.cache_clear()


def test_load_adult_cold(benchmark):
    data = benchmark.pedantic(load_reference, args=("adult",), setup=_cold_caches, rounds=3)
    assert len(data.test) > 0


@pytest.mark.parametrize("name", list(BASE_RECIPES))
def test_train_zoo_model(benchmark, name):
    data = load_reference(BASE_RECIPES[name].dataset)
    recipe = recipe_for(name, data)
    module = benchmark.pedantic(train_model, args=(recipe, data.train), rounds=1, iterations=1)
    accuracy = accuracy_score(data.test.y.numpy(), module(data.test.x).argmax(dim=1).numpy())
    benchmark.extra_info["test_accuracy"] = round(float(accuracy), 4)
    assert accuracy >= MIN_ACCURACY[name]
