"""Constrained tabular attacks: greedy category switches within a budget, and which features moved.

A one-hot feature is changed only to another valid category (exactly one column set), at most `budget`
features per row, and never for immutable features. Numeric columns are left to the PGD attacks.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.suites.robustness.blackbox import margin
from audit.suites.robustness.threat import CategoricalGroup, ThreatSpace


def _switch(u: torch.Tensor, group: CategoricalGroup, column: int, space: ThreatSpace) -> torch.Tensor:
    """Rows of u with `group` set to the category in `column` (one-hot, in attack units)."""
    out = u.clone()
    cols = list(group.columns)
    out[:, cols] = 0.0
    out[:, column] = 1.0 / space.scale[0, column].to(u.device)
    return out


@torch.no_grad()
def categorical_search(model: nn.Module, u0: torch.Tensor, y: torch.Tensor, space: ThreatSpace,
                       budget: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy search: each round applies the single category switch that lowers the margin most.

    Returns the adversarial rows and a (rows, groups) bool tensor of which features were switched.
    """
    model.eval()
    groups = space.categorical
    changed = torch.zeros(u0.shape[0], len(groups), dtype=torch.bool, device=u0.device)
    u = u0.clone()
    best = margin(model(u), y)
    for _ in range(budget):
        round_best, round_u, round_group = best.clone(), u.clone(), torch.full_like(y, -1)
        for g, group in enumerate(groups):
            for column in group.columns:
                cand = _switch(u, group, column, space)
                allowed = ~changed[:, g] & (u[:, column] == 0)
                m = margin(model(cand), y)
                better = allowed & (m < round_best) & (best > 0)
                round_best[better], round_u[better], round_group[better] = m[better], cand[better], g
        moved = round_group >= 0
        if not bool(moved.any()):
            break
        u, best = round_u, round_best
        changed[moved, round_group[moved]] = True
    failed = best > 0  # switches that did not overturn the prediction gain the attacker nothing: undo them
    u[failed], changed[failed] = u0[failed], False
    return u, changed


def feature_shift(space: ThreatSpace, u0: torch.Tensor, u_adv: torch.Tensor, names: tuple[str, ...],
                  fooled: torch.Tensor) -> list[tuple[str, float]]:
    """Mean absolute change per movable numeric column over the fooled rows, in standard deviations, largest first."""
    delta = (u_adv - u0)[fooled].abs().mean(dim=0) if bool(fooled.any()) else torch.zeros(u0.shape[1])
    movable = [i for i in range(delta.shape[0]) if float(space.mask[0, i]) > 0]
    shifts = [(names[i] if i < len(names) else f"x{i}", float(delta[i])) for i in movable]
    return sorted(shifts, key=lambda item: -item[1])


def one_hot_valid(x: torch.Tensor, groups: tuple[CategoricalGroup, ...]) -> bool:
    """Every group has exactly one column at 1 and the rest at 0 (used by tests and a validity check)."""
    for group in groups:
        block = x[:, list(group.columns)]
        if not (((block == 0) | (block == 1)).all() and (block.sum(dim=1) == 1).all()):
            return False
    return True
