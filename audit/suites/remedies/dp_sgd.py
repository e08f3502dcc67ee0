"""DP-SGD (Abadi et al. 2016) through opacus: per-example clipping, Gaussian noise, Poisson sampling.

The noise multiplier is chosen by opacus so that the RDP accountant reaches the target (ε, δ) after the
recipe's epochs; the accountant's ε after training is reported beside the ε lower bound a membership
attack measures on the trained model. Sampling and noise come from seeded generators, so training is
deterministic on the CPU.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from audit.data.types import Split
from audit.models.architectures import build
from audit.models.training import deterministic_training
from audit.models.types import Recipe
from audit.suites.remedies.variant import TrainedVariant, count_parameters, timed

ACCOUNTANT = "rdp"


@dataclass(frozen=True)
class DpSettings:
    epsilon: float
    delta: float
    max_grad_norm: float
    batch_size: int  # expected Poisson batch size
    lr: float


def _optimizer(recipe: Recipe, module: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    factory = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[recipe.optimizer]
    return factory(module.parameters(), lr=lr)  # weight decay left out: it is not part of the DP analysis


def _train(recipe: Recipe, split: Split, s: DpSettings, seed: int, spent: dict[str, float]) -> torch.nn.Module:
    from opacus import PrivacyEngine

    with deterministic_training(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus' notices about secure RNG and the accountant's defaults
        torch.manual_seed(seed)
        module = build(recipe.architecture, **recipe.arch_kwargs)
        loader = DataLoader(TensorDataset(split.x.cpu(), split.y.cpu()), batch_size=s.batch_size,
                            generator=torch.Generator().manual_seed(seed))
        engine = PrivacyEngine(accountant=ACCOUNTANT)
        private, optimizer, private_loader = engine.make_private_with_epsilon(
            module=module, optimizer=_optimizer(recipe, module, s.lr), data_loader=loader,
            target_epsilon=s.epsilon, target_delta=s.delta, epochs=recipe.epochs, max_grad_norm=s.max_grad_norm,
            noise_generator=torch.Generator().manual_seed(seed + 1),
        )
        private.train()
        steps = 0
        for _ in range(recipe.epochs):
            for x, y in private_loader:
                steps += 1
                optimizer.zero_grad(set_to_none=True)
                if len(y):  # Poisson sampling can draw an empty batch; the optimiser step still adds noise
                    torch.nn.functional.cross_entropy(private(x), y).backward()
                optimizer.step()
        spent.update(epsilon=float(engine.get_epsilon(s.delta)), noise=float(optimizer.noise_multiplier),
                     steps=float(steps))
    clean = build(recipe.architecture, **recipe.arch_kwargs)
    clean.load_state_dict(private._module.state_dict())  # without opacus' per-sample hooks
    return clean.eval()


def train_dp_sgd(recipe: Recipe, split: Split, s: DpSettings, seed: int) -> TrainedVariant:
    spent: dict[str, float] = {}
    module, seconds = timed(lambda: _train(recipe, split, s, seed, spent))
    how = (f"DP-SGD through opacus (Abadi et al. 2016): target ε={s.epsilon:g}, δ={s.delta:g}; {ACCOUNTANT.upper()} "
           f"accountant; per-example clipping at {s.max_grad_norm:g}; noise multiplier {spent['noise']:.3f}; "
           f"Poisson batches of {s.batch_size} expected rows; {recipe.optimizer} at lr {s.lr:g} for "
           f"{recipe.epochs} epochs")
    return TrainedVariant("dp_sgd", module, how, seconds, count_parameters(module, True), count_parameters(module),
                          details={"accountant": ACCOUNTANT, "accountant_epsilon": spent["epsilon"],
                                   "target_epsilon": s.epsilon, "delta": s.delta, "noise_multiplier": spent["noise"],
                                   "max_grad_norm": s.max_grad_norm, "expected_batch_size": s.batch_size,
                                   "accountant_steps": int(spent["steps"]), "sample_rate": s.batch_size / len(split)})
