"""DP-SGD (Abadi et al. 2016) through opacus: per-example clipping, Gaussian noise, Poisson sampling.

The noise multiplier is the smallest for which opacus' RDP accountant reaches the target (ε, δ) after the
recipe's epochs; the accountant's ε after training is reported beside the ε lower bound a membership
attack measures on the trained model. Sampling and noise come from seeded generators, so training is
deterministic on the CPU.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from audit.data.types import Split
from audit.models.architectures import build
from audit.models.training import RecipeOptimizer, deterministic_training
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


class _WrappedOptimizer(RecipeOptimizer):
    """The recipe's optimiser as opacus wraps it: torch.optim's update functions (the weights torch.optim.Adam /
    AdamW / SGD give, bit for bit) with the `param_groups` opacus reads. Constructing a torch.optim.Optimizer
    imports torch._dynamo (about 0.5 s of CPU) for a few lines of arithmetic on a small model."""

    def __init__(self, kind: str, params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> None:
        super().__init__(kind, params, lr, weight_decay)
        self.param_groups = [{"params": params, "lr": lr, "weight_decay": weight_decay}]


# torch.optim's default weight decay of each (the recipe's is left out: it is not part of the DP analysis)
_DEFAULT_DECAY = {"adam": 0.0, "adamw": 1e-2, "sgd": 0.0}


def _optimizer(recipe: Recipe, module: torch.nn.Module, lr: float) -> _WrappedOptimizer:
    return _WrappedOptimizer(recipe.optimizer, list(module.parameters()), lr, _DEFAULT_DECAY[recipe.optimizer])


def noise_for_target(s: DpSettings, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier whose RDP guarantee over integer orders reaches the target (ε, δ).

    Integer orders have a closed form, so the search takes milliseconds where opacus' default fractional orders take
    tens of seconds; the guarantee is slightly looser, never wrong, and the ε reported afterwards uses every order.
    The search is opacus' `get_noise_multiplier` (same doubling, bisection and tolerance) with the closed form
    evaluated for all orders at once (`IntegerOrderRdp`); a test checks it returns opacus' noise multiplier.
    """
    rdp = IntegerOrderRdp(sample_rate, INTEGER_ORDERS)

    def epsilon(sigma: float) -> float:
        return rdp.epsilon(sigma, steps, s.delta)

    eps_high, sigma_low, sigma_high = float("inf"), 0.0, 10.0
    while eps_high > s.epsilon:
        sigma_high = 2 * sigma_high
        eps_high = epsilon(sigma_high)
        if sigma_high > _MAX_SIGMA:
            raise ValueError("The privacy budget is too low.")
    while s.epsilon - eps_high > _EPSILON_TOLERANCE:
        sigma = (sigma_low + sigma_high) / 2
        eps = epsilon(sigma)
        if eps < s.epsilon:
            sigma_high, eps_high = sigma, eps
        else:
            sigma_low = sigma
    return float(sigma_high)


_MAX_SIGMA, _EPSILON_TOLERANCE = 1e6, 0.01  # opacus.accountants.utils.get_noise_multiplier's


class IntegerOrderRdp:
    """RDP of the sampled Gaussian mechanism at integer orders (Mironov et al. 2019, §3.3), all orders at once:
    log A_α = log Σ_i C(α, i) q^i (1−q)^(α−i) exp((i² − i) / 2σ²), the sum opacus' `_compute_log_a_for_int_alpha`
    adds term by term. The σ-free part of every term is computed once; ε comes from opacus' `get_privacy_spent`."""

    def __init__(self, q: float, orders: list[float]):
        from scipy import special

        self.q, self.orders = q, np.asarray(orders, dtype=np.float64)
        width = int(self.orders.max()) + 1
        i = np.arange(width, dtype=np.float64)
        alpha = self.orders[:, None]
        valid = i[None, :] <= alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = (np.log(special.binom(alpha, i[None, :])) + i * math.log(q) + (alpha - i) * math.log(1 - q)) \
                if 0 < q < 1 else np.zeros((len(self.orders), width))
        self.log_coef = np.where(valid, coef, -np.inf)
        self.quadratic = np.where(valid, i * i - i, 0.0)

    def rdp(self, sigma: float) -> np.ndarray:
        """RDP of one step at every order (opacus' `_compute_rdp` cases for q = 0, σ = 0 and q = 1)."""
        if self.q == 0:
            return np.zeros_like(self.orders)
        if sigma == 0:
            return np.full_like(self.orders, np.inf)
        if self.q == 1.0:
            return self.orders / (2 * sigma**2)
        from scipy.special import logsumexp

        log_a = logsumexp(self.log_coef + self.quadratic / (2 * sigma**2), axis=1)
        return log_a / (self.orders - 1)

    def epsilon(self, sigma: float, steps: int, delta: float) -> float:
        from opacus.accountants.analysis.rdp import get_privacy_spent

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "optimal order is the largest alpha": the orders are fixed
            return float(get_privacy_spent(orders=self.orders, rdp=self.rdp(sigma) * steps, delta=delta)[0])


