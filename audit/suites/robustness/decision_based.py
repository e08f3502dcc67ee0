"""A decision-based (labels-only) attack: HopSkipJump (Chen, Jordan & Wainwright 2020), L∞ version, masked.

ART's HopSkipJump moves every feature between global clip values; tabular audits need immutable columns and
per-column bounds, so this implementation works in the threat space's attack units: only mutable coordinates
move, every query stays inside the observed bounds, and one-hot categories are left as they are. It needs
nothing but the model's predicted class. Per row it returns the closest adversarial point found and its L∞
distance (inf when no adversarial starting point was found), so one run answers every ε of a sweep: a row
falls at ε when its point lies within ε. Like any black-box attack, it gives an upper bound on robust accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from audit.suites.robustness.threat import ThreatSpace

Decide = Callable[[torch.Tensor], torch.Tensor]  # attack-unit batch -> predicted class (int64)


@dataclass(frozen=True)
class HopSkipJumpSettings:
    iterations: int = 20
    initial_evals: int = 50  # gradient-estimate queries at the first iteration (grows with sqrt(t))
    max_evals: int = 200
    init_draws: int = 50  # random feasible points tried per row to find an adversarial start
    bisection_steps: int = 12
    step_halvings: int = 8


@dataclass(frozen=True)
class DecisionResult:
    u_adv: torch.Tensor  # closest adversarial point per row (u0 where none was found)
    distance: torch.Tensor  # its L∞ distance from u0 on the mutable coordinates; inf where none was found
    queries: int  # model calls per row, at most


def _expand(t: torch.Tensor, n: int) -> torch.Tensor:
    return t.expand(n, *t.shape[1:])


def _linf(delta: torch.Tensor) -> torch.Tensor:
    return delta.flatten(1).abs().max(dim=1).values


def _bounded(space: ThreatSpace, u0: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Mutable coordinates inside the observed bounds; the others as in u0."""
    mask, lo, hi = (_expand(t, u0.shape[0]).to(u0) for t in (space.mask, space.u_lo, space.u_hi))
    return torch.where(mask.bool(), torch.maximum(torch.minimum(u, hi), lo), u0)


class _Counter:
    def __init__(self, decide: Decide, y: torch.Tensor):
        self.decide, self.y, self.calls = decide, y, 0

    def adversarial(self, u: torch.Tensor, y: torch.Tensor | None = None, calls: int = 1) -> torch.Tensor:
        self.calls += calls
        return self.decide(u) != (self.y if y is None else y)


