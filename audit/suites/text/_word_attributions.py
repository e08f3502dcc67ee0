"""Word attributions of a whole text classifier by two methods, compared, and shown as highlighted text.

- Integrated gradients (audit.suites.text._token_attributions) summed over each word's tokens (token -> word by the
  tokenizer's character offsets; needs a fast tokenizer).
- Word occlusion (audit.suites.text._word_occlusion): the change in P(positive class) when the word is masked.
Both explain the positive class (for a binary model the occlusion's size equals the change in the predicted
class's probability). Agreement per text: Spearman's rank correlation over its words (scipy), and whether both
put the same word first by size.
"""

from __future__ import annotations

import numpy as np

from audit.foundation.text_checks import GENDER_SWAP
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.text._token_attributions import TokenScores
from audit.suites.text._word_occlusion import occlude_words, occlusion_fill
from audit.suites.text._words import Word
from audit.types import Measurement, Table

HIGHLIGHT_TABLE = "text_word_attribution_highlight"  # rendered as highlighted text (audit.reports.text_highlight)
MAX_HIGHLIGHT_WORDS = 60  # per text, so a long text cannot flood the report
_MIN_WORDS = 3  # fewer words: no rank correlation for that text


def ig_by_word(tokenizer, ig: TokenScores, words: list[tuple[Word, ...]]) -> list[np.ndarray] | None:  # noqa: ANN001
    """Per text, the integrated-gradients attribution of each word (the sum over its tokens); None without a fast
    tokenizer (no character offsets) or when its tokenisation differs from the one the attributions were made on."""
    if not getattr(tokenizer, "is_fast", False):
        return None
    length = ig.x.shape[-1]
    enc = tokenizer(list(ig.texts), padding="max_length", truncation=True, max_length=length,
                    return_offsets_mapping=True)
    if [list(ids) for ids in enc["input_ids"]] != ig.x[:, 0].long().tolist():
        return None  # not the tokenisation the attributions were computed on
    out = []
    for row, text_words in enumerate(words):
        starts = np.array([w.start for w in text_words])
        ends = np.array([w.end for w in text_words])
        per_word = np.zeros(len(text_words))
        for position, (start, end) in enumerate(enc["offset_mapping"][row]):
            if end <= start or not len(text_words):  # special tokens and padding
                continue
            hit = np.flatnonzero((starts <= start) & (start < ends))
            if hit.size:
                per_word[hit[0]] += ig.scores[row, position]
        out.append(per_word)
    return out


def word_attributions(ctx: SuiteContext, ig: TokenScores, batch_size: int, resamples: int,
                      examples: int) -> SuiteOutput:
    """Occlusion beside integrated gradients per word: agreement, occlusion's gendered-word share, top words, and a
    few texts as highlighted text."""
    occlusions = occlude_words(ctx, ig.texts, batch_size)
    words = [o.words for o in occlusions]
    occ = [o.effect(ctx.data.positive_class) for o in occlusions]
    ig_words = ig_by_word(ctx.model.encoder.tokenizer, ig, words)
    positive = ctx.data.class_names[ctx.data.positive_class]
    details = {"method": "word occlusion: each word replaced by the tokenizer's mask token in turn",
               "fill": occlusion_fill(ctx) or "(deleted)", "target": f"P({positive})", "rows": len(ig.texts),
               "resamples": resamples}
    measurements = [_gendered_share(ctx, words, occ, details, resamples)]
    tables = [_top_words(words, occ)]
    notes = []
    if ig_words is None:
        notes.append("Occlusion was not compared with integrated gradients: tokens could not be mapped to words (the "
                     "tokenizer is not a fast one with character offsets, or re-tokenising did not reproduce the ids).")
    else:
        measurements += _agreement(ctx, ig_words, occ, details, resamples)
        notes.append(_agreement_note(measurements))
    tables.append(_highlight(words, ig_words, occ, examples, positive))
    if ig_words is not None and examples:
        tables.append(_agreement_table(ig_words, occ, examples))
    return SuiteOutput(measurements=tuple(measurements), tables=tuple(tables), notes=tuple(notes))


def _gendered_share(ctx: SuiteContext, words: list[tuple[Word, ...]], occ: list[np.ndarray], details: dict,
                    resamples: int) -> Measurement:
    from audit.stats import bootstrap_mean_ci

    shares = []
    for text_words, effect in zip(words, occ, strict=True):
        size = np.abs(effect)
        gendered = sum(s for w, s in zip(text_words, size, strict=True) if w.core.lower() in GENDER_SWAP)
        shares.append(gendered / size.sum() if size.sum() > 1e-12 else 0.0)
    values = np.array(shares)
    return Measurement("word_occlusion_share[gendered]", float(values.mean()) if len(values) else float("nan"),
                       bootstrap_mean_ci(values, resamples, ctx.seed), False, len(values),
                       "Share of each text's total occlusion effect (|change in probability| when a word is masked) "
                       "that falls on gendered words, averaged over texts (0 where no word moves the prediction).",
                       details, None if len(values) else "no texts")


