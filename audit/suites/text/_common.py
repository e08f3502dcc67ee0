"""What the text suites share: a seeded sample of test rows with their text, and text -> prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.errors import SuiteSkipped
from audit.foundation.embeddings import SHARED as EMBEDDINGS
from audit.foundation.embeddings import encode_texts
from audit.suite import SuiteContext

TEXT_COLUMN = "text"
ROW_SALT = 7001  # all text suites audit the same sampled rows


@dataclass(frozen=True)
class TextSample:
    """Sampled test rows: their text, labels, sensitive groups and original fields."""

    texts: tuple[str, ...]
    y: np.ndarray
    groups: pd.DataFrame
    raw: pd.DataFrame

    def __len__(self) -> int:
        return len(self.texts)


def sample_text_rows(ctx: SuiteContext, n_rows: int) -> TextSample:
    """Up to `n_rows` seeded test rows; skips the suite when the model has no encoder or no raw text."""
    raw = ctx.data.test.raw
    if ctx.model.encoder is None:
        raise SuiteSkipped("the model has no text encoder (ModelUnderAudit.encoder); text checks need one")
    if raw is None or TEXT_COLUMN not in raw.columns:
        raise SuiteSkipped("the data set keeps no raw 'text' column for its test rows")
    n = len(ctx.data.test)
    pick = np.arange(n) if n <= n_rows else np.sort(ctx.rng(ROW_SALT).choice(n, size=n_rows, replace=False))
    return TextSample(
        texts=tuple(str(t) for t in raw[TEXT_COLUMN].iloc[pick]),
        y=ctx.data.test.y.numpy()[pick],
        groups=ctx.data.test.sensitive.iloc[pick].reset_index(drop=True),
        raw=raw.iloc[pick].reset_index(drop=True),
    )


def embed(
    ctx: SuiteContext, texts: Sequence[str], batch_size: int = 64, encoder: torch.nn.Module | None = None,
    autocast: bool = True,
) -> torch.Tensor:
    """Sentence embeddings (float32, CPU) from the model's encoder (or `encoder`).

    On CUDA they are computed under bf16 autocast, as the reference model's cached embeddings are,
    unless `autocast` is False (the efficiency suite's exact fp32 baseline).
    """
    chosen = encoder if encoder is not None else ctx.model.encoder
    assert chosen is not None
    if hasattr(chosen, "texts_to_inputs"):  # a whole text classifier (Hugging Face folder): x is its tokenisation
        return chosen.texts_to_inputs(texts)
    bf16 = autocast and ctx.device.startswith("cuda")
    if chosen is ctx.model.encoder:
        _remember_data_rows(ctx, bf16, batch_size)
    return EMBEDDINGS.get_or_encode(chosen, bf16, texts, lambda todo: encode_texts(chosen, todo, batch_size, bf16))


def _remember_data_rows(ctx: SuiteContext, bf16: bool, batch_size: int) -> None:
    """The test (and training) rows' own texts map to their stored `x` (the embeddings the model reads, built under
    bf16 autocast on CUDA), once a fresh encoding of two of them agrees with what is stored; otherwise they are
    encoded anew."""
    encoder = ctx.model.encoder
    key = ctx.data.sha256
    if encoder is None or EMBEDDINGS.seeded(encoder, bf16, key) or bf16 != ctx.device.startswith("cuda"):
        return
    splits = [s for s in (ctx.data.test, ctx.data.train) if s is not None]
    texts = [[] if s.raw is None or TEXT_COLUMN not in s.raw.columns else [str(t) for t in s.raw[TEXT_COLUMN]]
             for s in splits]
    stored = [s.x.float().cpu() for s in splits]
    kept = [i for i, (t, x) in enumerate(zip(texts, stored, strict=True)) if _agrees(encoder, t, x, batch_size, bf16)]
    EMBEDDINGS.remember(encoder, bf16, [t for i in kept for t in texts[i]],
                        torch.cat([stored[i] for i in kept]) if kept else stored[0][:0], key)


def _agrees(encoder: torch.nn.Module, texts: list[str], stored: torch.Tensor, batch_size: int, bf16: bool) -> bool:
    if not texts or stored.dim() != 2 or stored.shape[0] != len(texts):
        return False
    fresh = encode_texts(encoder, texts[:2], batch_size, bf16)
    return fresh.shape == stored[:2].shape and torch.allclose(fresh, stored[:2], atol=5e-3 if bf16 else 1e-4)


def sentence_embeddings(ctx: SuiteContext, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Sentence embeddings of the model's own encoder: the sentence encoder's output, or for a whole text
    classifier the mask-mean-pooled last hidden state of its transformer."""
    if not hasattr(ctx.model.encoder, "texts_to_inputs"):
        return embed(ctx, texts, batch_size)
    x = embed(ctx, texts, batch_size)
    parts = [ctx.model.module.mean_pooled(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, 0)


def predict_texts(ctx: SuiteContext, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, P(positive class)) for raw texts through encoder and head (or the whole classifier)."""
    emb = embed(ctx, texts, batch_size)
    probs = ctx.model.predict_proba(emb, batch_size)
    return probs.argmax(axis=1), probs[:, ctx.data.positive_class]
