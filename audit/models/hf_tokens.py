"""Perturbations of tokenised text rows (x (n, 2, length): token ids and attention mask, as `audit.models.hf` encodes
them) for black-box checks that query the model on nearby inputs, e.g. the label-only membership attack: adding
noise to token ids means nothing, dropping tokens is the text analogue of a small input perturbation."""

from __future__ import annotations

import numpy as np
import torch

TOKEN_DROP_RATE = 0.1  # chance that each inner token is dropped, fixed in advance (never tuned on audited rows)


def drop_tokens(x: torch.Tensor, rate: float, gen: torch.Generator) -> torch.Tensor:
    """Each real token but the first and last of a row ([CLS] and [SEP] for BERT-like tokenizers) dropped with
    chance `rate`; the kept tokens close up to the left and the row is re-padded with its padding id."""
    ids, mask = x[:, 0].long(), x[:, 1] > 0
    n, length = mask.shape
    lengths = mask.sum(dim=1)
    drop = (torch.rand((n, length), generator=gen) < rate) & mask
    drop[:, 0] = False
    drop[torch.arange(n), (lengths - 1).clamp_min(0)] = False
    keep = mask & ~drop
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept positions first, in their order
    pad = ids[~mask][0] if bool((~mask).any()) else torch.tensor(0)
    new_mask = keep.gather(1, order)
    new_ids = torch.where(new_mask, ids.gather(1, order), pad)
    return torch.stack([new_ids, new_mask.long()], dim=1).to(x.dtype)


def token_drop_scores(predict, x: torch.Tensor, y: torch.Tensor, rate: float, queries: int,  # noqa: ANN001
                      gen: torch.Generator) -> np.ndarray:
    """Per row: 1 if `predict(x)` equals `y`, plus half the share of `queries` token-dropped copies answered with
    `y` (the label-only attack's noise-robustness score, with token drops as the perturbation)."""
    truth = y.numpy()
    correct = (predict(x) == truth).astype(np.float64)
    hits = np.zeros_like(correct)
    for _ in range(queries):
        hits += predict(drop_tokens(x, rate, gen)) == truth
    return correct + hits / max(queries, 1) / 2