def per_text_agreement(ig_words: list[np.ndarray], occ: list[np.ndarray]) -> list[tuple[float | None, int | None]]:
    """Per text: (Spearman's rho of the two methods over its words, whether their largest word is the same); None
    where undefined (fewer than three words or a method constant over them; no word moving the prediction)."""
    from scipy.stats import spearmanr

    out = []
    for a, b in zip(ig_words, occ, strict=True):
        varied = len(a) >= _MIN_WORDS and np.ptp(a) > 0 and np.ptp(b) > 0
        moved = len(a) > 0 and np.abs(b).max() > 0
        out.append((float(spearmanr(a, b).statistic) if varied else None,
                    int(np.argmax(np.abs(a)) == np.argmax(np.abs(b))) if moved else None))
    return out


def _agreement_table(ig_words: list[np.ndarray], occ: list[np.ndarray], examples: int) -> Table:
    rows = tuple((i + 1, len(a), None if rho is None else round(rho, 4),
                  None if top is None else ("yes" if top else "no"))
                 for i, (a, (rho, top)) in enumerate(zip(ig_words, per_text_agreement(ig_words, occ), strict=True))
                 if i < examples)
    return Table(id="text_word_attribution_agreement", title="Occlusion vs integrated gradients, per text",
                 columns=("text", "words", "Spearman rank correlation", "same most important word"), rows=rows,
                 caption="The texts shown highlighted above; n/a where the correlation or the top word is undefined.")


def _agreement(ctx: SuiteContext, ig_words: list[np.ndarray], occ: list[np.ndarray], details: dict,
               resamples: int) -> list[Measurement]:
    from audit.stats import bootstrap_mean_ci, clopper_pearson

    per_text = per_text_agreement(ig_words, occ)
    rhos = [r for r, _ in per_text if r is not None]
    rho, top = np.array(rhos), np.array([t for _, t in per_text if t is not None])
    both = {**details, "compared_with": "integrated gradients summed over each word's tokens",
            "texts_without_variation": len(occ) - len(rhos)}
    return [
        Measurement("attribution_rank_agreement[occlusion~integrated_gradients]",
                    float(rho.mean()) if len(rho) else float("nan"),
                    bootstrap_mean_ci(rho, resamples, ctx.seed) if len(rho) else None, True, len(rho),
                    "Spearman rank correlation between the word attributions of occlusion and of integrated gradients, "
                    f"averaged over texts ({_MIN_WORDS}+ words, both methods varying over the words).", both,
                    None if len(rho) else "no text had words that both methods tell apart"),
        Measurement("top_word_agreement[occlusion~integrated_gradients]",
                    float(top.mean()) if len(top) else float("nan"), clopper_pearson(int(top.sum()), len(top)), True,
                    len(top), "Share of texts where occlusion and integrated gradients give the largest attribution "
                    "(by size) to the same word (texts where occlusion moves the prediction at all).", both,
                    None if len(top) else "no word's occlusion moved the prediction"),
    ]


def _agreement_note(measurements: list[Measurement]) -> str:
    by_name = {m.name: m for m in measurements}
    rho = by_name["attribution_rank_agreement[occlusion~integrated_gradients]"]
    top = by_name["top_word_agreement[occlusion~integrated_gradients]"]
    return (f"Word occlusion and integrated gradients: mean Spearman rank correlation {rho.value:.2f} over {rho.n} "
            f"texts; the same most important word in {top.value:.0%} of {top.n} texts.")


def _top_words(words: list[tuple[Word, ...]], occ: list[np.ndarray]) -> Table:
    totals: dict[str, list[float]] = {}
    for text_words, effect in zip(words, occ, strict=True):
        for w, value in zip(text_words, effect, strict=True):
            totals.setdefault(w.core.lower(), []).append(abs(float(value)))
    ranked = sorted(totals.items(), key=lambda kv: (-np.mean(kv[1]), kv[0]))[:15]
    return Table(id="text_word_occlusion_top", title="Words whose occlusion moves the prediction most",
                 columns=("word", "mean |change in probability|", "occurrences"),
                 rows=tuple((w, round(float(np.mean(v)), 4), len(v)) for w, v in ranked))


def _highlight(words: list[tuple[Word, ...]], ig_words: list[np.ndarray] | None, occ: list[np.ndarray],
               examples: int, positive: str) -> Table:
    methods = ("integrated gradients", "occlusion") if ig_words is not None else ("occlusion",)
    rows = []
    for i, text_words in enumerate(words[:examples]):
        for j, w in enumerate(text_words[:MAX_HIGHLIGHT_WORDS]):
            values = (ig_words[i][j], occ[i][j]) if ig_words is not None else (occ[i][j],)
            rows.append((i + 1, w.text, *(round(float(v), 4) for v in values)))
    return Table(id=HIGHLIGHT_TABLE, title="Word attributions of a few texts",
                 columns=("text", "word", *methods), rows=tuple(rows),
                 caption=f"Positive values push towards {positive}, negative ones away from it. Integrated gradients "
                         f"in logit units, occlusion in probability units; at most {MAX_HIGHLIGHT_WORDS} words a text.")