def _initial(counter: _Counter, space: ThreatSpace, u0: torch.Tensor, draws: int,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random feasible adversarial point per row (uniform on the mutable box), and which rows have one."""
    n = u0.shape[0]
    found = torch.zeros(n, dtype=torch.bool)
    start = u0.clone()
    lo, hi = (_expand(t, n).to(u0) for t in (space.u_lo, space.u_hi))
    spread = 10 * (1 + u0.abs())  # an unbounded coordinate is drawn from a wide box around the row
    lo, hi = torch.where(lo.isfinite(), lo, u0 - spread), torch.where(hi.isfinite(), hi, u0 + spread)
    for _ in range(draws):
        if bool(found.all()):
            break
        draw = lo + (hi - lo) * torch.rand(u0.shape, generator=gen).to(u0)
        candidate = _bounded(space, u0, draw)
        hit = counter.adversarial(candidate) & ~found
        start[hit] = candidate[hit]
        found |= hit
    return start, found


def _toward(u0: torch.Tensor, u: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """u pulled into the L∞ ball of per-row `radius` around u0 (the L∞ "blend" of HopSkipJump)."""
    r = radius.view(-1, *([1] * (u0.dim() - 1)))
    return u0 + torch.maximum(torch.minimum(u - u0, r), -r)


def _bisect(counter: _Counter, u0: torch.Tensor, u_adv: torch.Tensor, steps: int) -> torch.Tensor:
    """The smallest L∞ radius (to the precision of `steps` halvings) at which the pulled-in point stays adversarial."""
    low = torch.zeros(u0.shape[0], dtype=u0.dtype)
    high = _linf(u_adv - u0)
    for _ in range(steps):
        mid = (low + high) / 2
        adv = counter.adversarial(_toward(u0, u_adv, mid))
        high = torch.where(adv, mid, high)
        low = torch.where(adv, low, mid)
    return _toward(u0, u_adv, high)


def _gradient_sign(counter: _Counter, space: ThreatSpace, u0: torch.Tensor, boundary: torch.Tensor,
                   delta: torch.Tensor, evals: int, gen: torch.Generator) -> torch.Tensor:
    """Sign of the Monte-Carlo estimate of the boundary's normal (pointing to the adversarial side)."""
    n = boundary.shape[0]
    mask = _expand(space.mask, n).to(u0)
    d = 2 * torch.rand((evals, *boundary.shape), generator=gen).to(u0) - 1
    d = d * mask
    flat = (-1, *u0.shape[1:])
    shifted = boundary.unsqueeze(0) + delta.view(1, -1, *([1] * (u0.dim() - 1))) * d
    probes = _bounded(space, u0.expand_as(d).reshape(flat), shifted.reshape(flat))
    phi = counter.adversarial(probes, counter.y.repeat(evals), calls=evals).view(evals, n).to(u0) * 2 - 1
    # Baseline subtraction (the paper's variance reduction); all-agreeing samples keep their sign.
    mean = phi.mean(dim=0, keepdim=True)
    centred = torch.where((mean.abs() == 1).expand_as(phi), phi, phi - mean)
    step = probes.view(evals, *boundary.shape) - boundary.unsqueeze(0)
    grad = (centred.view(evals, n, *([1] * (u0.dim() - 1))) * step).mean(dim=0)
    return torch.sign(grad) * mask


def hop_skip_jump(decide: Decide, space: ThreatSpace, u0: torch.Tensor, y: torch.Tensor,
                  settings: HopSkipJumpSettings, gen: torch.Generator) -> DecisionResult:
    """Untargeted L∞ HopSkipJump on rows `u0` (attack units) with labels `y`, querying only `decide`."""
    counter = _Counter(decide, y)
    n = u0.shape[0]
    dims = max(int(space.mask.sum()), 1)
    start, found = _initial(counter, space, u0, settings.init_draws, gen)
    if n == 0 or not bool(found.any()):
        return DecisionResult(u0.clone(), torch.full((n,), float("inf")), counter.calls)
    rows = found.nonzero().squeeze(1)
    base, labels = u0[rows], y[rows]
    sub = _Counter(decide, labels)
    u_adv = _bisect(sub, base, start[rows], settings.bisection_steps)
    theta = 1.0 / dims ** 2  # the paper's θ for L∞ (d^-2); δ = d·θ·distance
    for t in range(1, settings.iterations + 1):
        distance = _linf(u_adv - base)
        delta = (dims * theta * distance).clamp_min(1e-6)
        evals = min(int(settings.initial_evals * t ** 0.5), settings.max_evals)
        update = _gradient_sign(sub, space, base, u_adv, delta, evals, gen)
        u_adv = _step(sub, space, base, u_adv, update, distance / t ** 0.5, settings.step_halvings)
        u_adv = _bisect(sub, base, u_adv, settings.bisection_steps)
    result, distances = u0.clone(), torch.full((n,), float("inf"))
    result[rows] = u_adv
    distances[rows] = _linf(u_adv - base)
    return DecisionResult(result, distances, counter.calls + sub.calls)


def _step(counter: _Counter, space: ThreatSpace, u0: torch.Tensor, u_adv: torch.Tensor, update: torch.Tensor,
          size: torch.Tensor, halvings: int) -> torch.Tensor:
    """Geometric step search: the largest size·2^-k step along `update` that stays adversarial (else stay put)."""
    size = size.clone()
    pending = torch.ones(u0.shape[0], dtype=torch.bool)
    moved = u_adv.clone()
    for _ in range(halvings):
        candidate = _bounded(space, u0, u_adv + size.view(-1, *([1] * (u0.dim() - 1))) * update)
        ok = counter.adversarial(candidate) & pending
        moved[ok] = candidate[ok]
        pending &= ~ok
        if not bool(pending.any()):
            break
        size = size / 2
    return moved
