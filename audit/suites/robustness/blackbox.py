"""Query-only L∞ attacks: the Square attack on images, Square-style random search on tabular inputs
(Andriushchenko et al. 2020). Only model outputs are used, never gradients.

ART's SquareAttack moves every feature (it has no notion of immutable columns or one-hot groups), so for
tabular data we use the same idea on masked coordinates: start at a random vertex of the ε-box, then
repeatedly re-draw the signs of a shrinking random subset of the mutable coordinates and keep the change
when the margin loss falls. On images `square_attack` follows the paper and its reference code
(github.com/max-andr/square-attack): vertical-stripe start, then per query and per row a square window of side
√(p·h·w) set to a random vertex per channel (signs re-drawn while the proposal would not change the image), kept
when the margin falls; a row stops at its first success and only the rows still standing are queried. ART's
SquareAttack departs from the paper in three ways (see `square_attack`) that make it weaker at the same query
budget; the tests reproduce ART's figure with `variant="art"` to show that these are the whole difference.
"""

from __future__ import annotations

import math

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


def square_fraction(p_init: float, step: int, queries: int) -> float:
    """Share of the image a window covers at this query: p_init halved at 0.1%, 0.5%, 2%, 5%, 10%, 20%, 40%, 60%
    and 80% of the budget (the paper's schedule, as ART's SquareAttack)."""
    done = step / max(queries, 1)
    halvings = sum(done > t for t in (0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8))
    return p_init / 2**halvings


@torch.no_grad()
def square_attack(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, eps: float,
                  queries: int, gen: torch.Generator, p_init: float = 0.8, batch_size: int = 512,
                  variant: str = "paper") -> torch.Tensor:
    """Adversarial images (n, c, h, w) found with at most `queries` + 1 model calls per example.

    `variant="paper"` follows Andriushchenko et al. (2020) and their reference code: the stripe start is kept
    whatever its margin, each row draws its own window and signs, and a window's signs are re-drawn until the
    proposal changes the image (a query that changes nothing is never spent). `variant="art"` reproduces ART's
    SquareAttack (1.20), which departs from the paper in three ways: the stripe start is kept only where it lowers
    the margin, one window and one sign per channel are drawn per query for every row of the batch, and signs are
    not re-drawn (on one-channel images about half of the late, one-pixel queries change nothing). The ART
    variant exists to cross-check against ART; the audit runs the paper's.
    """
    if variant not in ("paper", "art"):
        raise ValueError(f"unknown Square attack variant {variant!r}")
    model.eval()
    parts = [_square_batch(model, u0[i : i + batch_size], y[i : i + batch_size], space, eps, queries, gen, p_init,
                           variant == "art")
             for i in range(0, u0.shape[0], batch_size)]
    return torch.cat(parts) if parts else u0.clone()


REDRAWS = 16  # re-draws of a window's signs before a proposal that changes nothing is spent anyway (ε = 0)


def _square_batch(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace, eps: float,
                  queries: int, gen: torch.Generator, p_init: float, art: bool) -> torch.Tensor:
    n, c, h, w = u0.shape
    stripes = (torch.randint(0, 2, (n, c, 1, w), generator=gen) * 2 - 1).to(u0)
    best = space.project(u0, u0 + eps * stripes, eps, "linf")
    best_margin = margin(model(best), y)
    if art:  # ART keeps the stripe start only where it lowers the margin
        clean_margin = margin(model(u0), y)
        worse = best_margin >= clean_margin
        best[worse], best_margin[worse] = u0[worse], clean_margin[worse]
    idx = torch.nonzero(best_margin > 0).squeeze(1)
    rows, cols = torch.arange(h, device=u0.device), torch.arange(w, device=u0.device)
    for step in range(queries):
        if idx.numel() == 0:
            break
        k = idx.numel()
        side = min(max(int(round(math.sqrt(square_fraction(p_init, step, queries) * h * w))), 1), max(h - 1, 1))
        draws = 1 if art else k  # the reference code draws the window's corner in [0, h - side)
        top = torch.randint(0, max(h - side, 1), (draws,), generator=gen).to(u0.device).expand(k)
        left = torch.randint(0, max(w - side, 1), (draws,), generator=gen).to(u0.device).expand(k)
        in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + side)
        in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + side)
        window = (in_rows[:, None, :, None] & in_cols[:, None, None, :]).expand(k, c, h, w)
        base, start = best[idx], u0[idx]
        signs = (torch.randint(0, 2, (draws, c, 1, 1), generator=gen) * 2 - 1).to(u0).expand(k, c, 1, 1)
        candidate = space.project(start, torch.where(window, start + eps * signs, base), eps, "linf")
        if not art:  # the reference code re-draws the signs while the proposal equals the current point
            for _ in range(REDRAWS):
                same = ((candidate - base).abs() < 1e-7).flatten(1).all(dim=1)
                if not bool(same.any()):
                    break
                redo = torch.nonzero(same).squeeze(1)
                fresh = (torch.randint(0, 2, (redo.numel(), c, 1, 1), generator=gen) * 2 - 1).to(u0)
                candidate[redo] = space.project(start[redo], torch.where(window[redo], start[redo] + eps * fresh,
                                                                         base[redo]), eps, "linf")
        found = margin(model(candidate), y[idx])
        better = found < best_margin[idx]
        best[idx[better]], best_margin[idx[better]] = candidate[better], found[better]
        idx = idx[best_margin[idx] > 0]
    return best
