"""PGD adversarial training (Madry et al. 2018) inside the robustness suite's threat model.

Each mini-batch is replaced by its PGD points from the one PGD engine (robustness.torch_pgd) in the
robustness suite's threat space: tabular attacks move only mutable numeric columns, in standard-deviation
units, inside the observed range; immutable and sensitive columns never move.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.data.types import Dataset
from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suites.remedies.variant import TrainedVariant, count_parameters, timed
from audit.suites.robustness.threat import LogitView, ThreatSpace
from audit.suites.robustness.torch_pgd import PGDConfig, random_start
from audit.suites.robustness.torch_pgd import _pgd_run as pgd_run  # one restart's steps: the engine's own


def adversarial_loss(space: ThreatSpace, cfg: PGDConfig, gen: torch.Generator):  # noqa: ANN201
    """Cross-entropy on the batch's PGD points (the inner maximisation runs with the model in eval mode).

    The points are `pgd_batch`'s for one random start (`training_points`)."""
    view: list[LogitView] = []  # one view of the module being trained, made on its first batch

    def loss(module: nn.Module, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if not view or view[0].module is not module:
            view[:] = [LogitView(module, space.scale, outputs_probabilities=False)]
        module.eval()
        u_adv = training_points(view[0], space.to_u(x), y, space, cfg, gen)
        module.train()
        return nn.functional.cross_entropy(module(space.to_x(u_adv).detach()), y)

    return loss


def training_points(view: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
                    gen: torch.Generator) -> torch.Tensor:
    """`pgd_batch(view, u0, y, space, cfg, gen)` for one random start (the same points, the same draws from `gen`),
    without what only further restarts need: the forward pass that judges which final points fool the model, and
    the bookkeeping of which rows to restart. The weights' gradients are not needed inside the attack (only the
    input's), so autograd does not record them there."""
    assert cfg.restarts == 1
    weights = [p for p in view.parameters() if p.requires_grad]
    start = random_start(u0, space, cfg.norm, gen, cfg.eps)
    try:
        for p in weights:
            p.requires_grad_(False)
        return pgd_run(cfg, cfg.step)(view, u0, y, space, start, cfg.eps, False).u
    finally:
        for p in weights:
            p.requires_grad_(True)


def train_adversarial(recipe: Recipe, data: Dataset, space: ThreatSpace, epsilon: float, steps: int,
                      seed: int, init: nn.Module | None = None) -> TrainedVariant:
    """`init`, when given, is fine-tuned (its weights are the start) rather than a model trained from scratch."""
    assert data.train is not None
    cfg = PGDConfig("linf", epsilon, steps, restarts=1)
    gen = torch.Generator().manual_seed(seed)
    start = None if init is None else {k: v.detach().cpu().clone() for k, v in init.state_dict().items()}
    module, seconds = timed(lambda: train_model(recipe, data.train, batch_loss=adversarial_loss(space, cfg, gen),
                                                init=start))
    how = (f"PGD adversarial training (Madry et al. 2018): every batch replaced by its L∞ PGD points at ε={epsilon:g} "
           f"({steps} steps of {cfg.step:.3g}, random start) in the robustness threat space; the recipe's "
           f"optimiser, epochs ({recipe.epochs}) and batch size ({recipe.batch_size})")
    if init is not None:
        how += f"; fine-tuned from the audited model's weights on {len(data.train):,} training rows"
    return TrainedVariant("adversarial_training", module, how, seconds, count_parameters(module, True),
                          count_parameters(module),
                          details={"epsilon": epsilon, "train_attack_steps": steps, "step_size": cfg.step,
                                   "recipe": recipe.name, "epochs": recipe.epochs, "training_rows": len(data.train),
                                   "fine_tuned": init is not None})
