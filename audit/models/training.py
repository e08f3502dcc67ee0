"""Deterministic training of a recipe on a split (zoo models, and shadow models for privacy)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from audit.data.types import Split
from audit.models.architectures import build
from audit.models.types import Recipe

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

Progress = Callable[[int, int], None]
# (module, x, y, row indices into the split) -> scalar loss of one mini-batch
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic kernels on one thread while training, then restore the caller's settings.

    One thread makes the weights independent of the machine's core count, and is also the fastest
    setting for these small models (thread hand-off costs more than it saves).
    """
    previous, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(threads)


deterministic_training = _deterministic  # for training loops outside this module (DP-SGD)


def _optimizer(recipe: Recipe, module: nn.Module) -> torch.optim.Optimizer:
    factory = OPTIMIZERS.get(recipe.optimizer)
    if factory is None:
        raise ValueError(f"Unknown optimizer {recipe.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    return factory(module.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def train_model(recipe: Recipe, split: Split, seed: int | None = None, progress: Progress | None = None,
                batch_loss: BatchLoss | None = None, init: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Train `recipe`'s architecture on `split` on the CPU; same recipe, data and seed => identical weights.

    `seed` overrides `recipe.seed` (shadow models train the same recipe with other seeds). `batch_loss`
    replaces cross-entropy (remedies: adversarial, distillation and fairness-penalised training). `init`, a state
    dict, starts training from those weights (fine-tuning) instead of the seeded initialisation.
    """
    seed = recipe.seed if seed is None else seed
    x, y = split.x.cpu(), split.y.cpu()
    with _deterministic():
        torch.manual_seed(seed)
        module = build(recipe.architecture, **recipe.arch_kwargs)
        if init is not None:
            module.load_state_dict(init)
        optimizer = _optimizer(recipe, module)
        order = torch.Generator().manual_seed(seed)
        module.train()
        for epoch in range(recipe.epochs):
            permutation = torch.randperm(len(y), generator=order)
            for start in range(0, len(y), recipe.batch_size):
                batch = permutation[start : start + recipe.batch_size]
                optimizer.zero_grad(set_to_none=True)
                if batch_loss is None:
                    nn.functional.cross_entropy(module(x[batch]), y[batch]).backward()
                else:
                    batch_loss(module, x[batch], y[batch], batch).backward()
                optimizer.step()
            if progress is not None:
                progress(epoch + 1, recipe.epochs)
    return module.eval()
