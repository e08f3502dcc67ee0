"""Word occlusion: each word of a text occluded in turn, and the change in the model's class probabilities.

The one implementation behind the word attributions of the explainability suite and the word ranking of the
word-substitution attack (TextFooler ranks by deleting words). A word is replaced by the tokenizer's mask token
(else its unknown-word token) rather than deleted: deleting shifts every later position, and a model trained on
texts of one shape changes its prediction whichever word goes (the tiny test models do exactly that), which says
nothing about the word. Only a tokenizer with neither token gets plain deletion; `occlusion_fill` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.suite import SuiteContext
from audit.suites.text._words import Word, rebuild, split_words


def class_probabilities(ctx: SuiteContext, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """(n, n_classes) probabilities of the audited model for raw texts."""
    from audit.suites.text._common import embed

    if not texts:
        return np.zeros((0, ctx.model.n_classes))
    return np.asarray(ctx.model.predict_proba(embed(ctx, texts, batch_size), batch_size), dtype=np.float64)


@dataclass(frozen=True)
class WordOcclusion:
    """One text: its words, its class probabilities, and those with each word left out (one row per word)."""

    words: tuple[Word, ...]
    clean: np.ndarray  # (n_classes,)
    without: np.ndarray  # (n_words, n_classes)

    def effect(self, target: int) -> np.ndarray:
        """Per word: P(target | text) - P(target | text without the word); positive when the word supports it."""
        return self.clean[target] - self.without[:, target] if len(self.words) else np.zeros(0)


def occlusion_fill(ctx: SuiteContext) -> str:
    """What stands in for an occluded word: the mask token, else the unknown-word token, else nothing (deletion)."""
    tokenizer = getattr(ctx.model.encoder, "tokenizer", None)
    for name in ("mask_token", "unk_token"):
        token = getattr(tokenizer, name, None)
        if isinstance(token, str) and token:
            return token
    return ""


def occlude_words(ctx: SuiteContext, texts: Sequence[str], batch_size: int,
                  clean: np.ndarray | None = None) -> list[WordOcclusion]:
    """Word occlusion of every text, all variants predicted together (`clean`: probabilities already known)."""
    fill = occlusion_fill(ctx)
    split = [split_words(t) for t in texts]
    variants = [rebuild(t, words, {i: fill}) for t, words in zip(texts, split, strict=True) for i in range(len(words))]
    probs = class_probabilities(ctx, variants, batch_size)
    clean = class_probabilities(ctx, texts, batch_size) if clean is None else clean
    out, at = [], 0
    for i, words in enumerate(split):
        out.append(WordOcclusion(words, clean[i], probs[at : at + len(words)]))
        at += len(words)
    return out
