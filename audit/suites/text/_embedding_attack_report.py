"""Measurements, chart and validity checks of the embedding-space attack (labelled as such everywhere)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.suite import SuiteContext
from audit.suites.text._embedding_attack import EmbeddingAttackResult, attack_embeddings
from audit.types import Chart, Measurement, Series, ValidityCheck

LABEL = "embedding-l2"
INPUTS_EMBEDS_LABEL = "inputs-embeds-l2"


@dataclass(frozen=True)
class AttackReport:
    measurements: tuple[Measurement, ...] = ()
    charts: tuple[Chart, ...] = ()
    validity: tuple[ValidityCheck, ...] = ()
    notes: tuple[str, ...] = ()


def embedding_attack(ctx: SuiteContext, emb: torch.Tensor, y: np.ndarray, eps_grid: tuple[float, ...], steps: int,
                     resamples: int, chunk: int = 64) -> AttackReport:
    """PGD on the head at each eps, with random noise of the same size as the gradient-masking baseline."""
    from audit.stats import bootstrap_mean_ci

    if not eps_grid:
        return AttackReport()
    if not {"gradients", "logits"} <= ctx.model.capabilities:
        return AttackReport(notes=("The embedding-space attack needs a head with gradients and logits; skipped.",))
    labels = torch.as_tensor(y, dtype=torch.int64)
    space = _space(ctx)
    details = {"space": space.details, "attack": "L2 PGD", "steps": steps, "resamples": resamples,
               "radius": "eps x embedding norm"}
    out, adv_acc, noise_acc = [], [], []
    for i, eps in enumerate(eps_grid):
        result = _attack(ctx, emb, labels, eps, steps, ctx.torch_generator(500 + i), chunk)
        for kind, hits, store in (("robust_accuracy", result.adversarial_correct, adv_acc),
                                  ("noise_accuracy", result.noise_correct, noise_acc)):
            values = hits.numpy().astype(float)
            store.append((float(values.mean()), bootstrap_mean_ci(values, resamples, ctx.seed)))
            what = "the worst-case change found by a gradient attack" if kind == "robust_accuracy" else "random noise"
            out.append(Measurement(
                f"{kind}[{space.label},eps={eps:g}]", store[-1][0], store[-1][1], True, len(values),
                f"Share classified correctly when {space.what} (not the text) is moved by {what} of "
                f"relative size {eps:g}.", {**details, "eps": eps}))
    return AttackReport(tuple(out), (_chart(eps_grid, adv_acc, noise_acc),), _validity(eps_grid, adv_acc, noise_acc),
                        (f"The embedding-space attack moves {space.what} directly; no text produces those points "
                         "necessarily, so it bounds the model's fragility rather than showing a text attack.",))


@dataclass(frozen=True)
class AttackSpace:
    label: str  # in measurement names
    details: str
    what: str  # "each ..." in sentences


SENTENCE_SPACE = AttackSpace(LABEL, "sentence embedding (not text)", "each sentence embedding")
INPUTS_EMBEDS_SPACE = AttackSpace(INPUTS_EMBEDS_LABEL, "input token embeddings of the whole classifier "
                                  "(inputs_embeds; white-box, not text)", "each text's input token embeddings")


def _space(ctx: SuiteContext) -> AttackSpace:
    return INPUTS_EMBEDS_SPACE if hasattr(ctx.model.module, "embedding_view") else SENTENCE_SPACE


def _attack(ctx: SuiteContext, emb: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
            generator: torch.Generator, chunk: int) -> EmbeddingAttackResult:
    """The attack on the head over sentence embeddings, or (a whole text classifier) on its inputs_embeds view,
    `chunk` texts at a time."""
    module = ctx.model.module
    view = getattr(module, "embedding_view", None)
    if view is None:
        return attack_embeddings(module, emb, labels, eps, steps, generator)
    parts = []
    for start in range(0, len(emb), chunk):
        head, flat = view(emb[start : start + chunk])
        parts.append(attack_embeddings(head, flat, labels[start : start + chunk], eps, steps, generator))
    return EmbeddingAttackResult(eps, torch.cat([p.adversarial_correct for p in parts]),
                                 torch.cat([p.noise_correct for p in parts]))


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
