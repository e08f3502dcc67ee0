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
from audit.suites.robustness.torch_pgd import PGDConfig, pgd_batch


def adversarial_loss(space: ThreatSpace, cfg: PGDConfig, gen: torch.Generator):  # noqa: ANN201
    """Cross-entropy on the batch's PGD points (the inner maximisation runs with the model in eval mode)."""

    def loss(module: nn.Module, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        view = LogitView(module, space.scale, outputs_probabilities=False)
        module.eval()
        u_adv = pgd_batch(view, space.to_u(x), y, space, cfg, gen)
        module.train()
        return nn.functional.cross_entropy(module(space.to_x(u_adv).detach()), y)

    return loss


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
