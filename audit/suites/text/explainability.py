"""Text explainability: attribution to the serialised fields by occlusion (each field left out in turn)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.types import Chart, Measurement, Series, Table, ValidityCheck


@dataclass(frozen=True)
class TextExplainabilityParams:
    n_rows: int = bounded(500, min=1)
    resamples: int = bounded(1000, min=1)
    batch_size: int = bounded(64, min=1)
    # whole text classifiers (Hugging Face folders): integrated gradients over input token embeddings
    ig_rows: int = bounded(100, min=1)
    ig_steps: int = bounded(128, min=2)  # fewer leaves the attributions incomplete (a validity check says so)
    highlight_examples: int = bounded(5, min=0)  # texts shown with each word highlighted by its attribution


class TextExplainabilitySuite:
    name: ClassVar[str] = "text-explainability"
    pillar: ClassVar[str] = "explainability"
    requires: ClassVar[frozenset[str]] = frozenset({"input:text"})
    description: ClassVar[str] = ("Which words or described fields drive the text model: occlusion of each serialised "
                                  "field, or of each word beside integrated gradients for a whole text classifier")
    Params = TextExplainabilityParams
    emits: ClassVar[tuple[str, ...]] = ("field_importance[*]", "field_direction[*]", "token_attribution_share[*]",
                                        "ig_completeness_error", "word_occlusion_share[*]",
                                        "attribution_rank_agreement[*]", "top_word_agreement[*]")

    def params_for(self, preset: str) -> TextExplainabilityParams:
        if preset == "quick":
            return TextExplainabilityParams(n_rows=100, resamples=200)
        return TextExplainabilityParams()

    def run(self, ctx: SuiteContext, params: TextExplainabilityParams) -> SuiteOutput:
        from audit.threads import one_thread

        with one_thread():  # many small products: on a busy 2-core machine a second thread spins
            return self._run(ctx, params)

    def _run(self, ctx: SuiteContext, params: TextExplainabilityParams) -> SuiteOutput:
        from audit.errors import SuiteSkipped
        from audit.foundation.serialise import FIELDS, serialise_frame
        from audit.suites.text._common import predict_texts, sample_text_rows

        if hasattr(ctx.model.module, "embedding_view"):
            return _whole_classifier(ctx, params)
        rows = sample_text_rows(ctx, params.n_rows)
        fields = [f for f in FIELDS if f in rows.raw.columns or f == "capital"]
        if len(fields) < 3:
            raise SuiteSkipped("the raw rows are not Adult-style fields the serialiser describes")
        reproduced = serialise_frame(rows.raw)
        same = float(np.mean([a == b for a, b in zip(reproduced, rows.texts, strict=True)]))
        _, clean_p = predict_texts(ctx, reproduced, params.batch_size)
        measurements = []
        for step, field in enumerate(fields):
            ctx.progress(step, len(fields), f"text explainability: without {field}")
            _, p = predict_texts(ctx, serialise_frame(rows.raw, omit=[field]), params.batch_size)
            measurements += _field_measurements(ctx, field, clean_p - p, params.resamples)
        ctx.progress(len(fields), len(fields), "text explainability: done")
        validity = (ValidityCheck(
            "serialisation_reproduces_text", same == 1.0,
            f"re-serialising the raw fields reproduces {same:.1%} of the stored descriptions "
            "(occlusion compares against those re-serialised texts)"),)
        return SuiteOutput(measurements=tuple(measurements), tables=(_table(measurements),),
                           charts=(_chart(measurements),), validity=validity, notes=_notes(measurements))


def _whole_classifier(ctx: SuiteContext, params: TextExplainabilityParams) -> SuiteOutput:
    """Integrated gradients per token, and word occlusion beside them (compared, and shown as highlighted text)."""
    from audit.suite import merge_outputs
    from audit.suites.text._common import sample_text_rows
    from audit.suites.text._token_attributions import ig_token_scores, token_attributions
    from audit.suites.text._word_attributions import word_attributions

    sampled = sample_text_rows(ctx, params.ig_rows)
    ctx.progress(0, 2, "text explainability: integrated gradients")
    ig = ig_token_scores(ctx, sampled.texts, params.ig_steps)
    ctx.progress(1, 2, "text explainability: word occlusion")
    words = word_attributions(ctx, ig, params.batch_size, params.resamples, params.highlight_examples)
    ctx.progress(2, 2, "text explainability: done")
    return merge_outputs([token_attributions(ctx, ig, params.resamples), words])


def _field_measurements(ctx: SuiteContext, field: str, effect: np.ndarray, resamples: int) -> list[Measurement]:
    """Mean |change| (importance) and mean signed change (direction) of P(>50K) when `field` is left out."""
    from audit.stats import bootstrap_mean_ci

    details = {"method": "occlusion: the field's phrase is left out of the description", "resamples": resamples}
    magnitude = np.abs(effect)
    return [
        Measurement(f"field_importance[{field}]", float(magnitude.mean()),
                    bootstrap_mean_ci(magnitude, resamples, ctx.seed), None, int(effect.size),
                    f"Average change in the predicted chance of >50K income when the {field} phrase is left out "
                    "of a description.", details),
        Measurement(f"field_direction[{field}]", float(effect.mean()), bootstrap_mean_ci(effect, resamples, ctx.seed),
                    None, int(effect.size),
                    f"Average push of the {field} phrase towards >50K income (positive) or away from it (negative).",
                    details),
    ]


def _importances(measurements: list[Measurement]) -> list[Measurement]:
    return sorted((m for m in measurements if m.name.startswith("field_importance")), key=lambda m: -m.value)


def _table(measurements: list[Measurement]) -> Table:
    direction = {m.name.split("[")[1]: m.value for m in measurements if m.name.startswith("field_direction")}
    rows = tuple((m.name.split("[")[1].rstrip("]"), round(m.value, 4), round(m.ci[0], 4), round(m.ci[1], 4),
                  round(direction[m.name.split("[")[1]], 4)) for m in _importances(measurements))
    return Table(id="text_field_importance", title="Field attribution by occlusion",
                 columns=("field", "importance", "95% CI low", "95% CI high", "mean push towards >50K"), rows=rows)


def _chart(measurements: list[Measurement]) -> Chart:
    ranked = _importances(measurements)
    series = tuple(Series(label=m.name.split("[")[1].rstrip("]"), x=(float(i),), y=(m.value,), lo=(m.ci[0],),
                          hi=(m.ci[1],)) for i, m in enumerate(ranked))
    return Chart(id="text_field_importance", title="Field importance (occlusion)", kind="bar",
                 x_label="field", y_label="mean |change in P(>50K)|", series=series,
                 caption="Each bar: average absolute change in the predicted probability when the field is left out.")


def _notes(measurements: list[Measurement]) -> tuple[str, ...]:
    ranked = _importances(measurements)
    top = ", ".join(m.name.split("[")[1].rstrip("]") for m in ranked[:3])
    notes = [f"The fields that move the prediction most are: {top}."]
    for m in ranked:
        field = m.name.split("[")[1].rstrip("]")
        if field in ("sex", "race", "relationship") and ranked.index(m) < 5:
            notes.append(f"The sensitive or gender-revealing field '{field}' is among the five most influential.")
    return tuple(notes)
