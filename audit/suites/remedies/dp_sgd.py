"""DP-SGD (Abadi et al. 2016) through opacus: per-example clipping, Gaussian noise, Poisson sampling.

The noise multiplier is the smallest for which opacus' RDP accountant reaches the target (ε, δ) after the
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
INTEGER_ORDERS = [float(a) for a in range(2, 65)] + [80.0, 128.0, 256.0]


@dataclass(frozen=True)
class DpSettings:
    epsilon: float
    delta: float
    max_grad_norm: float
    batch_size: int  # expected Poisson batch size
    lr: float


class _RowsByIndex(TensorDataset):
    """A TensorDataset that hands a whole Poisson batch over by one indexing (DataLoader's `__getitems__`) instead
    of row by row then stacked: the same rows in the same order, without a Python loop over them."""

    def __getitems__(self, rows: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(rows, dtype=torch.long)
        return tuple(t[index] for t in self.tensors)


def _as_batch(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch  # `_RowsByIndex.__getitems__` already gives the batch's tensors


def _optimizer(recipe: Recipe, module: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    factory = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[recipe.optimizer]
    return factory(module.parameters(), lr=lr)  # weight decay left out: it is not part of the DP analysis


def noise_for_target(s: DpSettings, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier whose RDP guarantee over integer orders reaches the target (ε, δ).

    Integer orders have a closed form, so the search takes seconds where opacus' default fractional orders take
    tens of seconds; the guarantee is slightly looser, never wrong, and the ε reported afterwards uses every order.
    """
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=s.epsilon, target_delta=s.delta, sample_rate=sample_rate,
                                      steps=steps, accountant=ACCOUNTANT, alphas=INTEGER_ORDERS))


def _train(recipe: Recipe, split: Split, s: DpSettings, seed: int, spent: dict[str, float]) -> torch.nn.Module:
    from opacus import PrivacyEngine

    with deterministic_training(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus' notices about secure RNG and the accountant's defaults
        torch.manual_seed(seed)
        module = build(recipe.architecture, **recipe.arch_kwargs)
        loader = DataLoader(_RowsByIndex(split.x.cpu(), split.y.cpu()), batch_size=s.batch_size,
                            generator=torch.Generator().manual_seed(seed), collate_fn=_as_batch)
        engine = PrivacyEngine(accountant=ACCOUNTANT)
        private, optimizer, private_loader = engine.make_private(
            module=module, optimizer=_optimizer(recipe, module, s.lr), data_loader=loader,
            noise_multiplier=noise_for_target(s, 1 / len(loader), recipe.epochs * len(loader)),
            max_grad_norm=s.max_grad_norm, noise_generator=torch.Generator().manual_seed(seed + 1),
        )
        private.train()
        steps = 0
        for _ in range(recipe.epochs):
            for x, y in private_loader:
                steps += 1
                optimizer.zero_grad(set_to_none=True)
                # An empty Poisson batch still takes a noisy, accounted step (skipping it would leak that it was
                # empty); the sum over no rows is 0 where a mean would be NaN.
                loss = torch.nn.functional.cross_entropy(private(x), y, reduction="sum") / max(len(y), 1)
                loss.backward()
                optimizer.step()
        spent.update(epsilon=float(engine.get_epsilon(s.delta)), noise=float(optimizer.noise_multiplier),
                     steps=float(steps), sample_rate=float(private_loader.sample_rate))
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
                                   "optimizer_steps": int(spent["steps"]), "sample_rate": spent["sample_rate"]})
