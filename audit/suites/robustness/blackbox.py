"""A query-only L∞ attack for constrained tabular inputs: Square-style random search (Andriushchenko et al. 2020).

ART's SquareAttack moves every feature (it has no notion of immutable columns or one-hot groups), so for
tabular data we use the same idea on masked coordinates: start at a random vertex of the ε-box, then
repeatedly re-draw the signs of a shrinking random subset of the mutable coordinates and keep the change
when the margin loss falls. Only model outputs are used, never gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.suites.robustness.threat import ThreatSpace


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """True-class logit minus the best other logit; negative means misclassified."""
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y.view(-1, 1), float("-inf"))
    return true - other.max(dim=1).values


def _fraction(step: int, queries: int, p_init: float) -> float:
    """Share of coordinates re-drawn per query: halves over the run, as in Square's schedule."""
    return p_init * 0.5 ** (8 * step / max(queries, 1))


@torch.no_grad()
def random_search(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, eps: float,
                  queries: int, gen: torch.Generator, p_init: float = 0.3) -> torch.Tensor:
    """Adversarial points (attack units) found with at most `queries` model calls per example."""
    model.eval()
    mask = space.mask.to(u0.device).expand_as(u0).bool()
    movable = int(space.mask.sum())
    signs = (torch.randint(0, 2, u0.shape, generator=gen) * 2 - 1).to(u0)
    best = space.project(u0, u0 + eps * signs, eps, "linf")
    best_margin = margin(model(best), y)
    if movable == 0:
        return best
    for step in range(queries):
        active = best_margin > 0
        if not bool(active.any()):
            break
        n_coords = max(1, round(_fraction(step, queries, p_init) * movable))
        pick = torch.rand(u0.shape, generator=gen).to(u0.device).masked_fill(~mask, 2.0)
        cutoff = pick.flatten(1).kthvalue(n_coords, dim=1).values.view(-1, *([1] * (u0.dim() - 1)))
        chosen = pick <= cutoff
        flips = (torch.randint(0, 2, u0.shape, generator=gen) * 2 - 1).to(u0)
        candidate = torch.where(chosen, u0 + eps * flips, best)
        candidate = space.project(u0, candidate, eps, "linf")
        cand_margin = margin(model(candidate), y)
        better = (cand_margin < best_margin) & active
        best[better] = candidate[better]
        best_margin[better] = cand_margin[better]
    return best
