"""An L2 PGD attack on the head in EMBEDDING space (not a realistic text edit: an upper bound on fragility).

The perturbation of each embedding is bounded by `eps` times that embedding's norm, so eps reads as a
relative change (MiniLM's embeddings are unit length, where it is also the absolute L2 radius).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from audit.suites.robustness.threat import input_space
from audit.suites.robustness.torch_pgd import PGDConfig, pgd


@dataclass(frozen=True)
class EmbeddingAttackResult:
    eps: float
    adversarial_correct: torch.Tensor  # bool per row: still classified correctly after the attack
    noise_correct: torch.Tensor  # bool per row: still correct under random noise of the same norm


def _project(delta: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    norms = delta.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return delta * torch.clamp(radius / norms, max=1.0)


def l2_pgd(head: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 20) -> torch.Tensor:
    """Untargeted L2 PGD from the clean point, radius eps * |x| per row (step 2.5 * radius / steps), by the
    robustness suite's engine."""
    cfg = PGDConfig("l2", eps, steps, restarts=0)
    return pgd(head, x, y, input_space(tuple(x.shape[1:])), cfg, torch.Generator(), batch_size=max(len(x), 1),
               radius=x.norm(dim=1))


def attack_embeddings(head: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                      generator: torch.Generator) -> EmbeddingAttackResult:
    """Correctness after PGD and after random noise of the same radius (a gradient-masking check)."""
    device = next(head.parameters()).device
    head.eval()
    x, y = x.to(device), y.to(device)
    adversarial = l2_pgd(head, x, y, eps, steps)
    noise = torch.randn(x.shape, generator=generator).to(device)
    perturbable = getattr(head, "perturbable", None)  # inputs_embeds: padding coordinates are masked out
    if perturbable is not None:
        noise = noise * perturbable.to(device)
    noisy = x + _project(noise * 1e6, eps * x.norm(dim=1, keepdim=True))  # scaled up, then onto the sphere
    with torch.no_grad():
        adv_ok = head(adversarial).argmax(1) == y
        noise_ok = head(noisy).argmax(1) == y
    return EmbeddingAttackResult(eps, adv_ok.cpu(), noise_ok.cpu())
