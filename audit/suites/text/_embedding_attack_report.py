"""Measurements, chart and validity checks of the embedding-space attack (labelled as such everywhere)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.suite import SuiteContext
from audit.types import Chart, Measurement, Series, ValidityCheck

LABEL = "embedding-l2"


@dataclass(frozen=True)
class AttackReport:
    measurements: tuple[Measurement, ...] = ()
    charts: tuple[Chart, ...] = ()
    validity: tuple[ValidityCheck, ...] = ()
    notes: tuple[str, ...] = ()


def embedding_attack(ctx: SuiteContext, emb: torch.Tensor, y: np.ndarray, eps_grid: tuple[float, ...], steps: int,
                     resamples: int) -> AttackReport:
    """PGD on the head at each eps, with random noise of the same size as the gradient-masking baseline."""
    from audit.stats import bootstrap_mean_ci
    from audit.suites.text._embedding_attack import attack_embeddings

    if not eps_grid:
        return AttackReport()
    if not {"gradients", "logits"} <= ctx.model.capabilities:
        return AttackReport(notes=("The embedding-space attack needs a head with gradients and logits; skipped.",))
    labels = torch.as_tensor(y, dtype=torch.int64)
    details = {"space": "sentence embedding (not text)", "attack": "L2 PGD", "steps": steps, "resamples": resamples,
               "radius": "eps x embedding norm"}
    out, adv_acc, noise_acc = [], [], []
    for i, eps in enumerate(eps_grid):
        result = attack_embeddings(ctx.model.module, emb, labels, eps, steps, ctx.torch_generator(500 + i))
        for kind, hits, store in (("robust_accuracy", result.adversarial_correct, adv_acc),
                                  ("noise_accuracy", result.noise_correct, noise_acc)):
            values = hits.numpy().astype(float)
            store.append((float(values.mean()), bootstrap_mean_ci(values, resamples, ctx.seed)))
            what = "the worst-case change found by a gradient attack" if kind == "robust_accuracy" else "random noise"
            out.append(Measurement(
                f"{kind}[{LABEL},eps={eps:g}]", store[-1][0], store[-1][1], True, len(values),
                f"Share classified correctly when each sentence embedding (not the text) is moved by {what} of "
                f"relative size {eps:g}.", {**details, "eps": eps}))
    return AttackReport(tuple(out), (_chart(eps_grid, adv_acc, noise_acc),), _validity(eps_grid, adv_acc, noise_acc),
                        ("The embedding-space attack moves sentence embeddings directly; no text produces those "
                         "points necessarily, so it bounds the head's fragility rather than showing a text attack.",))


def _validity(eps_grid: tuple[float, ...], adv: list, noise: list) -> tuple[ValidityCheck, ...]:
    stronger = all(a[0] <= n[0] + 1e-9 for a, n in zip(adv, noise, strict=True))
    order = np.argsort(eps_grid)
    values = [adv[i][0] for i in order]
    monotone = all(b <= a + 0.01 for a, b in zip(values, values[1:], strict=False))
    return (
        ValidityCheck("embedding_attack_beats_noise", stronger,
                      "PGD leaves no more rows correct than random noise of the same size at every eps"
                      if stronger else "random noise beat the gradient attack: gradients may be masked"),
        ValidityCheck("embedding_attack_monotone", monotone,
                      "robust accuracy does not rise with a larger eps" if monotone
                      else "robust accuracy rose with eps: the attack did not converge"),
    )


def _chart(eps_grid: tuple[float, ...], adv: list, noise: list) -> Chart:
    order = np.argsort(eps_grid)
    x = tuple(float(eps_grid[i]) for i in order)

    def series(label: str, points: list) -> Series:
        return Series(label, x, tuple(points[i][0] for i in order), tuple(points[i][1][0] for i in order),
                      tuple(points[i][1][1] for i in order))

    return Chart(id="text_embedding_attack", title="Accuracy under an attack in embedding space", kind="line",
                 x_label="eps (relative L2 size of the embedding change)", y_label="accuracy",
                 series=(series("L2 PGD (embedding space)", adv), series("random noise", noise)),
                 caption="The attack perturbs sentence embeddings, not words; 95% bootstrap bands.")
