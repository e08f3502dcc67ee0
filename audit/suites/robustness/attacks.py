"""ART attacks (adversarial-robustness-toolbox) on the attack-unit view of the model.

ART is imported lazily (it is slow to import). Every point ART returns is projected back onto the
threat space, because some ART attacks ignore the feature mask in their random start (APGD, Square).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.suites.robustness.threat import LogitView, ThreatSpace

ART_NORMS = {"linf": np.inf, "l2": 2}


@dataclass(frozen=True)
class ArtSettings:
    attack: str  # "fgsm" | "pgd" | "apgd-ce" | "apgd-dlr" | "square"
    norm: str
    eps: float
    steps: int = 20
    restarts: int = 1
    batch_size: int = 256
    seed: int = 0


def art_classifier(view: LogitView, space: ThreatSpace, n_classes: int, device: str = "cpu"):  # noqa: ANN201
    """An ART PyTorchClassifier over attack units, with per-feature clip bounds."""
    from art.estimators.classification import PyTorchClassifier

    lo = space.u_lo[0].cpu().numpy().astype(np.float32)
    hi = np.maximum(space.u_hi[0].cpu().numpy().astype(np.float32), lo + 1e-6)  # ART needs min < max
    clip = (float(lo.min()), float(hi.max())) if np.all(lo == lo.flat[0]) and np.all(hi == hi.flat[0]) else (lo, hi)
    return PyTorchClassifier(
        model=view, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(space.u_lo.shape[1:]),
        nb_classes=n_classes, clip_values=clip, device_type="gpu" if device.startswith("cuda") else "cpu",
    )


def _make_attack(classifier, s: ArtSettings):  # noqa: ANN001, ANN202
    from art.attacks.evasion import (
        AutoProjectedGradientDescent,
        FastGradientMethod,
        ProjectedGradientDescent,
        SquareAttack,
    )

    norm = ART_NORMS[s.norm]
    if s.attack == "fgsm":
        return FastGradientMethod(classifier, norm=norm, eps=s.eps, eps_step=s.eps, batch_size=s.batch_size)
    if s.attack == "pgd":
        return ProjectedGradientDescent(
            classifier, norm=norm, eps=s.eps, eps_step=2.5 * s.eps / s.steps, max_iter=s.steps,
            num_random_init=s.restarts, batch_size=s.batch_size, verbose=False,
        )
    if s.attack in ("apgd-ce", "apgd-dlr"):
        loss = "cross_entropy" if s.attack == "apgd-ce" else "difference_logits_ratio"
        return AutoProjectedGradientDescent(
            classifier, norm=norm, eps=s.eps, eps_step=2 * s.eps, max_iter=s.steps,
            nb_random_init=max(s.restarts, 1), batch_size=s.batch_size, loss_type=loss, verbose=False,
        )
    if s.attack == "square":
        return SquareAttack(classifier, norm=norm, eps=s.eps, max_iter=s.steps, nb_restarts=max(s.restarts, 1),
                            batch_size=s.batch_size, verbose=False)
    raise ValueError(f"unknown ART attack {s.attack!r}")


def run_art(view: LogitView, space: ThreatSpace, u0: torch.Tensor, y: torch.Tensor, n_classes: int,
            settings: ArtSettings, device: str = "cpu") -> torch.Tensor:
    """Adversarial points (attack units, on the CPU) from one ART attack, projected onto the threat space."""
    np.random.seed(settings.seed)  # ART draws its random starts from numpy's global generator
    torch.manual_seed(settings.seed)
    classifier = art_classifier(view, space, n_classes, device)
    attack = _make_attack(classifier, settings)
    x = u0.cpu().numpy().astype(np.float32)
    mask = space.mask[0].cpu().numpy().astype(np.float32)
    labels = y.cpu().numpy()
    kwargs = {} if bool(mask.all()) else {"mask": mask}
    adv = attack.generate(x=x, y=labels, **kwargs)
    u_adv = torch.from_numpy(np.asarray(adv, dtype=np.float32))
    return space.project(u0.cpu(), u_adv, settings.eps, settings.norm)