GHOST_LAYERS = (torch.nn.Linear, torch.nn.Embedding)  # the layers opacus computes per-row gradient norms of directly


def clipping_mode(module: torch.nn.Module) -> str:
    """"ghost" when some layer with parameters is one opacus clips without per-row gradients (ghost clipping, Li et
    al. 2022: each row's gradient norm from its activations and back-propagated gradients, then a second backward pass
    of the clipped loss; other layers' norms still come from per-row gradients); else "hooks" (per-row gradients,
    clipped). Both clip every row's whole gradient to the same norm and add the same noise, so the trained weights
    agree to float rounding (a test checks). Measured: 2x faster on adult-mlp, 1.2x on mnist-cnn."""
    layers = [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]
    return "ghost" if any(isinstance(m, GHOST_LAYERS) for m in layers) else "hooks"


class _EmptyBatch:
    """The backward pass of a Poisson batch with no rows under ghost clipping: every gradient is zero (the optimiser
    then adds the noise and takes the accounted step, as the hooks mode does)."""

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = optimizer

    def backward(self) -> None:
        for p in self.params:
            p.grad = torch.zeros_like(p)


def _train(recipe: Recipe, split: Split, s: DpSettings, seed: int, spent: dict[str, float],
           mode: str | None = None) -> torch.nn.Module:
    """`mode` ("ghost" | "hooks") overrides `clipping_mode` (the tests compare the two)."""
    from opacus import PrivacyEngine

    with deterministic_training(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus' notices about secure RNG and the accountant's defaults
        torch.manual_seed(seed)
        module = build(recipe.architecture, **recipe.arch_kwargs)
        loader = DataLoader(_RowsByIndex(split.x.cpu(), split.y.cpu()), batch_size=s.batch_size,
                            generator=torch.Generator().manual_seed(seed), collate_fn=_as_batch)
        engine = PrivacyEngine(accountant=ACCOUNTANT)
        mode = mode or clipping_mode(module)
        made = engine.make_private(
            module=module, optimizer=_optimizer(recipe, module, s.lr), data_loader=loader,
            noise_multiplier=noise_for_target(s, 1 / len(loader), recipe.epochs * len(loader)),
            max_grad_norm=s.max_grad_norm, noise_generator=torch.Generator().manual_seed(seed + 1),
            **({"criterion": torch.nn.CrossEntropyLoss(), "grad_sample_mode": "ghost"} if mode == "ghost" else {}),
        )
        private, optimizer, private_loader = made[0], made[1], made[-1]
        private.train()
        steps = 0
        for _ in range(recipe.epochs):
            for x, y in private_loader:
                steps += 1
                optimizer.zero_grad(set_to_none=True)
                # An empty Poisson batch still takes a noisy, accounted step (skipping it would leak that it was
                # empty); the sum over no rows is 0 where a mean would be NaN.
                if mode == "ghost" and len(y):
                    loss = made[2](private(x), y)  # opacus' criterion: two backward passes, clipped per row
                elif mode == "ghost":
                    loss = _EmptyBatch(private, optimizer)
                else:
                    loss = torch.nn.functional.cross_entropy(private(x), y, reduction="sum") / max(len(y), 1)
                loss.backward()
                optimizer.step()
        spent.update(epsilon=float(engine.get_epsilon(s.delta)), noise=float(optimizer.noise_multiplier),
                     steps=float(steps), sample_rate=float(private_loader.sample_rate))
        spent["ghost"] = float(mode == "ghost")
    clean = build(recipe.architecture, **recipe.arch_kwargs)
    clean.load_state_dict(private._module.state_dict())  # without opacus' per-sample hooks
    return clean.eval()


def train_dp_sgd(recipe: Recipe, split: Split, s: DpSettings, seed: int) -> TrainedVariant:
    spent: dict[str, float] = {}
    module, seconds = timed(lambda: _train(recipe, split, s, seed, spent))
    how = (f"DP-SGD through opacus (Abadi et al. 2016): target ε={s.epsilon:g}, δ={s.delta:g}; {ACCOUNTANT.upper()} "
           f"accountant; per-example clipping at {s.max_grad_norm:g} ({_CLIPPING[bool(spent['ghost'])]}); "
           f"noise multiplier {spent['noise']:.3f}; "
           f"Poisson batches of {s.batch_size} expected rows; {recipe.optimizer} at lr {s.lr:g} for "
           f"{recipe.epochs} epochs")
    return TrainedVariant("dp_sgd", module, how, seconds, count_parameters(module, True), count_parameters(module),
                          details={"accountant": ACCOUNTANT, "accountant_epsilon": spent["epsilon"],
                                   "target_epsilon": s.epsilon, "delta": s.delta, "noise_multiplier": spent["noise"],
                                   "max_grad_norm": s.max_grad_norm, "expected_batch_size": s.batch_size,
                                   "optimizer_steps": int(spent["steps"]), "sample_rate": spent["sample_rate"],
                                   "clipping": _CLIPPING[bool(spent["ghost"])]})


_CLIPPING = {True: "opacus ghost clipping: per-row gradient norms without per-row gradients",
             False: "opacus per-row gradients"}
