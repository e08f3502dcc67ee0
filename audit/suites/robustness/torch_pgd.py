"""Batched PGD / FGSM in plain torch (Madry et al. 2018), cross-checked against ART in the tests: the one PGD
engine of the project (the robustness suite, the efficiency suite's re-audit, the text embedding attack).

Follows ART's ProjectedGradientDescent semantics so the two agree: cross-entropy loss on the true
labels, step 2.5·ε/steps unless given, success judged at the end of each restart, and an example keeps
the first restart's point that fools the model. L-infinity or L2; the threat space masks and bounds the
perturbation; `radius` optionally scales ε and the step per row (budgets relative to each input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from audit.suites.robustness.threat import ThreatSpace


@dataclass(frozen=True)
class PGDConfig:
    norm: str  # "linf" | "l2"
    eps: float
    steps: int
    restarts: int = 1  # random starts; 0 starts at the clean input (FGSM / BIM)
    step_size: float | None = None

    @property
    def step(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / max(self.steps, 1)


def fgsm_config(norm: str, eps: float) -> PGDConfig:
    return PGDConfig(norm=norm, eps=eps, steps=1, restarts=0, step_size=eps)


Budget = float | torch.Tensor  # one value, or per-row values shaped (batch, 1, ..., 1)


def _per_row(value: float, radius: torch.Tensor | None, like: torch.Tensor) -> Budget:
    return value if radius is None else value * radius.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))


def _random_start(u0: torch.Tensor, space: ThreatSpace, cfg: PGDConfig, gen: torch.Generator,
                  eps: Budget) -> torch.Tensor:
    mask = space.mask.to(u0.device)
    noise = torch.rand(u0.shape, generator=gen).to(u0.device) * 2 - 1
    if cfg.norm == "l2":
        noise = torch.randn(u0.shape, generator=gen).to(u0.device) * mask
        norms = noise.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (u0.dim() - 1)))
        radius = torch.rand(u0.shape[0], generator=gen).to(u0.device) ** (1.0 / max(int(mask.sum()), 1))
        noise = noise / norms * radius.view_as(norms)
    return space.project(u0, u0 + eps * noise * mask, eps, cfg.norm)


def _ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))
    return grad / norms


def _one_run(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
             start: torch.Tensor, eps: Budget, step_size: Budget) -> torch.Tensor:
    mask = space.mask.to(u0.device)
    u = start.detach()
    for _ in range(cfg.steps):
        u.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(u), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, u)
        step = step_size * _ascent_direction(grad * mask, cfg.norm)
        u = space.project(u0, u.detach() + step, eps, cfg.norm).detach()
    return u


def pgd_batch(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
              gen: torch.Generator, radius: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial points for one batch (attack units); `radius` (batch,) scales ε and the step per row."""
    eps, step_size = _per_row(cfg.eps, radius, u0), _per_row(cfg.step, radius, u0)
    best = u0.clone()
    fooled = torch.zeros(u0.shape[0], dtype=torch.bool, device=u0.device)
    for restart in range(max(cfg.restarts, 1)):
        start = _random_start(u0, space, cfg, gen, eps) if cfg.restarts > 0 else u0
        u = _one_run(model, u0, y, space, cfg, start, eps, step_size)
        with torch.no_grad():
            now_fooled = model(u).argmax(dim=1) != y
        take = now_fooled & ~fooled if restart > 0 else torch.ones_like(fooled)
        best[take] = u[take]
        fooled |= now_fooled
        if bool(fooled.all()):
            break
    return best


def pgd(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
        gen: torch.Generator, batch_size: int = 1024, radius: torch.Tensor | None = None) -> torch.Tensor:
    """PGD over all rows in batches; `model` maps attack units to logits. Returns points on u0's device.

    `radius` (n,), when given, multiplies ε and the step of each row (e.g. its norm, for a relative budget).
    """
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    parts = []
    for i in range(0, u0.shape[0], batch_size):
        ub, yb = u0[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        rb = None if radius is None else radius[i : i + batch_size].to(device)
        parts.append(pgd_batch(model, ub, yb, space, cfg, gen, rb).to(u0.device))
    return torch.cat(parts) if parts else u0.clone()
