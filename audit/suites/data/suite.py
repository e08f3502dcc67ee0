"""DataSuite: representation, label bias, quality, leakage, label errors, shift and generalisation."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar

from audit.stats import derive_seed
from audit.suite import SuiteContext, SuiteOutput, merge_outputs
from audit.suites.data.params import DataParams
from audit.suites.data.sections import NO_TRAINING, TOKENISED_TEXT, is_tokenised_text, skipped

if TYPE_CHECKING:
    from audit.suites.data.domain import DomainScores

# Salts separating the suite's independent random streams.
_SALT_LABEL_BIAS, _SALT_MISSING, _SALT_LABEL_ERRORS, _SALT_GROUPS, _SALT_SHIFT, _SALT_DOMAIN = 41, 42, 43, 44, 45, 46
_SALT_REPRESENTATION = 47
MIN_SHIFT_ROWS = 10  # per split: below this the domain classifier cannot be cross-fitted


class DataSuite:
    name: ClassVar[str] = "data"
    pillar: ClassVar[str] = "data"
    requires: ClassVar[frozenset[str]] = frozenset()
    description: ClassVar[str] = ("Representation, label bias, missingness, leakage, label errors (cleanlab), "
                                  "train/audit shift and generalisation gap")
    Params = DataParams
    emits: ClassVar[tuple[str, ...]] = (
        "share[*]", "reference_ratio[*]", "composition_difference[*]", "small_groups", "base_rate_gap[*]",
        "missing_rows_share[*]", "missing_gap[*]", "near_constant_columns", "out_of_range_share",
        "leakage_exact_share", "leakage_excess_share", "near_duplicate_share", "near_duplicate_excess_share",
        "label_conflict_share", "label_issue_share[*]", "label_issue_gap[*]", "psi[*]", "shifted_features",
        "shift_auc", "shift_auc_lower_bound", "generalisation_gap", "accuracy_unlike_training", "unlike_accuracy_gap",
    )

    def params_for(self, preset: str) -> DataParams:
        if preset == "quick":
            return DataParams(resamples=200, label_error_folds=3, label_error_max_rows=2_000,
                              label_error_max_images=500, domain_max_rows=5_000, domain_iterations=50,
                              domain_importance_rows=1_000)
        return DataParams()

    def run(self, ctx: SuiteContext, params: DataParams) -> SuiteOutput:
        from audit.threads import one_thread

        # Many small matrix products: one BLAS thread is fastest on a shared 2-core runner.
        # OpenMP likewise: two-thread gradient boosting on a loaded runner measured 10x slower than one thread.
        with one_thread():
            return self._run(ctx, dataclasses.replace(params, reference=dict(params.reference)))

    def _run(self, ctx: SuiteContext, params: DataParams) -> SuiteOutput:
        from audit.suites.data.label_bias import label_bias
        from audit.suites.data.label_errors import label_errors
        from audit.suites.data.leakage import leakage
        from audit.suites.data.quality import quality
        from audit.suites.data.representation import representation

        data, seed = ctx.data, ctx.seed
        steps = 6
        ctx.progress(0, steps, "data: representation and label bias")
        parts = [representation(data, params, ctx.rng(_SALT_REPRESENTATION)),
                 label_bias(data, params, derive_seed(seed, _SALT_LABEL_BIAS))]
        ctx.progress(1, steps, "data: quality")
        parts.append(quality(data, params, derive_seed(seed, _SALT_MISSING)))
        ctx.progress(2, steps, "data: leakage")
        parts.append(leakage(data, params))
        ctx.progress(3, steps, "data: label errors")
        parts.append(label_errors(ctx.model, data, params, ctx.rng(_SALT_LABEL_ERRORS),
                                  derive_seed(seed, _SALT_GROUPS)))
        ctx.progress(4, steps, "data: shift and generalisation")
        parts.append(_shift_and_generalisation(ctx, params))
        ctx.progress(steps, steps, "data: done")
        return merge_outputs(parts)


def _shift_and_generalisation(ctx: SuiteContext, params: DataParams) -> SuiteOutput:
    from audit.suites.data import generalisation, report
    from audit.suites.data.domain import domain_scores
    from audit.suites.data.features import domain_matrices, feature_pairs
    from audit.suites.data.shift import feature_shift, with_fdr

    data = ctx.data
    if data.train is None or len(data.train) == 0:
        return merge_outputs([skipped(report.HEADLINE, NO_TRAINING, "Shift between training and audit data"),
                      skipped(generalisation.HEADLINE, NO_TRAINING, "Generalisation")])
    if is_tokenised_text(data):
        return merge_outputs([skipped(report.HEADLINE, TOKENISED_TEXT, "Shift between training and audit data"),
                              _generalisation(ctx, params, None)])
    smaller = min(len(data.train), len(data.test))
    if smaller < MIN_SHIFT_ROWS:
        reason = f"only {smaller} rows in one split (the shift tests need {MIN_SHIFT_ROWS})"
        return merge_outputs([skipped(report.HEADLINE, reason, "Shift between training and audit data"),
                      _generalisation(ctx, params, None)])
    pairs = feature_pairs(data, params.image_components, derive_seed(ctx.seed, _SALT_SHIFT))
    rng = ctx.rng(_SALT_SHIFT)
    shifts = with_fdr([feature_shift(p, params.psi_bins, params.resamples, rng) for p in pairs],
                      params.shift_alpha, params.shift_min_effect)
    index = {p.name: j for j, p in enumerate(pairs)}
    top = tuple(index[s.name] for s in shifts[: params.top_features])
    domain = domain_scores(*domain_matrices(pairs), params.domain_max_rows, params.domain_iterations,
                           derive_seed(ctx.seed, _SALT_DOMAIN), explain=top,
                           importance_rows=params.domain_importance_rows)
    importance = {pairs[j].name: drop for j, drop in domain.importance.items()}
    return merge_outputs([report.shift_section(shifts, domain, importance, len(data.test), params),
                  _generalisation(ctx, params, domain)])


def _generalisation(ctx: SuiteContext, params: DataParams, domain: DomainScores | None) -> SuiteOutput:
    from audit.suites.data import generalisation

    data, model = ctx.data, ctx.model
    if not model.can("queries"):
        return skipped(generalisation.HEADLINE, "the model answers only for the audited rows it came with, so its "
                       "training accuracy cannot be measured", "Generalisation")
    assert data.train is not None
    train_correct = model.predict(data.train.x) == data.train.y.numpy()
    audit_correct = model.predict(data.test.x) == data.test.y.numpy()
    return generalisation.generalisation(train_correct, audit_correct, domain, params)


__all__ = ["DataSuite"]
