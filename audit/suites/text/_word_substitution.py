"""A word-substitution attack in the manner of TextFooler (Jin et al., 2020), on any text model with a tokenizer and
an input-embedding matrix; our own implementation.

1. Rank the words of each correctly classified text by occlusion importance: the drop in the probability of the
   true class when the word is masked (audit.suites.text._word_occlusion; TextFooler deletes the word instead).
2. In that order, try each word's substitutes: the nearest whole-word entries of the model's own input-embedding
   matrix with cosine >= `min_word_cosine` (no WordNet: PyPI has no package that ships English WordNet data inside
   its wheel, and nltk's corpora download from the network at run time).
3. Keep only the candidate texts whose sentence embedding has cosine >= `min_sentence_cosine` with the original's
   (see `sentence_similarity_encoder`). If one flips the label, take the most similar such text and stop; otherwise
   keep the candidate that lowers the true class's probability most (if it does, and a change is left in the budget
   after it: a last change that does not flip cannot help) and go on, until `max_words_changed` of the text's words
   have been changed or no word is left.

All rows advance one word per round, so the candidates of every row are predicted in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from audit.suite import SuiteContext
from audit.suites.text._word_occlusion import occlude_words
from audit.suites.text._words import WholeWordVocabulary, Word, rebuild, whole_word_vocabulary, with_core


@dataclass(frozen=True)
class SubstitutionConstraint:
    max_words_changed: float  # share of a text's words (at least one word)
    min_word_cosine: float  # substitute vs original word, input embeddings
    min_sentence_cosine: float  # attacked vs original text, sentence embeddings of the model's encoder
    candidates_per_word: int

    def budget(self, n_words: int) -> int:
        return max(1, int(np.floor(self.max_words_changed * n_words + 1e-9)))

    def describe(self) -> str:
        return (f"at most {self.max_words_changed:.0%} of a text's words changed (at least one); each substitute among "
                f"the {self.candidates_per_word} nearest whole words in the model's input-embedding matrix with cosine "
                f">= {self.min_word_cosine:g}; attacked text's sentence embedding at cosine >= "
                f"{self.min_sentence_cosine:g} from the original's")


@dataclass(frozen=True)
class SubstitutionOutcome:
    """One row. `attacked`: classified correctly before the attack (only those are attacked)."""

    attacked: bool
    success: bool
    original: str
    adversarial: str
    changes: tuple[tuple[str, str], ...]  # (original word, substitute) in the order they were made
    n_words: int
    queries: int  # texts the model classified for this row, the clean one included
    sentence_cosine: float
    p_true_before: float
    p_true_after: float
    had_candidates: bool  # some word had a substitute within the word constraint


@dataclass
class _Row:
    text: str
    words: tuple[Word, ...]
    label: int
    order: list[int]
    budget: int
    p_true: float
    queries: int
    edits: dict[int, str] = field(default_factory=dict)
    changes: list[tuple[str, str]] = field(default_factory=list)
    similarity: float = 1.0
    success: bool = False
    had_candidates: bool = False


def model_vocabulary(ctx: SuiteContext) -> WholeWordVocabulary | None:
    """Whole-word entries of the model's tokenizer with their input embeddings, or None when the model exposes
    neither (a model without a tokenizer or an embedding matrix cannot be attacked this way)."""
    tokenizer = getattr(ctx.model.encoder, "tokenizer", None)
    matrix = _input_embedding_matrix(ctx)
    if tokenizer is None or matrix is None or not hasattr(tokenizer, "get_vocab"):
        return None
    return whole_word_vocabulary(tokenizer, matrix)


def _input_embedding_matrix(ctx: SuiteContext) -> torch.Tensor | None:
    module, encoder = ctx.model.module, ctx.model.encoder
    if hasattr(module, "input_embeddings"):  # a whole Hugging Face classifier
        return module.input_embeddings().weight
    try:  # a sentence-transformers encoder (the reference model): its transformer's word embeddings
        return encoder[0].auto_model.get_input_embeddings().weight
    except (TypeError, IndexError, AttributeError, KeyError):
        return None


Scorer = Callable[[Sequence[str]], tuple[np.ndarray, torch.Tensor]]  # texts -> (class probabilities, sentence vectors)


def text_scorer(ctx: SuiteContext, batch_size: int) -> tuple[str, Scorer]:
    """(what the sentence vectors are, texts -> (class probabilities, sentence vectors)), one encoding per text.

    A whole classifier: the mean of its input token embeddings over the real tokens. Not its last hidden state: that
    carries the decision itself (on a model that decides by one word, flipping that word turns the mean-pooled last
    hidden state to a cosine near -1), so it would forbid exactly the flips the attack looks for. A sentence encoder
    with a separate head (the reference model): its sentence embeddings, as TextFooler uses a sentence encoder.
    """
    from audit.suites.text._common import embed

    module = ctx.model.module
    if not hasattr(module, "input_embeddings"):
        def sentence_model(texts: Sequence[str]) -> tuple[np.ndarray, torch.Tensor]:
            emb = embed(ctx, texts, batch_size)
            return np.asarray(ctx.model.predict_proba(emb, batch_size), dtype=np.float64), emb

        return "the model's sentence encoder", sentence_model
    table = module.input_embeddings()

    @torch.no_grad()
    def whole_classifier(texts: Sequence[str]) -> tuple[np.ndarray, torch.Tensor]:
        x = embed(ctx, texts, batch_size)
        parts = []
        for start in range(0, len(x), batch_size):
            ids, mask = x[start : start + batch_size, 0].long(), x[start : start + batch_size, 1:2].transpose(1, 2)
            vectors = table(ids.to(table.weight.device)).float().cpu()
            parts.append((vectors * mask).sum(1) / mask.sum(1).clamp_min(1.0))
        vectors = torch.cat(parts) if parts else torch.zeros(0, table.weight.shape[1])
        return np.asarray(ctx.model.predict_proba(x, batch_size), dtype=np.float64), vectors

    return "mean of the classifier's input token embeddings over the text's tokens", whole_classifier


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def word_substitution_attack(ctx: SuiteContext, texts: Sequence[str], y: np.ndarray, vocab: WholeWordVocabulary,
                             constraint: SubstitutionConstraint, batch_size: int, score: Scorer
                             ) -> list[SubstitutionOutcome]:
    """The attack on every text (rows classified wrongly to begin with are left as they are)."""
    clean, original = score(texts) if len(texts) else (np.zeros((0, ctx.model.n_classes)), torch.zeros(0, 1))
    original = _unit(original)
    correct = clean.argmax(1) == y
    occlusions = occlude_words(ctx, texts, batch_size, clean)
    rows = []
    for i, (text, occ) in enumerate(zip(texts, occlusions, strict=True)):
        importance = occ.effect(int(y[i]))
        ranked = np.argsort(-importance, kind="stable")
        order = [int(j) for j in ranked if vocab.token_id(occ.words[j].core) is not None]
        rows.append(_Row(text, occ.words, int(y[i]), order if correct[i] else [], constraint.budget(len(occ.words)),
                         float(clean[i, y[i]]), 1 + len(occ.words)))
    active = [i for i in range(len(rows)) if rows[i].order]
    while active:
        active = _round(rows, active, original, vocab, constraint, score)
    return [_outcome(row, bool(correct[i]), float(clean[i, row.label])) for i, row in enumerate(rows)]


def _round(rows: list[_Row], active: list[int], original: torch.Tensor, vocab: WholeWordVocabulary,
           constraint: SubstitutionConstraint, score: Scorer) -> list[int]:
    """Each active row tries its next word; returns the rows still active."""
    trials: list[tuple[int, int, list[str], list[str]]] = []  # row, word index, substitutes, candidate texts
    for r in active:
        row = rows[r]
        while row.order:
            j = row.order.pop(0)
            subs = [w for w, _ in vocab.neighbours(row.words[j].core, constraint.candidates_per_word,
                                                   constraint.min_word_cosine)]
            if subs:
                row.had_candidates = True
                texts = [rebuild(row.text, row.words, {**row.edits, j: with_core(row.words[j], s)}) for s in subs]
                trials.append((r, j, subs, texts))
                break
    flat = [t for *_, texts in trials for t in texts]
    if not flat:
        return []
    probs, vectors = score(flat)
    sims = (_unit(vectors) * torch.cat([original[[r] * len(t)] for r, _, _, t in trials])).sum(1).numpy()
    at = 0
    for r, j, subs, texts in trials:
        _decide(rows[r], j, subs, texts, probs[at : at + len(texts)], sims[at : at + len(texts)], constraint)
        at += len(texts)
    return [r for r in active if not rows[r].success and rows[r].order and len(rows[r].changes) < rows[r].budget]


def _decide(row: _Row, j: int, subs: list[str], texts: list[str], probs: np.ndarray, sims: np.ndarray,
            constraint: SubstitutionConstraint) -> None:
    row.queries += len(texts)
    allowed = sims >= constraint.min_sentence_cosine
    flips = allowed & (probs.argmax(1) != row.label)
    if flips.any():
        best = int(np.argmax(np.where(flips, sims, -np.inf)))
        row.success = True
    else:
        if len(row.changes) + 1 >= row.budget:
            return
        p_true = np.where(allowed, probs[:, row.label], np.inf)
        best = int(np.argmin(p_true))
        if not p_true[best] < row.p_true:
            return
    row.edits[j] = with_core(row.words[j], subs[best])
    row.changes.append((row.words[j].core, subs[best]))
    row.p_true = float(probs[best, row.label])
    row.similarity = float(sims[best])


def _outcome(row: _Row, attacked: bool, p_before: float) -> SubstitutionOutcome:
    adversarial = rebuild(row.text, row.words, row.edits) if row.edits else row.text
    return SubstitutionOutcome(attacked, row.success, row.text, adversarial, tuple(row.changes), len(row.words),
                               row.queries, row.similarity, p_before, row.p_true, row.had_candidates)
