"""Text fairness: counterfactual substitution of gendered and racial terms, and SEAT on the encoder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from audit.foundation.seat import SETS_FILE
from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.types import Chart, Measurement, Table, ValidityCheck


@dataclass(frozen=True)
class TextFairnessParams:
    n_rows: int = bounded(2000, min=1)  # test rows whose descriptions are substituted
    resamples: int = bounded(1000, min=1)  # bootstrap resamples for CIs
    # () to skip SEAT; the choices are the tests in audit/foundation/seat_sets.json
    seat_tests: tuple[str, ...] = bounded(("gender_career", "gender_science", "race_pleasantness"),
                                          choices=tuple(json.loads(SETS_FILE.read_text())["tests"]))
    seat_permutations: int = bounded(10_000, min=1)
    seat_resamples: int = bounded(1000, min=1)
    batch_size: int = bounded(64, min=1)
    # extra identity-term pairs, "word/word", swapped one pair at a time beside the built-in gendered pairs
    term_pairs: tuple[str, ...] = ()


class TextFairnessSuite:
    name: ClassVar[str] = "text-fairness"
    pillar: ClassVar[str] = "fairness"
    requires: ClassVar[frozenset[str]] = frozenset({"input:text"})
    description: ClassVar[str] = "Counterfactual gender/race word swaps (prediction flip rates) and SEAT encoder bias"
    Params = TextFairnessParams
    emits: ClassVar[tuple[str, ...]] = ("counterfactual_flip_rate[*]", "counterfactual_score_shift[*]",
                                        "seat_effect_size[*]")

    def params_for(self, preset: str) -> TextFairnessParams:
        if preset == "quick":
            return TextFairnessParams(n_rows=300, resamples=200, seat_permutations=2000, seat_resamples=200)
        return TextFairnessParams()

    def run(self, ctx: SuiteContext, params: TextFairnessParams) -> SuiteOutput:
        from audit.threads import one_thread

        with one_thread():  # many small products: on a busy 2-core machine a second thread spins
            return self._run(ctx, params)

    def _run(self, ctx: SuiteContext, params: TextFairnessParams) -> SuiteOutput:
        from audit.suites.text._common import predict_texts, sample_text_rows
        from audit.suites.text._counterfactual import gender_flips, pair_flips, race_flips, term_pairs

        pairs = term_pairs(params.term_pairs)
        rows = sample_text_rows(ctx, params.n_rows)
        ctx.progress(0, 4, "text fairness: clean predictions")
        clean_pred, clean_p = predict_texts(ctx, rows.texts, params.batch_size)
        ctx.progress(1, 4, "text fairness: gender swaps")
        gender = gender_flips(ctx, rows, clean_pred, clean_p, params.resamples, params.batch_size)
        ctx.progress(2, 4, "text fairness: race swaps")
        race = race_flips(ctx, rows, clean_pred, params.resamples, params.batch_size)
        per_pair = pair_flips(ctx, rows, clean_pred, pairs, params.batch_size)
        ctx.progress(3, 4, "text fairness: SEAT")
        seat = _seat_measurements(ctx, params)
        ctx.progress(4, 4, "text fairness: done")
        measurements = (*gender.measurements, *race.measurements, *per_pair, *seat)
        charts = () if race.heatmap is None else (Chart(
            id="text_race_flip_heatmap", title="Prediction flips when the race word is replaced", kind="heatmap",
            x_label="replaced by", y_label="described as", heatmap=race.heatmap,
            caption="Share of predictions that change for each original -> substituted race word."),)
        validity = tuple(
            ValidityCheck(f"{what}_terms_present", result.changed_fraction >= 0.5,
                          f"{result.changed_fraction:.0%} of the sampled texts contain a {what} word to swap")
            for what, result in (("gender", gender), ("race", race)) if result.measurements)
        absent = [f"No sampled text mentions a {what} word, so {what} swaps were not measured."
                  for what, result in (("gender", gender), ("race", race)) if not result.measurements]
        return SuiteOutput(measurements=measurements, tables=(_table(measurements),), charts=charts,
                           validity=validity, notes=(*_notes(measurements), *absent))


def _seat_measurements(ctx: SuiteContext, params: TextFairnessParams) -> tuple[Measurement, ...]:
    from audit.foundation.seat import load_seat_tests, run_seat
    from audit.suites.text._common import sentence_embeddings

    tests = {t.name: t for t in load_seat_tests()}
    out = []
    for test in (tests[name] for name in params.seat_tests):
        result = run_seat(test, lambda texts: sentence_embeddings(ctx, texts, params.batch_size),
                          params.seat_permutations, params.seat_resamples, ctx.seed)
        x, y, a, b = test.labels
        out.append(Measurement(
            name=f"seat_effect_size[{test.name}]", value=result.effect_size, ci=result.ci, higher_is_better=None,
            n=len(test.x) + len(test.y),
            description=f"How much more the encoder associates {x} with {a} (and {y} with {b}) than the reverse, "
                        "in standard deviations (SEAT; 0 is no association, 0.8 or more is large).",
            details={"test": test.title, "p_value": result.p_value, "permutations": result.permutations,
                     "exact_permutation_test": result.exact, "resamples": params.seat_resamples,
                     "sentences": {"x": len(test.x), "y": len(test.y), "a": len(test.a), "b": len(test.b)},
                     "reference": "May et al. 2019 (SEAT) after Caliskan et al. 2017 (WEAT)"},
        ))
    return tuple(out)


def _table(measurements: tuple[Measurement, ...]) -> Table:
    def fmt(ci: tuple[float, float] | None) -> str:
        return "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"

    return Table(
        id="text_fairness", title="Counterfactual word swaps and encoder association tests",
        columns=("measurement", "value", "95% CI", "rows", "note"),
        rows=tuple((m.name, round(m.value, 4), fmt(m.ci), m.n, m.insufficient_reason or "") for m in measurements),
    )


def _notes(measurements: tuple[Measurement, ...]) -> tuple[str, ...]:
    by_name = {m.name: m for m in measurements}
    notes = []
    for attr, name in (("gendered", "counterfactual_flip_rate[gendered terms]"),
                       ("race", "counterfactual_flip_rate[race]")):
        m = by_name.get(name)
        if m is not None and m.n:
            notes.append(f"Changing only the {attr} words of a description changes the predicted class in "
                         f"{m.value:.1%} of cases (95% CI {m.ci[0]:.1%} to {m.ci[1]:.1%}).")
    for m in measurements:
        if m.name.startswith("seat_") and m.details.get("p_value", 1) < 0.05 and abs(m.value) >= 0.5:
            notes.append(f"The encoder shows a significant association in {m.details['test']}: "
                         f"effect size {m.value:.2f}, p = {m.details['p_value']:.4f}.")
    return tuple(notes)
