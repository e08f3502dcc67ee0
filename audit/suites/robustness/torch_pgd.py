"""Batched PGD / FGSM / APGD in plain torch: the one attack engine of the project (the robustness suite, the
efficiency suite's re-audit, the remedies' adversarial training, the text embedding attack), cross-checked
against ART in the tests.

PGD follows ART's ProjectedGradientDescent (Madry et al. 2018) so the two agree: cross-entropy loss on the
true labels, step 2.5·ε/steps unless given, success judged at the end of each restart, and an example keeps
the first restart's point that fools the model. APGD (Croce & Hein 2020) lives in `apgd` and runs through
the same batching, restarts, masks and projection. L-infinity or L2; the threat space masks and bounds the
perturbation; `radius` optionally scales ε and the step per row (budgets relative to each input).

`stop_when_fooled` (robust accuracy only needs one success per row) judges every iterate and stops
computing on a row from its first misclassified iterate: finished rows cost nothing, and a row fooled at the
end of a run is fooled at some iterate, so no figure gets weaker. `start` warm-starts rows from given
feasible points (e.g. the adversarial points at a smaller ε); rows it already fools are not attacked again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True)
class AttackStats:
    """The work an attack actually did: rows that entered it, gradient steps summed over rows, restarts run, and
    the gradient steps of each row in input order (so rows attacked together can be accounted for apart)."""

    rows_attacked: int = 0
    row_steps: int = 0
    restarts_run: int = 0
    steps_per_row: torch.Tensor | None = None

    def __add__(self, other: AttackStats) -> AttackStats:
        """Two consecutive batches: counts add, per-row steps are concatenated."""
        parts = [t for t in (self.steps_per_row, other.steps_per_row) if t is not None]
        return AttackStats(self.rows_attacked + other.rows_attacked, self.row_steps + other.row_steps,
                           max(self.restarts_run, other.restarts_run), torch.cat(parts) if parts else None)


Budget = float | torch.Tensor  # one value, or per-row values shaped (batch, 1, ..., 1)


@dataclass(frozen=True)
class Run:
    """One restart on one batch: final (or first fooling) points, which rows they fool (None: not judged)."""

    u: torch.Tensor
    fooled: torch.Tensor | None
    steps: torch.Tensor  # gradient steps taken per row

    @property
    def row_steps(self) -> int:
        return int(self.steps.sum())


class RunFn(Protocol):
    """One restart's steps on some rows of a batch. `rows`: their positions in the batch, where budgets made for the
    whole batch (PGD's per-row step) are read; None: all of the batch's rows, in order."""

    def __call__(self, model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, start: torch.Tensor,
                 eps: Budget, stop: bool, rows: torch.Tensor | None = None) -> Run: ...


def per_row(value: float, radius: torch.Tensor | None, like: torch.Tensor) -> Budget:
    return value if radius is None else value * radius.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))


def rows_of(budget: Budget, idx: torch.Tensor) -> Budget:
    return budget[idx] if isinstance(budget, torch.Tensor) else budget


def random_start(u0: torch.Tensor, space: ThreatSpace, norm: str, gen: torch.Generator, eps: Budget) -> torch.Tensor:
    mask = space.mask.to(u0.device)
    noise = torch.rand(u0.shape, generator=gen).to(u0.device) * 2 - 1
    if norm == "l2":
        noise = torch.randn(u0.shape, generator=gen).to(u0.device) * mask
        norms = noise.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (u0.dim() - 1)))
        radius = torch.rand(u0.shape[0], generator=gen).to(u0.device) ** (1.0 / max(int(mask.sum()), 1))
        noise = noise / norms * radius.view_as(norms)
    return space.project(u0, u0 + eps * noise * mask, eps, norm)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))
    return grad / norms


def _pgd_run(cfg: PGDConfig, step_size: Budget) -> RunFn:
    def run(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, start: torch.Tensor,
            eps: Budget, stop: bool, rows: torch.Tensor | None = None) -> Run:
        mask, out = space.mask.to(u0.device), start.detach().clone()
        fooled = torch.zeros(u0.shape[0], dtype=torch.bool, device=u0.device)
        idx, u = torch.arange(u0.shape[0], device=u0.device), out.clone()
        steps = torch.zeros(u0.shape[0], dtype=torch.long, device=u0.device)
        step = step_size if rows is None else rows_of(step_size, rows)
        moving = not (isinstance(eps, (int, float)) and eps == 0)  # ε = 0: every step projects back onto u0
        for t in range(cfg.steps + (1 if stop else 0)):  # the rows still running are kept compact
            ua = u.detach().requires_grad_(moving)
            with torch.set_grad_enabled(moving):
                logits = model(ua)
            keep = None
            if stop:  # this iterate's prediction comes free with the forward pass
                hit = logits.detach().argmax(1) != y
                if bool(hit.any()):
                    out[idx[hit]], fooled[idx[hit]], keep = ua.detach()[hit], True, ~hit
            if t == cfg.steps or (keep is not None and not bool(keep.any())):
                break
            if keep is not None:
                logits, y, u0, idx = logits[keep], y[keep], u0[keep], idx[keep]
                eps, step = rows_of(eps, keep), rows_of(step, keep)
            here = ua.detach() if keep is None else ua.detach()[keep]
            if moving:
                (grad,) = torch.autograd.grad(nn.functional.cross_entropy(logits, y, reduction="sum"), ua)
                grad = grad if keep is None else grad[keep]
                here = here + step * ascent_direction(grad * mask, cfg.norm)
            u = space.project(u0, here, eps, cfg.norm).detach()  # no gradient at ε = 0: the step is projected away
            steps[idx] += 1
        still = ~fooled[idx]
        out[idx[still]] = u[still]
        return Run(out, fooled if stop else None, steps)

    return run


def attack_batch(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, norm: str, restarts: int,
                 run: RunFn, gen: torch.Generator, eps: Budget, stop: bool = False,
                 start: torch.Tensor | None = None) -> tuple[torch.Tensor, AttackStats]:
    """Restarts of `run` on one batch; each row keeps its first fooling point (its last point if none fools)."""
    best = u0.clone() if start is None else start.clone()
    with torch.no_grad():
        fooled = (model(best).argmax(dim=1) != y) if start is not None else torch.zeros_like(y, dtype=torch.bool)
    todo = ~fooled
    per_row = torch.zeros(u0.shape[0], dtype=torch.long)
    stats = AttackStats(rows_attacked=int(todo.sum()))
    for restart in range(max(restarts, 1)):
        if not bool(todo.any()):
            break
        begin = random_start(u0, space, norm, gen, eps) if restarts > 0 else u0  # noise for all rows: same draws
        idx = todo.nonzero().squeeze(1)
        r = run(model, u0[idx], y[idx], space, begin[idx], rows_of(eps, idx), stop, idx)
        now_fooled = r.fooled
        if now_fooled is None:
            with torch.no_grad():
                now_fooled = model(r.u).argmax(dim=1) != y[idx]
        take = now_fooled if restart > 0 else torch.ones_like(now_fooled)
        best[idx[take]] = r.u[take]
        fooled[idx[now_fooled]] = True
        todo = ~fooled
        per_row[idx.cpu()] += r.steps.cpu()
        stats = AttackStats(stats.rows_attacked, stats.row_steps + r.row_steps, restart + 1)
    return best, AttackStats(stats.rows_attacked, stats.row_steps, stats.restarts_run, per_row)


def fgsm_sweep(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, norm: str,
               eps: Sequence[float], batch_size: int = 1024) -> torch.Tensor:
    """FGSM at every ε from one gradient per row: (len(eps), n, ...) points on u0's device.

    FGSM's one gradient is taken at the clean input whatever ε is, so each ε's points equal those of a run with
    `fgsm_config(norm, ε)` (rows the model already gets wrong are wrong at any ε, so where those start does not
    change a figure).
    """
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    mask, out = space.mask.to(device), []
    for i in range(0, u0.shape[0], batch_size):
        ub, yb = u0[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        ua = ub.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(ua), yb, reduction="sum"), ua)
        direction = ascent_direction(grad * mask, norm)
        out.append(torch.stack([space.project(ub, ub + e * direction, e, norm).detach() for e in eps]).to(u0.device))
    return torch.cat(out, dim=1) if out else u0.unsqueeze(0).repeat(len(eps), *([1] * u0.dim()))


def pgd_batch(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
              gen: torch.Generator, radius: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial points for one batch (attack units); `radius` (batch,) scales ε and the step per row."""
    eps, step_size = per_row(cfg.eps, radius, u0), per_row(cfg.step, radius, u0)
    return attack_batch(model, u0, y, space, cfg.norm, cfg.restarts, _pgd_run(cfg, step_size), gen, eps)[0]


def run_batches(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, batch_size: int,
                one_batch: Callable[..., tuple[torch.Tensor, AttackStats]], radius: torch.Tensor | None = None,
                start: torch.Tensor | None = None) -> tuple[torch.Tensor, AttackStats]:
    """`one_batch(ub, yb, rb, sb)` over all rows in batches on the model's device; points come back on u0's."""
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    parts, stats = [], AttackStats()
    for i in range(0, u0.shape[0], batch_size):
        sl = slice(i, i + batch_size)
        rb = None if radius is None else radius[sl].to(device)
        sb = None if start is None else start[sl].to(device)
        points, s = one_batch(u0[sl].to(device), y[sl].to(device), rb, sb)
        parts.append(points.to(u0.device))
        stats = stats + s
    return (torch.cat(parts) if parts else u0.clone()), stats


def pgd_with_stats(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
                   gen: torch.Generator, batch_size: int = 1024, radius: torch.Tensor | None = None,
                   stop_when_fooled: bool = False, start: torch.Tensor | None = None,
                   ) -> tuple[torch.Tensor, AttackStats]:
    def one_batch(ub, yb, rb, sb):  # noqa: ANN001, ANN202
        eps, step_size = per_row(cfg.eps, rb, ub), per_row(cfg.step, rb, ub)
        run = _pgd_run(cfg, step_size)
        return attack_batch(model, ub, yb, space, cfg.norm, cfg.restarts, run, gen, eps, stop_when_fooled, sb)

    return run_batches(model, u0, y, batch_size, one_batch, radius, start)


def pgd(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, cfg: PGDConfig,
        gen: torch.Generator, batch_size: int = 1024, radius: torch.Tensor | None = None) -> torch.Tensor:
    """PGD over all rows in batches; `model` maps attack units to logits. Returns points on u0's device.

    `radius` (n,), when given, multiplies ε and the step of each row (e.g. its norm, for a relative budget).
    """
    return pgd_with_stats(model, u0, y, space, cfg, gen, batch_size, radius)[0]
