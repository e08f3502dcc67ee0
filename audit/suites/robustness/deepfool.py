"""DeepFool (Moosavi-Dezfooli et al. 2016): the smallest L2 step that crosses the nearest decision boundary.

Batched and masked (immutable and one-hot columns stay put), in attack units; compared with ART's DeepFool
in the tests. The mean size of the perturbations it finds is the "empirical robustness" figure.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.suites.robustness.threat import ThreatSpace


def _class_gradients(model: nn.Module, u: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    u = u.detach().requires_grad_(True)
    logits = model(u)
    grads = [torch.autograd.grad(logits[:, k].sum(), u, retain_graph=k < classes - 1)[0] for k in range(classes)]
    return logits.detach(), torch.stack(grads, dim=1)  # (n, k), (n, k, *shape)


def deepfool(model: nn.Module, u0: torch.Tensor, space: ThreatSpace, max_iter: int = 50,
             overshoot: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (adversarial points, fooled flags) for rows of u0, starting from the model's own labels.

    Only the rows still on their original side are differentiated: a flipped row's point no longer moves (its
    step is zero from then on), so dropping it changes no result and saves its K gradients per iteration."""
    model.eval()
    mask = space.mask.to(u0.device).unsqueeze(1)
    with torch.no_grad():
        logits0 = model(u0)
    label = logits0.argmax(dim=1)
    classes = logits0.shape[1]
    r_total = torch.zeros_like(u0)
    u = u0.clone()
    idx = torch.arange(u0.shape[0], device=u0.device)  # rows not yet flipped
    for _ in range(max_iter):
        logits, grads = _class_gradients(model, u[idx], classes)
        active = logits.argmax(dim=1) == label[idx]
        if not bool(active.any()):
            break
        idx, logits, grads = idx[active], logits[active], grads[active] * mask
        own = label[idx].view(-1, 1)
        own_logit = logits.gather(1, own)
        own_grad = grads[torch.arange(idx.numel()), own.squeeze(1)].unsqueeze(1)
        f_diff = logits - own_logit  # (n, k) <= 0 while still on the original side
        w_diff = (grads - own_grad).flatten(2)
        w_norm = w_diff.norm(dim=2).clamp_min(1e-12)
        distance = f_diff.abs() / w_norm
        distance.scatter_(1, own, float("inf"))
        nearest = distance.argmin(dim=1)
        rows = torch.arange(idx.numel())
        step = (distance[rows, nearest] + 1e-4).view(-1, 1) * w_diff[rows, nearest] / w_norm[rows, nearest].view(-1, 1)
        r_total[idx] = r_total[idx] + step.view(-1, *u0.shape[1:])
        u[idx] = space.project(u0[idx], u0[idx] + (1 + overshoot) * r_total[idx], float("inf"), "l2")
    with torch.no_grad():
        fooled = model(u).argmax(dim=1) != label
    return u, fooled
