"""Shadow models for LiRA, trained by the target's recipe on random halves of a data pool.

All N shadows train in one vectorised pass: their parameters are stacked (torch.func.stack_module_state)
and one `vmap(functional_call)` runs every model on its own minibatch. Adam/SGD are element-wise, so one
optimiser over the stacked tensors is exactly N independent optimisers. `train_sequential` trains the
same models one after another (same initialisation, same minibatches) for comparison and benchmarks.

IN/OUT design: shadows come in complementary pairs (one trains on a random half, its partner on the rest),
so every pool row is IN for exactly N/2 shadows and every shadow sees exactly half the pool.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from audit.models.architectures import ARCHITECTURES, build
from audit.models.types import Recipe
from audit.stats import derive_seed

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
}
EpochCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ShadowStack:
    """N trained shadow models as stacked parameters over one shared (meta) module."""

    base: nn.Module
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    n_models: int


def unsupported_reason(recipe: Recipe) -> str | None:
    """Why shadow models cannot be trained by this recipe (None when they can)."""
    if recipe.architecture not in ARCHITECTURES:
        return f"recipe architecture {recipe.architecture!r} is not one audit can rebuild"
    if recipe.optimizer.lower() not in OPTIMIZERS:
        return f"recipe optimiser {recipe.optimizer!r} is not supported (use one of {sorted(OPTIMIZERS)})"
    return None


def paired_assignment(n_models: int, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """(n_models, n_rows) IN mask: complementary pairs of random halves. n_models and n_rows must be even."""
    if n_models % 2 or n_rows % 2:
        raise ValueError("paired shadow assignment needs an even number of models and rows")
    keep = np.zeros((n_models, n_rows), bool)
    for pair in range(n_models // 2):
        half = rng.permutation(n_rows)[: n_rows // 2]
        keep[2 * pair, half] = True
        keep[2 * pair + 1] = ~keep[2 * pair]
    return keep


def _build_models(recipe: Recipe, n_models: int, seed: int) -> list[nn.Module]:
    models = []
    with torch.random.fork_rng(devices=[]):
        for i in range(n_models):
            torch.manual_seed(seed * 7919 + i)
            models.append(build(recipe.architecture, **dict(recipe.arch_kwargs)))
    return models


def _optimizer(recipe: Recipe, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    return OPTIMIZERS[recipe.optimizer.lower()](params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def _epoch_orders(keep: np.ndarray, seed: int, epoch: int) -> torch.Tensor:
    """(N, m) row indices of each model's IN rows, shuffled for this epoch."""
    members = torch.as_tensor(np.stack([np.flatnonzero(row) for row in keep]))
    gen = torch.Generator().manual_seed(derive_seed(seed, epoch))
    shuffle = torch.argsort(torch.rand(members.shape, generator=gen), dim=1)
    return members.gather(1, shuffle)


def _batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [order[:, i : i + batch_size] for i in range(0, order.shape[1], batch_size)]


def train_vectorised(recipe: Recipe, x: torch.Tensor, y: torch.Tensor, keep: np.ndarray, epochs: int,
                     seed: int, on_epoch: EpochCallback | None = None) -> ShadowStack:
    """Train keep.shape[0] shadows at once; shadow i trains on rows where keep[i] is True."""
    models = _build_models(recipe, keep.shape[0], seed)
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    base.train()
    forward = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), randomness="different")
    opt = _optimizer(recipe, list(params.values()))
    for epoch in range(epochs):
        for idx in _batches(_epoch_orders(keep, seed, epoch), recipe.batch_size):
            out = forward(params, buffers, x[idx])
            loss = nn.functional.cross_entropy(out.flatten(0, 1), y[idx].flatten(), reduction="none")
            opt.zero_grad(set_to_none=True)
            loss.view(idx.shape).mean(dim=1).sum().backward()
            opt.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs)
    base.eval()
    return ShadowStack(base=base, params={k: v.detach() for k, v in params.items()}, buffers=buffers,
                       n_models=keep.shape[0])


@torch.no_grad()
def predict_stack(stack: ShadowStack, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """(N, n, classes) outputs of every shadow on every row of x."""
    def run_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(stack.base, (p, b), (xb,))

    forward = vmap(run_one, in_dims=(0, 0, None))
    parts = [forward(stack.params, stack.buffers, x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    return torch.cat(parts, dim=1)


def train_sequential(recipe: Recipe, x: torch.Tensor, y: torch.Tensor, keep: np.ndarray, epochs: int,
                     seed: int) -> list[nn.Module]:
    """The same shadows as `train_vectorised`, trained one model at a time (the slow baseline)."""
    models = _build_models(recipe, keep.shape[0], seed)
    orders = [_epoch_orders(keep, seed, epoch) for epoch in range(epochs)]
    for i, model in enumerate(models):
        model.train()
        opt = _optimizer(recipe, list(model.parameters()))
        for order in orders:
            for idx in _batches(order[i : i + 1], recipe.batch_size):
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(model(x[idx[0]]), y[idx[0]]).backward()
                opt.step()
        model.eval()
    return models
