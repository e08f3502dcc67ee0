"""Deterministic training of a recipe on a split (zoo models, and shadow models for privacy)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn
from torch.optim.adam import adam as adam_update
from torch.optim.sgd import sgd as sgd_update

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


def _set_deterministic(mode: bool) -> None:
    """`torch.use_deterministic_algorithms(mode)` without its import of torch._inductor.config, which pulls in
    torch._dynamo (about 1.7 s of CPU). The inductor flag only matters to torch.compile; it is still set when
    inductor is already loaded."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    inductor = sys.modules.get("torch._inductor.config")
    if setter is None:  # another torch: the public call
        torch.use_deterministic_algorithms(mode)
        return
    if inductor is not None:
        inductor.deterministic = mode
    setter(mode)


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic kernels on one thread while training, then restore the caller's settings.

    One thread makes the weights independent of the machine's core count, and is also the fastest
    setting for these small models (thread hand-off costs more than it saves).
    """
    previous, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    _set_deterministic(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        _set_deterministic(previous)
        torch.set_num_threads(threads)


deterministic_training = _deterministic  # for training loops outside this module (DP-SGD)


class RecipeOptimizer:
    """The recipe's torch.optim optimiser (Adam, AdamW or SGD at torch's defaults otherwise), applied through
    torch.optim's own update functions (`torch.optim.adam.adam`, `torch.optim.sgd.sgd`) with the state and
    arguments its `step` passes them, so the weights are the same bit for bit (tests/test_training_optim.py).

    Not the optimizer class itself: constructing a torch.optim.Optimizer, and its first step, import
    torch._dynamo (about 1.7 s of CPU) for a few lines of arithmetic on a small model."""

    def __init__(self, kind: str, params: list[nn.Parameter], lr: float, weight_decay: float) -> None:
        self.kind, self.params, self.lr, self.weight_decay = kind, params, lr, weight_decay
        self.state: dict[nn.Parameter, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.detach_()
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        params = [p for p in self.params if p.grad is not None]
        grads = [p.grad for p in params]
        if self.kind == "sgd":  # momentum 0: no state
            sgd_update(params, grads, [], weight_decay=self.weight_decay, momentum=0, lr=self.lr, dampening=0,
                       nesterov=False, maximize=False, has_sparse_grad=any(g.is_sparse for g in grads),
                       foreach=None, fused=None)
            return
        for p in params:
            if p not in self.state:
                self.state[p] = {"step": torch.tensor(0.0, dtype=_step_dtype(), device="cpu"),
                                 "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                 "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        states = [self.state[p] for p in params]
        adam_update(params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [],
                    [s["step"] for s in states], foreach=None, capturable=False, differentiable=False, fused=None,
                    has_complex=any(torch.is_complex(p) for p in params),
                    decoupled_weight_decay=self.kind == "adamw", amsgrad=False, beta1=0.9, beta2=0.999, lr=self.lr,
                    weight_decay=self.weight_decay, eps=1e-8, maximize=False)


def _step_dtype() -> torch.dtype:
    """torch.optim's dtype for the step count (torch.optim.optimizer._get_scalar_dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _optimizer(recipe: Recipe, module: nn.Module) -> RecipeOptimizer:
    if recipe.optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {recipe.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    return RecipeOptimizer(recipe.optimizer, list(module.parameters()), recipe.lr, recipe.weight_decay)


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
