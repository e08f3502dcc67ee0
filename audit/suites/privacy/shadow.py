"""Shadow models for LiRA, trained by the target's recipe on random halves of a data pool.

Shadows train in tasks of `shadows_per_task` models (`train_shadows`, through SuiteContext.fan_out_parts): in order
in this process, or as Ray tasks under --executor ray, and each finished task is kept as a part so a resumed run
does not train it again. A task hands back only what LiRA reads (each shadow's logit-scaled confidence and
correctness per row), in the JSON form its checkpoint reads back as, so a resumed run's figures equal an
uninterrupted run's (base64 text of the arrays' bytes: exact, and quick to write and read).

Within a task the models train in one vectorised pass: their parameters are stacked
(torch.func.stack_module_state) and every model runs on its own minibatch at once, as one grouped model
(`grouped_forward`: grouped convolutions, batched matmuls) for the zoo architectures, else under
`vmap(functional_call)`. Adam/SGD are element-wise, so one optimiser over the stacked tensors is exactly N
independent optimisers (`StackedOptimizer`). Where one step's activations would pass 30 MB the models train in
several such stacks (STEP_ACTIVATION_BYTES), the same models on the same minibatches.
`train_sequential` trains the same models one after another (same initialisation, same minibatches) for
comparison and benchmarks. Shadow j of a task seeded s starts from derive_seed(s, j) and shuffles epoch e with
derive_seed(s, j, e + 1), so a shadow depends only on its task's seed and rows.

IN/OUT design: shadows come in complementary pairs (one trains on a random half, its partner on the rest),
so every pool row is IN for exactly N/2 shadows and every shadow sees exactly half the pool.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from audit.models.architectures import ARCHITECTURES, build
from audit.models.types import Recipe, rows_within
from audit.stats import derive_seed
from audit.suites.privacy.threshold import logit_confidence

if TYPE_CHECKING:
    from audit.suite import SuiteContext

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
}
# Shadows per task by default (PrivacyParams.shadows_per_task): on 2 CPU cores one vmap over 16 small models costs
# about half the CPU time of four over 4 (per-step overhead dominates), so the default full preset is one task;
# fewer per task gives more parallel Ray tasks (64 shadows: 4 tasks of 16, or 16 of 4) and finer --resume parts.
SHADOWS_PER_TASK = 16
SHADOW_SALT = 7919  # separates the shadow tasks' seeds from any other fan-out of the privacy suite
SHADOW_TASK_GPUS = 0.5  # small models: two shadow tasks share a GPU
EpochCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ShadowStack:
    """N trained shadow models as stacked parameters over one shared (meta) module."""

    base: nn.Module
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    n_models: int
    layers: list[tuple[str, nn.Module]] | None = None  # for `grouped_forward`; None: vmap over the base module


@dataclass(frozen=True)
class ShadowPool:
    """What every shadow task shares (put into Ray's object store once): the recipe and the rows to train on."""

    recipe: Recipe
    x: torch.Tensor
    y: torch.Tensor
    epochs: int
    device: str = "cpu"


@dataclass(frozen=True)
class ShadowFigures:
    """What LiRA reads of N shadows on the pool's n rows."""

    phi: np.ndarray  # (N, n) logit-scaled confidence of the true class, log(p_y / (1 - p_y))
    correct: np.ndarray  # (N, n) bool: the shadow's top class is the true class


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


def train_shadows(ctx: SuiteContext, pool: ShadowPool, keep: np.ndarray, on_done: EpochCallback | None = None,
                  per_task: int = SHADOWS_PER_TASK) -> ShadowFigures:
    """Train keep.shape[0] shadows (shadow i on the pool rows where keep[i] is True) in tasks of `per_task`,
    fanned out by the suite's executor; tasks a killed run finished are read back, not trained again."""
    groups = [keep[i : i + per_task] for i in range(0, keep.shape[0], per_task)]
    name = f"shadows-{PART_FORMAT}-{_digest(keep, pool.epochs, per_task)}"
    parts = ctx.fan_out_parts(name, train_shadow_task, groups, salt=SHADOW_SALT, shared=pool, gpus=SHADOW_TASK_GPUS,
                              on_done=on_done)
    return ShadowFigures(phi=np.concatenate([_unpack(p["phi"], "<f8", p["shape"]) for p in parts]),
                         correct=np.concatenate([_unpack(p["correct"], "?", p["shape"]) for p in parts]))


# A task's figures travel (Ray) and are kept (checkpoints) as base64 text of their bytes: exact, and one string
# instead of 2 x 320,000 numbers written and parsed as JSON three times (~0.3 s of CPU on adult-mlp's 16 shadows).
# The format names the parts, so a run never reads back parts kept in another form.
PART_FORMAT = "b64"


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


def _unpack(text: str, dtype: str, shape: list[int]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).reshape(shape)


def train_shadow_task(pool: ShadowPool, keep: np.ndarray, seed: int) -> dict[str, str | list[int]]:
    """One task: train the shadows of `keep` together, then score every pool row with each of them. φ that is not
    finite is kept as NaN (the JSON numbers these figures once travelled as turned it into null, read back as NaN)."""
    stack = train_vectorised(pool.recipe, pool.x, pool.y, keep, pool.epochs, seed, device=pool.device)
    outputs = predict_stack(stack, pool.x.to(pool.device)).cpu()
    phi = logit_confidence(outputs, pool.y, "logits")
    phi = np.where(np.isfinite(phi), phi, np.nan).astype("<f8")
    correct = (outputs.argmax(-1) == pool.y).numpy().astype("?")
    return {"phi": _pack(phi), "correct": _pack(correct), "shape": list(phi.shape)}


def _digest(keep: np.ndarray, epochs: int, per_task: int) -> str:
    """Names the parts by the rows each shadow trains on, so shadows of other halves are never read back."""
    layout = f"{keep.shape}{epochs}/{per_task}".encode()
    return hashlib.sha256(np.packbits(keep).tobytes() + layout).hexdigest()[:12]


def _build_models(recipe: Recipe, n_models: int, seed: int) -> list[nn.Module]:
    models = []
    with torch.random.fork_rng(devices=[]):
        for j in range(n_models):
            torch.manual_seed(derive_seed(seed, j))
            models.append(build(recipe.architecture, **dict(recipe.arch_kwargs)))
    return models


def _optimizer(recipe: Recipe, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    return OPTIMIZERS[recipe.optimizer.lower()](params, lr=recipe.lr, weight_decay=recipe.weight_decay)


class StackedOptimizer:
    """The recipe's optimiser (torch.optim defaults otherwise: Adam/AdamW betas (0.9, 0.999), eps 1e-8; SGD without
    momentum) as the element-wise update torch.optim's single-tensor code applies, on the stacked tensors.

    Written out because the first torch.optim step imports torch._dynamo (seconds of CPU) for a few lines of
    arithmetic; `train_sequential` keeps torch.optim, and the tests compare the two."""

    BETAS = (0.9, 0.999)
    EPS = 1e-8

    def __init__(self, recipe: Recipe, params: list[torch.Tensor]) -> None:
        self.kind, self.lr, self.wd = recipe.optimizer.lower(), float(recipe.lr), float(recipe.weight_decay)
        if self.kind not in OPTIMIZERS:
            raise ValueError(f"unsupported optimiser {recipe.optimizer!r}")
        self.params, self.steps = params, 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params] if self.kind != "sgd" else []

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        if self.kind == "sgd":
            for p in self.params:
                grad = p.grad if self.wd == 0 else p.grad.add(p, alpha=self.wd)
                p.add_(grad, alpha=-self.lr)
            return
        beta1, beta2 = self.BETAS
        step_size = self.lr / (1 - beta1**self.steps)
        correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        for p, (avg, avg_sq) in zip(self.params, self.moments, strict=True):
            grad = p.grad
            if self.kind == "adamw":
                p.mul_(1 - self.lr * self.wd)
            elif self.wd != 0:
                grad = grad.add(p, alpha=self.wd)
            avg.lerp_(grad, 1 - beta1)
            avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            p.addcdiv_(avg, (avg_sq.sqrt() / correction2_sqrt).add_(self.EPS), value=-step_size)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def _epoch_orders(keep: np.ndarray, seed: int, epoch: int) -> torch.Tensor:
    """(N, m) row indices of each model's IN rows, shuffled for this epoch by the model's own generator."""
    orders = []
    for j, row in enumerate(keep):
        members = torch.as_tensor(np.flatnonzero(row))
        gen = torch.Generator().manual_seed(derive_seed(seed, j, epoch + 1))
        orders.append(members[torch.randperm(members.numel(), generator=gen)])
    return torch.stack(orders)


def _batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [order[:, i : i + batch_size] for i in range(0, order.shape[1], batch_size)]


# Architectures whose forward applies their leaf modules in registration order (tests hold them to it): their
# shadows run as one grouped model (`grouped_forward`) instead of under vmap.
GROUPED_ARCHITECTURES = ("tabular-mlp", "mnist-cnn")
_GROUPED_LEAVES = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear)


