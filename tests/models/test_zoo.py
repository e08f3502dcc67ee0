"""The model zoo: deterministic training, caching under $AUDIT_HOME, and reference accuracy."""

from __future__ import annotations

import hashlib
import json
import sys
import types

import pytest
import torch
from sklearn.metrics import accuracy_score

from audit.data.reference import load_reference
from audit.errors import AuditInputError
from audit.models.recipes import BASE_RECIPES, recipe_for, recipe_from_json, recipe_to_json
from audit.models.training import train_model
from audit.models.zoo import TEXT_MODEL, ZOO_MODELS, load_zoo_model, train_zoo_model


@pytest.mark.slow
def test_adult_mlp_reaches_reference_accuracy(audit_home):
    model, data = load_zoo_model("adult-mlp")  # trains once per session; later tests reuse the cache
    accuracy = accuracy_score(data.test.y.numpy(), model.predict(data.test.x))
    assert accuracy >= 0.84
    assert model.capabilities >= {"gradients", "logits", "recipe", "torch", "predict_proba"}
    assert model.recipe.dataset == "adult"
    weights = f"{audit_home}/zoo/adult-mlp/model.safetensors"
    assert model.source.sha256 == hashlib.sha256(open(weights, "rb").read()).hexdigest()
    again, _ = load_zoo_model("adult-mlp")
    assert again.source.sha256 == model.source.sha256


def test_training_is_deterministic():
    data = load_reference("german")
    recipe = recipe_for("german-mlp", data)
    first, second = train_model(recipe, data.train), train_model(recipe, data.train)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    other = train_model(recipe, data.train, seed=1)
    assert not torch.equal(other.state_dict()["net.0.weight"], first.state_dict()["net.0.weight"])
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's settings are restored


def test_cache_is_reused_and_invalidated(tmp_path):
    model, _ = load_zoo_model("german-mlp", home=tmp_path)
    folder = tmp_path / "zoo" / "german-mlp"
    record = json.loads((folder / "recipe.json").read_text())
    assert record["data_sha256"] == load_reference("german").sha256
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    load_zoo_model("german-mlp", home=tmp_path)
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime  # loaded, not retrained

    record["recipe"]["epochs"] += 1  # a stale recipe must not be trusted
    (folder / "recipe.json").write_text(json.dumps(record))
    retrained, _ = load_zoo_model("german-mlp", home=tmp_path)
    assert retrained.source.sha256 == model.source.sha256  # same recipe again => the same bytes
    assert json.loads((folder / "recipe.json").read_text())["recipe"]["epochs"] == BASE_RECIPES["german-mlp"].epochs

    (folder / "model.safetensors").write_bytes(b"corrupt")
    assert load_zoo_model("german-mlp", home=tmp_path)[0].source.sha256 == model.source.sha256
    seen = []
    weights = train_zoo_model("german-mlp", home=tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert weights == folder / "model.safetensors" and weights.is_file()
    assert seen[-1] == (BASE_RECIPES["german-mlp"].epochs,) * 2


def test_recipe_json_round_trip():
    recipe = recipe_for("mnist-cnn", load_reference("mnist"))
    assert recipe_from_json(json.loads(json.dumps(recipe_to_json(recipe)))) == recipe


def test_unknown_model_suggests_a_name():
    with pytest.raises(AuditInputError, match="Did you mean 'adult-mlp'"):
        load_zoo_model("adult-mpl")


def test_text_model_dispatches_lazily(monkeypatch, tmp_path):
    assert TEXT_MODEL in ZOO_MODELS
    calls = []
    fake = types.ModuleType("audit.foundation.reference")
    fake.load_text_reference = lambda device, home: calls.append((device, home)) or ("model", "data")
    monkeypatch.setitem(sys.modules, "audit.foundation.reference", fake)
    assert load_zoo_model(TEXT_MODEL, home=tmp_path) == ("model", "data")
    assert calls == [("cpu", tmp_path)]
