"""The one PGD engine's per-row budgets and input-space threat model (used by the efficiency re-audit and the
text embedding attack); its agreement with ART is checked in test_robustness_parts, test_efficiency and
test_text_suites."""

from __future__ import annotations

import torch
from torch import nn

from audit.suites.robustness.threat import input_space
from audit.suites.robustness.torch_pgd import PGDConfig, pgd


def _head() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).eval()


def test_per_row_radius_equals_one_scalar_attack_per_row() -> None:
    head, x = _head(), torch.randn(12, 6, generator=torch.Generator().manual_seed(1)) * torch.arange(1, 13)[:, None]
    y = torch.randint(0, 3, (12,), generator=torch.Generator().manual_seed(2))
    space, cfg = input_space((6,)), PGDConfig("l2", 0.1, 10, restarts=0)
    batch = pgd(head, x, y, space, cfg, torch.Generator(), radius=x.norm(dim=1))
    for i in range(12):
        alone = pgd(head, x[i : i + 1], y[i : i + 1], space, PGDConfig("l2", 0.1 * float(x[i].norm()), 10, 0),
                    torch.Generator())
        torch.testing.assert_close(batch[i : i + 1], alone, rtol=1e-5, atol=1e-6)
    assert torch.all((batch - x).norm(dim=1) <= 0.1 * x.norm(dim=1) * (1 + 1e-5))


def test_input_space_keeps_masked_values_and_bounds() -> None:
    head, x = _head(), torch.rand(20, 6, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(4))
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    for norm in ("linf", "l2"):
        adv = pgd(head, x, y, input_space((6,), mask, (0.0, 1.0)), PGDConfig(norm, 0.4, 8, 1),
                  torch.Generator().manual_seed(0))
        assert torch.equal(adv[:, 3:5], x[:, 3:5])
        assert adv.min() >= 0.0 and adv.max() <= 1.0
        assert not torch.equal(adv, x)
