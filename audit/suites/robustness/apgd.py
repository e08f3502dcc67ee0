"""APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks") on the one attack engine: same masks, bounds, threat space, batching and restarts
as PGD (`torch_pgd`).

Step size 2ε, halved at checkpoints (0, 0.22, then gaps shrinking by 0.03 of the budget down to 0.06) when
at most 75 % of the steps since the last checkpoint raised the loss, or when neither the step nor the best
loss changed since the last one; a halving restarts from the best point. Momentum 0.75 after the first step.
Losses: cross-entropy, or the difference-of-logits ratio (DLR, needs 3+ classes). Each row returns its first
misclassified iterate, else its highest-loss point, as in the reference implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn

from audit.suites.robustness.threat import ThreatSpace
from audit.suites.robustness.torch_pgd import (
    AttackStats,
    Budget,
    Run,
    RunFn,
    ascent_direction,
    attack_batch,
    per_row,
    rows_of,
    run_batches,
)

MOMENTUM = 0.75
RHO = 0.75  # share of loss-raising steps below which the step is halved


@dataclass(frozen=True)
class APGDConfig:
    norm: str  # "linf" | "l2"
    eps: float
    steps: int
    loss: str = "ce"  # "ce" | "dlr"
    restarts: int = 1


def checkpoints(steps: int) -> list[int]:
    """Iterations at which the step size is reconsidered (p_0 = 0, p_1 = 0.22, p_j+1 = p_j + max(gap − 0.03, 0.06))."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = (math.ceil(round(q * steps, 9)) for q in p[1:])  # round: 0.57·100 must not become 58
    return sorted({m for m in marks if 0 < m <= steps})


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), per row; invariant to shifting and scaling the logits."""
    ordered, _ = logits.sort(dim=1, descending=True)
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = torch.where(ordered[:, 0] == true, ordered[:, 1], ordered[:, 0])
    return -(true - other) / (ordered[:, 0] - ordered[:, 2] + 1e-12)


def _loss(name: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if name == "dlr":
        return dlr_loss(logits, y)
    return nn.functional.cross_entropy(logits, y, reduction="none")


@dataclass
class _State:
    """Per-row state of one APGD run, for the rows still running (kept compact: finished rows are dropped)."""

    idx: torch.Tensor  # positions in the batch
    u0: torch.Tensor
    y: torch.Tensor
    eps: Budget
    u: torch.Tensor
    u_prev: torch.Tensor
    grad: torch.Tensor
    loss: torch.Tensor
    best_u: torch.Tensor
    best_grad: torch.Tensor
    best_loss: torch.Tensor
    eta: torch.Tensor
    raises: torch.Tensor  # loss-raising steps since the last checkpoint
    last_best: torch.Tensor  # best loss at the last checkpoint
    last_halved: torch.Tensor  # halved at the last checkpoint

    def keep(self, rows: torch.Tensor) -> _State:
        return _State(**{f.name: rows_of(getattr(self, f.name), rows) for f in fields(self)})


def _apgd_run(cfg: APGDConfig) -> RunFn:
    marks = checkpoints(cfg.steps)

    def run(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, start: torch.Tensor,
            eps: Budget, stop: bool, rows: torch.Tensor | None = None) -> Run:  # the step comes from eps: no rows
        mask, n, shape = space.mask.to(u0.device), u0.shape[0], (-1, *([1] * (u0.dim() - 1)))
        fooled = torch.zeros(n, dtype=torch.bool, device=u0.device)
        found = start.detach().clone()  # first misclassified iterate per row

        def evaluate(points: torch.Tensor, idx: torch.Tensor, labels: torch.Tensor,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            ua = points.detach().requires_grad_(True)
            logits = model(ua)
            per = _loss(cfg.loss, logits, labels)
            (grad,) = torch.autograd.grad(per.sum(), ua)
            hit = logits.detach().argmax(1) != labels
            newly = hit & ~fooled[idx]
            found[idx[newly]] = points.detach()[newly]
            fooled[idx[hit]] = True
            return per.detach(), grad * mask, hit

        idx = torch.arange(n, device=u0.device)
        loss, grad, hit = evaluate(start, idx, y)
        eta = 2 * torch.as_tensor(eps, dtype=u0.dtype, device=u0.device).expand(n, *u0.shape[1:])
        u = start.detach().clone()
        s = _State(idx, u0, y, eps, u, u.clone(), grad, loss, u.clone(), grad.clone(), loss.clone(),
                   eta.flatten(1)[:, :1].reshape(shape).clone(), torch.zeros(n, device=u0.device), loss.clone(),
                   torch.ones(n, dtype=torch.bool, device=u0.device))  # as the reference: no stall check at first
        last_mark, steps = 0, torch.zeros(n, dtype=torch.long, device=u0.device)
        for k in range(1, cfg.steps + 1):
            if stop and bool(hit.any()):
                s = s.keep(~hit)
                if s.idx.numel() == 0:
                    break
            nxt = _step(s, space, cfg.norm, MOMENTUM if k > 1 else 1.0)
            loss, grad, hit = evaluate(nxt, s.idx, s.y)
            steps[s.idx] += 1
            s.raises += (loss > s.loss).float()
            s.u, s.loss, s.grad = nxt, loss, grad
            better = loss > s.best_loss
            s.best_u[better], s.best_grad[better], s.best_loss[better] = nxt[better], grad[better], loss[better]
            if k in marks:
                _checkpoint(s, k - last_mark)
                last_mark = k
        out = start.detach().clone()
        out[s.idx] = s.best_u
        return Run(torch.where(fooled.view(shape), found, out), fooled, steps)

    return run


def _step(s: _State, space: ThreatSpace, norm: str, alpha: float) -> torch.Tensor:
    z = space.project(s.u0, s.u + s.eta * ascent_direction(s.grad, norm), s.eps, norm)
    nxt = space.project(s.u0, s.u + alpha * (z - s.u) + (1 - alpha) * (s.u - s.u_prev), s.eps, norm)
    s.u_prev = s.u
    return nxt.detach()


def _checkpoint(s: _State, span: int) -> None:
    """Halve the step where the loss rose too rarely, or where nothing changed since the last checkpoint."""
    oscillating = s.raises <= RHO * span
    stalled = ~s.last_halved & (s.best_loss <= s.last_best)
    halve = oscillating | stalled
    s.eta[halve] /= 2
    s.u[halve], s.grad[halve] = s.best_u[halve], s.best_grad[halve]
    s.last_halved, s.last_best, s.raises = halve, s.best_loss.clone(), torch.zeros_like(s.raises)


def apgd_with_stats(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: APGDConfig,
                    gen: torch.Generator, batch_size: int = 1024, radius: torch.Tensor | None = None,
                    stop_when_fooled: bool = False, start: torch.Tensor | None = None,
                    ) -> tuple[torch.Tensor, AttackStats]:
    """APGD over all rows; each restart begins at a masked random point in the ε-ball (the clean input if 0)."""
    def one_batch(ub, yb, rb, sb):  # noqa: ANN001, ANN202
        eps = per_row(cfg.eps, rb, ub)
        return attack_batch(model, ub, yb, space, cfg.norm, cfg.restarts, _apgd_run(cfg), gen, eps,
                            stop_when_fooled, sb)

    return run_batches(model, u0, y, batch_size, one_batch, radius, start)


def apgd(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: APGDConfig,
         gen: torch.Generator, batch_size: int = 1024, radius: torch.Tensor | None = None) -> torch.Tensor:
    return apgd_with_stats(model, u0, y, space, cfg, gen, batch_size, radius)[0]
