"""The zoo's training recipes: frozen, complete specifications a model can be retrained from."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from audit.data.types import Dataset
from audit.models.types import Recipe

# Architecture sizes that depend on the data (input width, classes) are filled in by `recipe_for`.
BASE_RECIPES: dict[str, Recipe] = {
    "adult-mlp": Recipe(
        name="adult-mlp", dataset="adult", architecture="tabular-mlp", arch_kwargs={"hidden": [64, 32]},
        optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=8, batch_size=256, seed=0,
        description="MLP (64-32) on UCI Adult census income; sex, race and age are inputs",
    ),
    "compas-mlp": Recipe(
        name="compas-mlp", dataset="compas", architecture="tabular-mlp", arch_kwargs={"hidden": [32, 16]},
        optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=20, batch_size=128, seed=0,
        description="MLP (32-16) on ProPublica COMPAS two-year recidivism; race, sex and age are inputs",
    ),
    "german-mlp": Recipe(
        name="german-mlp", dataset="german", architecture="tabular-mlp", arch_kwargs={"hidden": [32], "dropout": 0.2},
        optimizer="adam", lr=1e-3, weight_decay=1e-3, epochs=15, batch_size=64, seed=0,
        description="MLP (32, dropout 0.2) on Statlog German credit; sex and age are inputs",
    ),
    "mnist-cnn": Recipe(
        name="mnist-cnn", dataset="mnist", architecture="mnist-cnn", arch_kwargs={},
        optimizer="adam", lr=2e-3, weight_decay=0.0, epochs=8, batch_size=64, seed=0,
        description="Two-layer CNN on a 5,000-image MNIST subset",
    ),
}


def recipe_for(name: str, data: Dataset) -> Recipe:
    """The complete recipe for zoo model `name` on `data` (adds input width and class count)."""
    base = BASE_RECIPES[name]
    kwargs: dict[str, Any] = dict(base.arch_kwargs)
    kwargs["n_classes"] = data.n_classes
    if base.architecture == "tabular-mlp":
        kwargs["in_features"] = int(data.input_shape[0])
    return dataclasses.replace(base, arch_kwargs=kwargs)


def recipe_to_json(recipe: Recipe) -> dict[str, Any]:
    """A JSON-able dict (round-trips through `recipe_from_json`)."""
    out = dataclasses.asdict(recipe)
    out["arch_kwargs"] = json.loads(json.dumps(dict(recipe.arch_kwargs)))
    return out


def recipe_from_json(payload: Mapping[str, Any]) -> Recipe:
    return Recipe(**{**payload, "arch_kwargs": dict(payload.get("arch_kwargs", {}))})
