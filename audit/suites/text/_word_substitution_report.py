"""Measurements, tables and the self-check of the word-substitution attack, overall and per sensitive group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.suite import SuiteContext, SuiteOutput
from audit.suites.text._common import TextSample
from audit.suites.text._word_substitution import (
    SubstitutionConstraint,
    SubstitutionOutcome,
    model_vocabulary,
    text_scorer,
    word_substitution_attack,
)
from audit.types import Measurement, Table, ValidityCheck

ATTACK = "word-substitution"
_EXAMPLES = 5
_MIN_GROUP_ROWS = 30  # fewer attacked rows in a group: its success rate is marked insufficient (as elsewhere)


def word_substitution(ctx: SuiteContext, rows: TextSample, constraint: SubstitutionConstraint, batch_size: int,
                      resamples: int) -> SuiteOutput:
    """Run the attack on `rows` and report it; a model without a tokenizer or embedding matrix gets a note."""
    vocab = model_vocabulary(ctx)
    if vocab is None or not vocab.words:
        return SuiteOutput(notes=("The word-substitution attack needs the model's tokenizer and input-embedding "
                                  "matrix (for substitute words); this model exposes neither, so it was not run.",))
    encoder, score = text_scorer(ctx, batch_size)
    outcomes = word_substitution_attack(ctx, rows.texts, rows.y, vocab, constraint, batch_size, score)
    details = {"attack": "greedy word substitution (TextFooler-style; own implementation)",
               "constraint": constraint.describe(), "max_words_changed": constraint.max_words_changed,
               "min_word_cosine": constraint.min_word_cosine, "min_sentence_cosine": constraint.min_sentence_cosine,
               "candidates_per_word": constraint.candidates_per_word,
               "substitutes": "nearest whole-word entries of the model's own input-embedding matrix (not WordNet)",
               "sentence_encoder": encoder, "vocabulary_words": len(vocab.words),
               "resamples": resamples, "seed": ctx.seed}
    measurements = [*_overall(ctx, outcomes, rows.y, details, resamples), *_per_group(rows, outcomes, details)]
    return SuiteOutput(measurements=tuple(measurements), tables=(_examples(outcomes),),
                       validity=(_recheck(ctx, outcomes, rows.y, constraint, batch_size),),
                       notes=_notes(outcomes, constraint))


def _overall(ctx: SuiteContext, outcomes: list[SubstitutionOutcome], y: np.ndarray, details: dict,
             resamples: int) -> list[Measurement]:
    from audit.stats import bootstrap_mean_ci, clopper_pearson

    attacked = [o for o in outcomes if o.attacked]
    won = [o for o in attacked if o.success]
    k, n = len(won), len(attacked)
    robust = np.array([o.attacked and not o.success for o in outcomes], dtype=float)
    changed = np.array([len(o.changes) for o in won], dtype=float)
    share = np.array([len(o.changes) / max(o.n_words, 1) for o in won], dtype=float)
    queries = np.array([o.queries for o in attacked], dtype=float)
    none = "no row was classified correctly before the attack" if n == 0 else None
    no_win = "no attack succeeded, so no words were changed" if k == 0 else None
    tag = f"[{ATTACK}]"
    return [
        Measurement(f"attack_success_rate{tag}", k / n if n else float("nan"), clopper_pearson(k, n), False, n,
                    "Share of correctly classified texts whose label the word-substitution attack flipped within its "
                    "stated constraint.", details, none),
        Measurement(f"robust_accuracy{tag}", float(robust.mean()) if len(robust) else float("nan"),
                    clopper_pearson(int(robust.sum()), len(robust)), True, len(robust),
                    "Share of sampled texts still classified correctly after the word-substitution attack.", details,
                    None if len(robust) else "no rows"),
        Measurement(f"words_changed{tag}", float(changed.mean()) if k else float("nan"),
                    bootstrap_mean_ci(changed, resamples, ctx.seed) if k else None, None, k,
                    "Average number of words substituted in the texts whose label flipped.",
                    {**details, "mean_share_of_words_changed": float(share.mean()) if k else None}, no_win),
        Measurement(f"queries{tag}", float(queries.mean()) if n else float("nan"),
                    bootstrap_mean_ci(queries, resamples, ctx.seed) if n else None, None, n,
                    "Average number of texts the model classified per attacked text (the clean text, every "
                    "word left out once, and every candidate substitution).", details, none),
    ]


def _per_group(rows: TextSample, outcomes: list[SubstitutionOutcome], details: dict) -> list[Measurement]:
    from audit.stats import clopper_pearson

    out = []
    attacked = np.array([o.attacked for o in outcomes])
    success = np.array([o.success for o in outcomes])
    for column in rows.groups.columns:
        values = rows.groups[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            member = (values == value) & attacked
            k, n = int((success & member).sum()), int(member.sum())
            out.append(Measurement(
                f"attack_success_rate[{ATTACK},{column}={value}]", k / n if n else float("nan"),
                clopper_pearson(k, n), False, n,
                f"Share of correctly classified texts of the group {column}={value} flipped by the word-substitution "
                "attack.", {**details, "group": f"{column}={value}"},
                None if n >= _MIN_GROUP_ROWS else f"only {n} attacked rows in the group (under {_MIN_GROUP_ROWS})"))
    return out


def _examples(outcomes: list[SubstitutionOutcome]) -> Table:
    won = [o for o in outcomes if o.success][:_EXAMPLES]
    return Table(
        id="text_word_substitution_examples", title="Word-substitution attack: texts whose label flipped",
        columns=("original text", "attacked text", "substitutions", "P(true class) before", "P(true class) after"),
        rows=tuple((o.original, o.adversarial, ", ".join(f"{a} → {b}" for a, b in o.changes),
                    round(o.p_true_before, 4), round(o.p_true_after, 4)) for o in won),
        caption="The first texts (in sample order) whose predicted label the attack flipped.")


def _recheck(ctx: SuiteContext, outcomes: list[SubstitutionOutcome], y: np.ndarray,
             constraint: SubstitutionConstraint, batch_size: int) -> ValidityCheck:
    """Classify every successful attacked text afresh: its label must differ from the truth, within the budget."""
    from audit.suites.text._word_occlusion import class_probabilities

    won = [i for i, o in enumerate(outcomes) if o.success]
    preds = class_probabilities(ctx, [outcomes[i].adversarial for i in won], batch_size).argmax(1)
    flipped = all(int(p) != int(y[i]) for p, i in zip(preds, won, strict=True))
    within = all(len(outcomes[i].changes) <= constraint.budget(outcomes[i].n_words) for i in won)
    similar = all(outcomes[i].sentence_cosine >= constraint.min_sentence_cosine for i in won)
    ok = flipped and within and similar
    return ValidityCheck("word_substitution_flips_confirmed", ok,
                         f"all {len(won)} attacked texts counted as flipped are misclassified when classified afresh, "
                         "within the word budget and the sentence-similarity bound" if ok else
                         "an attacked text counted as flipped is not misclassified when classified afresh, or breaks "
                         "the stated constraint: the attack's bookkeeping is wrong")


def _notes(outcomes: Sequence[SubstitutionOutcome], constraint: SubstitutionConstraint) -> tuple[str, ...]:
    attacked = [o for o in outcomes if o.attacked]
    without = sum(not o.had_candidates for o in attacked)
    notes = [f"Word-substitution attack (TextFooler-style): {constraint.describe()}. Nearest neighbours in a "
             "model's input embeddings include related words and some antonyms (good/bad), unlike TextFooler's "
             "counter-fitted synonym vectors: read the flipped examples before calling them meaning-preserving."]
    if without:
        notes.append(f"{without} of {len(attacked)} attacked texts had no word with a substitute within the word "
                     "constraint; they count as not flipped.")
    return tuple(notes)
