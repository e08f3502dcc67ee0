"""train_model's optimiser (torch.optim's update functions, without the Optimizer class) gives the weights
torch.optim.Adam / AdamW / SGD give, bit for bit, and leaves torch._dynamo unimported."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch
from torch import nn

from audit.data.types import Split
from audit.models.architectures import build
from audit.models.training import OPTIMIZERS, _deterministic, train_model
from audit.models.types import Recipe


def _split(n: int = 300, d: int = 7, classes: int = 3) -> Split:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(n, d, generator=gen)
    y = (x[:, 0] * 2 + x[:, 1] > 0).long() + (x[:, 2] > 1).long() * (classes - 2)
    return Split(x=x, y=y, sensitive=pd.DataFrame(index=range(n)))


def _reference(recipe: Recipe, split: Split) -> nn.Module:
    """The training loop with torch.optim's optimizer object, as train_model ran it before."""
    with _deterministic():
        torch.manual_seed(recipe.seed)
        module = build(recipe.architecture, **recipe.arch_kwargs)
        optimizer = OPTIMIZERS[recipe.optimizer](module.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        order = torch.Generator().manual_seed(recipe.seed)
        module.train()
        for _ in range(recipe.epochs):
            permutation = torch.randperm(len(split.y), generator=order)
            for start in range(0, len(split.y), recipe.batch_size):
                batch = permutation[start : start + recipe.batch_size]
                optimizer.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(module(split.x[batch]), split.y[batch]).backward()
                optimizer.step()
    return module.eval()


@pytest.mark.parametrize(("optimizer", "weight_decay"),
                         [("adam", 0.0), ("adam", 1e-4), ("adamw", 1e-2), ("sgd", 0.0), ("sgd", 1e-3)])
def test_weights_equal_torch_optim_bit_for_bit(optimizer: str, weight_decay: float) -> None:
    split = _split()
    recipe = Recipe(name="t", dataset="t", architecture="tabular-mlp",
                    arch_kwargs={"in_features": 7, "n_classes": 3, "hidden": [16, 8], "dropout": 0.1},
                    optimizer=optimizer,
                    lr=0.05 if optimizer == "sgd" else 1e-2, weight_decay=weight_decay, epochs=3, batch_size=64,
                    seed=3)
    ours, theirs = train_model(recipe, split).state_dict(), _reference(recipe, split).state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    assert any(not torch.equal(v, build(recipe.architecture, **recipe.arch_kwargs).state_dict()[k])
               for k, v in ours.items())  # training moved the weights


def test_unknown_optimizer_is_refused() -> None:
    recipe = Recipe(name="t", dataset="t", architecture="tabular-mlp",
                    arch_kwargs={"in_features": 7, "n_classes": 3, "hidden": [4]}, optimizer="lbfgs", epochs=1)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        train_model(recipe, _split())


def test_deterministic_training_restores_settings_and_skips_dynamo() -> None:
    code = """
import sys, torch
import pandas as pd
from audit.data.types import Split
from audit.models.training import _deterministic, train_model
from audit.models.types import Recipe
torch.set_num_threads(2)
with _deterministic():
    assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
assert not torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 2
x = torch.randn(64, 5); y = (x[:, 0] > 0).long()
recipe = Recipe(name="t", dataset="t", architecture="tabular-mlp",
                arch_kwargs={"in_features": 5, "n_classes": 2, "hidden": [4]}, epochs=1, batch_size=16)
train_model(recipe, Split(x=x, y=y, sensitive=pd.DataFrame(index=range(64))))
print("torch._dynamo" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