def _grouped_layers(base: nn.Module, architecture: str) -> list[tuple[str, nn.Module]] | None:
    """The leaf modules in forward order when `grouped_forward` can run them (None: use vmap)."""
    if architecture not in GROUPED_ARCHITECTURES:
        return None
    leaves = [(name, m) for name, m in base.named_modules() if not list(m.children())]
    ok = all(isinstance(m, _GROUPED_LEAVES) or (isinstance(m, nn.Dropout) and m.p == 0) for _, m in leaves)
    convs = [m for _, m in leaves if isinstance(m, nn.Conv2d)]
    if not ok or any(c.padding_mode != "zeros" or isinstance(c.padding, str) for c in convs):
        return None
    if any(isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1) for _, m in leaves):
        return None
    return [(name, m) for name, m in leaves if not isinstance(m, nn.Dropout)]


def grouped_forward(layers: list[tuple[str, nn.Module]], params: dict[str, torch.Tensor],
                    x: torch.Tensor) -> torch.Tensor:
    """(B, n, classes) outputs of B stacked models, model b on x[b] (x: (B, n, ...) inputs).

    The B models run as one: convolutions as one grouped convolution (model b's channels are group b, so
    activations stay (n, B x channels, h, w), stored channels last, and pool in place), linear layers as one
    batched matrix product.
    A ReLU directly before a max-pool runs after it instead: max and ReLU commute, in value and gradient, on a
    quarter of the values."""
    n_models, h = x.shape[0], x
    image = h.dim() > 3
    if image:  # (B, n, c, hh, ww) -> (n, B*c, hh, ww), channels last: CPU pooling runs ~8x faster on that layout
        h = h.transpose(0, 1).reshape(h.shape[1], -1, *h.shape[3:]).contiguous(memory_format=torch.channels_last)
    i = 0
    while i < len(layers):
        name, m = layers[i]
        if isinstance(m, nn.Conv2d):
            w, b = params[f"{name}.weight"], params.get(f"{name}.bias")
            h = nn.functional.conv2d(h, w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1),
                                     m.stride, m.padding, m.dilation, m.groups * n_models)
        elif isinstance(m, nn.ReLU) and i + 1 < len(layers) and isinstance(layers[i + 1][1], nn.MaxPool2d) and image:
            pool = layers[i + 1][1]
            h = torch.relu(nn.functional.max_pool2d(h, pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                                                    ceil_mode=pool.ceil_mode))
            i += 1
        elif isinstance(m, nn.ReLU):
            h = torch.relu(h)
        elif isinstance(m, nn.MaxPool2d):
            h = nn.functional.max_pool2d(h, m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
        elif isinstance(m, nn.Flatten):  # (n, B*c, hh, ww) -> (B, n, c*hh*ww)
            if image:
                h = h.reshape(h.shape[0], n_models, -1).transpose(0, 1)
                image = False
            else:
                h = h.flatten(2)
        else:  # Linear on (B, n, features)
            w, b = params[f"{name}.weight"], params.get(f"{name}.bias")
            h = torch.bmm(h, w.transpose(1, 2)) if b is None else torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
        i += 1
    return h


# The models of a task train in stacks whose largest activation per step stays below glibc's largest dynamic mmap
# threshold (32 MB): bigger blocks are mapped afresh and page-faulted on every step (16 MNIST shadows at batch 64: a
# 51 MB first activation, 1.5 s of system time per epoch); under it freed blocks are reused. Same models, same
# minibatches, whatever the stacking.
STEP_ACTIVATION_BYTES = 30 * 2**20


def _largest_activation(model: nn.Module, x: torch.Tensor) -> int:
    """Values of the model's largest layer output on one row."""
    sizes = [x[:1].numel()]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
             for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return max(sizes)


def _stack_slices(n_models: int, per_model_bytes: int) -> list[slice]:
    stacks = min(n_models, max(1, -(-n_models * per_model_bytes // STEP_ACTIVATION_BYTES)))
    bounds = np.linspace(0, n_models, stacks + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def train_vectorised(recipe: Recipe, x: torch.Tensor, y: torch.Tensor, keep: np.ndarray, epochs: int,
                     seed: int, on_epoch: EpochCallback | None = None, device: str = "cpu") -> ShadowStack:
    """Train keep.shape[0] shadows at once on `device`; shadow i trains on rows where keep[i] is True."""
    models = [m.to(device) for m in _build_models(recipe, keep.shape[0], seed)]
    x, y = x.to(device), y.to(device)
    base = copy.deepcopy(models[0]).to("meta")
    base.train()
    layers = _grouped_layers(base, recipe.architecture)
    per_model = recipe.batch_size * _largest_activation(models[0], x) * x.element_size()
    slices = _stack_slices(len(models), per_model) if device == "cpu" else [slice(0, len(models))]
    trained: list[dict[str, torch.Tensor]] = []
    buffers: dict[str, torch.Tensor] = {}
    for k, part in enumerate(slices):
        params, buffers_part = stack_module_state(models[part])
        _train_stack(recipe, base, layers, params, buffers_part, x, y, keep, part, epochs, seed,
                     None if on_epoch is None else (lambda e, _t, k=k: on_epoch(k * epochs + e, len(slices) * epochs)))
        trained.append({name: v.detach() for name, v in params.items()})
        buffers = {name: torch.cat([buffers[name], v]) if name in buffers else v for name, v in buffers_part.items()}
    base.eval()
    stacked = {name: torch.cat([t[name] for t in trained]) if len(trained) > 1 else trained[0][name]
               for name in trained[0]}
    return ShadowStack(base=base, params=stacked, buffers=buffers, n_models=keep.shape[0], layers=layers)


def _train_stack(recipe: Recipe, base: nn.Module, layers: list[tuple[str, nn.Module]] | None,
                 params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                 keep: np.ndarray, part: slice, epochs: int, seed: int, on_epoch: EpochCallback | None) -> None:
    """Train the models `part` of keep (stacked in `params`, in place)."""
    if layers is not None:
        def forward(p: dict[str, torch.Tensor], _: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
            return grouped_forward(layers, p, xb)
    else:
        forward = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), randomness="different")
    opt = StackedOptimizer(recipe, list(params.values()))
    for epoch in range(epochs):
        for idx in _batches(_epoch_orders(keep, seed, epoch)[part].to(x.device), recipe.batch_size):
            rows = idx.flatten()  # index_select: the same rows as x[idx], gathered ~4x faster on the CPU
            out = forward(params, buffers, x.index_select(0, rows).view(*idx.shape, *x.shape[1:]))
            loss = nn.functional.cross_entropy(out.flatten(0, 1), y.index_select(0, rows), reduction="none")
            opt.zero_grad()
            loss.view(idx.shape).mean(dim=1).sum().backward()
            opt.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs)


# Input values per predict_stack call, all shadows together: the activations of one call stay a few MB (a CNN's
# first layer holds channels x the input), where one call over 2,000 MNIST images x 16 shadows built a 1.6 GB
# tensor, and the kernel's page faults on every such allocation cost more system time than the arithmetic.
PREDICT_VALUES = 2**18


@torch.no_grad()
def predict_stack(stack: ShadowStack, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """(N, n, classes) outputs of every shadow on every row of x, `batch_size` rows at a time (by default as many
    as keep N x rows x values per row within PREDICT_VALUES)."""
    def run_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(stack.base, (p, b), (xb,))

    if batch_size is None:
        batch_size = rows_within(stack.n_models * max(1, x[0].numel()), PREDICT_VALUES)
    if stack.layers is not None:
        layers = stack.layers

        def forward(p: dict[str, torch.Tensor], _: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
            return grouped_forward(layers, p, xb.expand(stack.n_models, *xb.shape))
    else:
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
