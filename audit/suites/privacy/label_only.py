"""Label-only membership inference (Choquette-Choo et al. 2021), from predicted classes alone.

A model tends to keep its answer on training rows under small perturbations more often than on rows it never saw.
Each evaluation row is queried as given and under `queries` Gaussian perturbations of its movable inputs (tabular:
mutable numeric columns, σ in standard deviations; images: every pixel, σ in pixel units, kept in [0, 1]; tokenised
text: inner tokens dropped at a fixed rate instead). The member score ranks rows first by whether the clean answer
is right (Yeom et al.'s correct-prediction rule, the "gap attack", which it equals with zero perturbations), then
by the share of perturbed answers that are right: correct + share / 2. σ is fixed in advance (not tuned on the
evaluated rows, which would bias the AUC upwards); the paper tunes it on shadow data, so this is a conservative
attack. It is small by default (0.02) because rows a model memorised against their neighbours' labels sit in small
islands: large noise leaves those islands and ranks them below rows the model merely generalises to.
"""

from __future__ import annotations

import numpy as np
import torch

from audit.data.types import Dataset
from audit.models.types import ModelUnderAudit, rows_within
from audit.suites.privacy.attacks import AttackOutcome
from audit.suites.privacy.sampling import EvaluationSet
from audit.suites.robustness.threat import build_space

REFERENCE = "Choquette-Choo et al. 2021 (label-only, noise robustness)"
# Input values per model call: a CNN's first activation (channels x the input) then stays under glibc's 32 MB mmap
# threshold; model.predict's default 4,096 MNIST images made a 200 MB block, page-faulted afresh on every query
# (as much system time as the arithmetic).
QUERY_VALUES = 2**18


def query_batch(x: torch.Tensor) -> int:
    """Rows per model call for inputs shaped like x."""
    return rows_within(x[0].numel(), QUERY_VALUES, min_rows=64) if x.shape[0] else 64


def noise_robustness_scores(model: ModelUnderAudit, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor,
                            bounds: tuple[float, float] | None, sigma: float, queries: int,
                            gen: torch.Generator) -> np.ndarray:
    """Per row: 1 if the clean answer equals `y`, plus half the share of `queries` perturbed answers that do;
    `noise` scales the standard-normal perturbation per input value (0 where a value must not move)."""
    truth = y.numpy()
    batch = query_batch(x)
    correct = (model.predict(x, batch) == truth).astype(np.float64)
    hits = np.zeros_like(correct)
    for _ in range(queries):
        noisy = x + sigma * noise * torch.randn(x.shape, generator=gen)
        if bounds is not None:
            noisy = noisy.clamp(*bounds)
        hits += model.predict(noisy, batch) == truth
    return correct + hits / max(queries, 1) / 2


def label_only_attack(model: ModelUnderAudit, data: Dataset, ev: EvaluationSet, sigma: float, queries: int,
                      seed: int) -> AttackOutcome:
    gen = torch.Generator().manual_seed(seed)
    if data.input_kind == "text" and ev.x.dim() == 3:  # token ids: noise on ids means nothing; drop tokens instead
        from audit.models.hf_tokens import TOKEN_DROP_RATE, token_drop_scores

        scores = token_drop_scores(model.predict, ev.x, ev.y, TOKEN_DROP_RATE, queries, gen)
        perturbation: dict = {"perturbation": "inner tokens dropped", "token_drop_rate": TOKEN_DROP_RATE}
    else:
        space = build_space(data, ())
        noise = space.scale * space.mask  # x-units per attack unit, only where an input may move
        bounds = (0.0, 1.0) if data.input_kind == "image" else None
        unit = "pixel units" if data.input_kind == "image" else "standard deviations of each mutable numeric column"
        scores = noise_robustness_scores(model, ev.x, ev.y, noise, bounds, sigma, queries, gen)
        perturbation = {"sigma": sigma, "sigma_unit": unit}
    return AttackOutcome(
        "label_only", "Label-only, noise robustness (Choquette-Choo et al.)", scores, ev.labels, ev.sensitive,
        {"reference": REFERENCE, "rows": int(ev.labels.size), "queries_per_row": queries + 1, **perturbation,
         "input": "predicted classes only",
         "score": "clean answer right (1/0) + half the share of perturbed answers right"},
    )
