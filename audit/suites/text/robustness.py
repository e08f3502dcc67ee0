"""Text robustness: accuracy under character typos and word drops at several rates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.types import Chart, Measurement, Series, Table

if TYPE_CHECKING:
    from audit.suites.text._common import TextSample

PERTURBATIONS = ("typos", "word_drops")


@dataclass(frozen=True)
class TextRobustnessParams:
    n_rows: int = bounded(1000, min=1)
    typo_rates: tuple[float, ...] = bounded((0.05, 0.1, 0.2), min=0.0, max=1.0)  # chance a word gets a char edit
    drop_rates: tuple[float, ...] = bounded((0.05, 0.1, 0.2), min=0.0, max=1.0)  # chance that a word is dropped
    # embedding-space attack radius, x embedding norm
    embedding_eps: tuple[float, ...] = bounded((0.02, 0.05, 0.1, 0.2), min=0.0)
    attack_steps: int = bounded(20, min=1)
    # word-substitution attack (TextFooler-style): rows attacked and its constraint, stated in the scorecard
    substitution_rows: int = bounded(100, min=0)  # 0: not run
    max_words_changed: float = bounded(0.2, min=0.0, max=1.0)  # share of a text's words (at least one)
    min_word_cosine: float = bounded(0.5, min=-1.0, max=1.0)  # substitute vs word, input embeddings
    min_sentence_cosine: float = bounded(0.8, min=-1.0, max=1.0)  # attacked vs original text, sentence embeddings
    candidates_per_word: int = bounded(8, min=1)
    resamples: int = bounded(1000, min=1)
    batch_size: int = bounded(64, min=1)


class TextRobustnessSuite:
    name: ClassVar[str] = "text-robustness"
    pillar: ClassVar[str] = "robustness"
    requires: ClassVar[frozenset[str]] = frozenset({"input:text"})
    description: ClassVar[str] = ("Accuracy of the text model under character typos and word drops at several rates, "
                                  "an embedding-space attack and a word-substitution attack")
    Params = TextRobustnessParams
    emits: ClassVar[tuple[str, ...]] = ("accuracy[*]", "accuracy_drop[*]", "prediction_flip_rate[*]",
                                        "robust_accuracy[*]", "noise_accuracy[*]", "attack_success_rate[*]",
                                        "words_changed[*]", "queries[*]")

    def params_for(self, preset: str) -> TextRobustnessParams:
        if preset == "quick":
            return TextRobustnessParams(n_rows=200, typo_rates=(0.1,), drop_rates=(0.1,), embedding_eps=(0.05,),
                                        attack_steps=10, substitution_rows=10, resamples=200)
        return TextRobustnessParams()

    def run(self, ctx: SuiteContext, params: TextRobustnessParams) -> SuiteOutput:
        from audit.threads import one_thread

        with one_thread():  # many small products: on a busy 2-core machine a second thread spins
            return self._run(ctx, params)

    def _run(self, ctx: SuiteContext, params: TextRobustnessParams) -> SuiteOutput:
        from audit.foundation.text_checks import add_typos, drop_words
        from audit.stats import bootstrap_mean_ci
        from audit.suites.text._common import embed, predict_texts, sample_text_rows
        from audit.suites.text._embedding_attack_report import embedding_attack

        rows = sample_text_rows(ctx, params.n_rows)
        clean_emb = embed(ctx, rows.texts, params.batch_size)
        clean_pred = ctx.model.predict(clean_emb, params.batch_size)
        clean_correct = (clean_pred == rows.y).astype(float)
        clean = Measurement(
            name="accuracy[clean]", value=float(clean_correct.mean()),
            ci=bootstrap_mean_ci(clean_correct, params.resamples, ctx.seed), higher_is_better=True, n=len(rows),
            description="Share of sampled test descriptions classified correctly, without perturbation.",
            details={"resamples": params.resamples})
        runs = [(kind, rate) for kind, rates in zip(PERTURBATIONS, (params.typo_rates, params.drop_rates), strict=False)
                for rate in rates]
        perturb = {"typos": add_typos, "word_drops": drop_words}
        measurements = [clean]
        for step, (kind, rate) in enumerate(runs):
            ctx.progress(step, len(runs), f"text robustness: {kind} at {rate}")
            rng = ctx.rng(1000 + step)
            texts = [perturb[kind](t, rate, rng) for t in rows.texts]
            pred, _ = predict_texts(ctx, texts, params.batch_size)
            measurements += _perturbed(ctx, kind, rate, pred, clean_pred, rows.y, params.resamples)
        ctx.progress(len(runs), len(runs) + 1, "text robustness: embedding-space attack")
        attack = embedding_attack(ctx, clean_emb, rows.y, params.embedding_eps, params.attack_steps, params.resamples,
                                  params.batch_size)
        measurements += attack.measurements
        ctx.progress(len(runs) + 1, len(runs) + 1, "text robustness: word-substitution attack")
        words = _word_substitution(ctx, rows, params)
        return SuiteOutput(measurements=(*measurements, *words.measurements),
                           tables=(_table(measurements), *words.tables),
                           charts=(_chart(measurements, params), *attack.charts),
                           validity=(*attack.validity, *words.validity),
                           notes=(*_notes(measurements), *attack.notes, *words.notes))


def _word_substitution(ctx: SuiteContext, rows: TextSample, params: TextRobustnessParams) -> SuiteOutput:
    """The word-substitution attack on the first `substitution_rows` of the sampled rows."""
    from audit.suites.text._common import TextSample
    from audit.suites.text._word_substitution import SubstitutionConstraint
    from audit.suites.text._word_substitution_report import word_substitution

    if params.substitution_rows == 0 or len(rows) == 0:
        return SuiteOutput()
    n = min(params.substitution_rows, len(rows))
    subset = TextSample(rows.texts[:n], rows.y[:n], rows.groups.iloc[:n].reset_index(drop=True),
                        rows.raw.iloc[:n].reset_index(drop=True))
    constraint = SubstitutionConstraint(params.max_words_changed, params.min_word_cosine, params.min_sentence_cosine,
                                        params.candidates_per_word)
    return word_substitution(ctx, subset, constraint, params.batch_size, params.resamples)


def _perturbed(ctx: SuiteContext, kind: str, rate: float, pred: np.ndarray, clean_pred: np.ndarray,
               y: np.ndarray, resamples: int) -> list[Measurement]:
    from audit.stats import bootstrap_mean_ci, clopper_pearson

    correct = (pred == y).astype(float)
    drop = (clean_pred == y).astype(float) - correct  # paired per row
    flips = int((pred != clean_pred).sum())
    what = "one character edit per word" if kind == "typos" else "words dropped"
    details = {"perturbation": kind, "rate": rate, "resamples": resamples, "seed": ctx.seed}
    tag = f"[{kind},rate={rate:g}]"
    return [
        Measurement(f"accuracy{tag}", float(correct.mean()), bootstrap_mean_ci(correct, resamples, ctx.seed), True,
                    len(y), f"Share classified correctly when {rate:.0%} of words get {what}.", details),
        Measurement(f"accuracy_drop{tag}", float(drop.mean()), bootstrap_mean_ci(drop, resamples, ctx.seed), False,
                    len(y), f"Loss of accuracy (paired, same rows) when {rate:.0%} of words get {what}.", details),
        Measurement(f"prediction_flip_rate{tag}", flips / len(y), clopper_pearson(flips, len(y)), False, len(y),
                    f"Share of predictions that change when {rate:.0%} of words get {what}.", details),
    ]


def _table(measurements: list[Measurement]) -> Table:
    return Table(
        id="text_robustness", title="Accuracy under text perturbations",
        columns=("measurement", "value", "95% CI low", "95% CI high", "rows"),
        rows=tuple((m.name, round(m.value, 4), round(m.ci[0], 4), round(m.ci[1], 4), m.n)
                   for m in measurements if m.ci is not None),
    )


def _chart(measurements: list[Measurement], params: TextRobustnessParams) -> Chart:
    by_name = {m.name: m for m in measurements}
    clean = by_name["accuracy[clean]"]
    series = []
    for kind, rates in zip(PERTURBATIONS, (params.typo_rates, params.drop_rates), strict=False):
        points = [clean] + [by_name[f"accuracy[{kind},rate={r:g}]"] for r in rates]
        series.append(Series(label=kind.replace("_", " "), x=(0.0, *map(float, rates)),
                             y=tuple(m.value for m in points), lo=tuple(m.ci[0] for m in points),
                             hi=tuple(m.ci[1] for m in points)))
    return Chart(id="text_robustness_curve", title="Accuracy vs perturbation rate", kind="line",
                 x_label="share of words perturbed", y_label="accuracy", series=tuple(series),
                 caption="95% bootstrap bands; rate 0 is the unperturbed text.")


def _notes(measurements: list[Measurement]) -> tuple[str, ...]:
    drops = [m for m in measurements if m.name.startswith("accuracy_drop")]  # text perturbations only
    if not drops:
        return ()
    worst = max(drops, key=lambda m: m.value)
    return (f"The largest accuracy loss from typos or dropped words is {worst.value:.1%} ({worst.name}).",)
