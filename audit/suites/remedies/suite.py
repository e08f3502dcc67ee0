"""RemediesSuite: train each remedy from the model's recipe and re-audit it beside the original."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import torch

from audit.data.types import Dataset
from audit.errors import AuditInputError, SuiteSkipped
from audit.models.types import Recipe
from audit.stats import derive_seed
from audit.suite import Output, SuiteContext, SuiteOutput
from audit.suites.remedies import comparison, findings, linked, tradeoff
from audit.suites.remedies.params import CONSTRAINTS, TABULAR_REMEDIES, RemediesParams, preset_params
from audit.suites.remedies.variant import ORIGINAL, TrainedVariant, count_parameters
from audit.threads import one_thread
from audit.types import Measurement, ValidityCheck

_SALT_TRAIN = 81
_SALT_IMAGE_ROWS = 82


class RemediesSuite:
    name: ClassVar[str] = "remedies"
    pillar: ClassVar[str] = "remedies"
    requires: ClassVar[frozenset[str]] = frozenset({"recipe", "training-data"})
    # rough share of a run by input kind (the longest start first, --jobs): the longest suite on the zoo's tables
    # (adult-mlp: 9 of 23 s), a short one on images, where it trains on 1,000 rows (mnist-cnn: 12 of 82 s)
    relative_cost: ClassVar[Mapping[str, float]] = MappingProxyType({"*": 4.0, "image": 1.5})
    reads_at_end: ClassVar[bool] = True  # others' figures feed only its last table
    description: ClassVar[str] = ("What fixing costs: adversarial training, DP-SGD, distillation, fairness constraints "
                                  "and frozen/LoRA/full fine-tuning, each re-audited beside the original")
    Params = RemediesParams
    emits: ClassVar[tuple[str, ...]] = tuple(f"{r}.*" for r in (ORIGINAL, *TABULAR_REMEDIES, "foundation"))
    provides: ClassVar[tuple[str, ...]] = ("tradeoffs",)
    reads: ClassVar[tuple[Output, ...]] = linked.READS
    # Remedies train new models (seconds to minutes) and inform a decision rather than gate one, so the quick (PR CI)
    # preset leaves them out and says so; `--suite remedies` or the full preset runs them.
    presets: ClassVar[tuple[str, ...]] = ("full",)
    presets_reason: ClassVar[str] = "it trains new models"

    def params_for(self, preset: str) -> RemediesParams:
        return preset_params(preset)

    def run(self, ctx: SuiteContext, params: RemediesParams) -> SuiteOutput:
        if ctx.data.input_kind not in ("tabular", "image", "text"):
            raise SuiteSkipped(f"remedies are trained for tabular, image and text models, not {ctx.data.input_kind}")
        with _one_thread():
            if ctx.data.input_kind == "text":
                from audit.suites.remedies.foundation import run_foundation

                return run_foundation(ctx, params)
            return _run_tabular(ctx, params)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Many small products: on a busy 2-core machine extra threads spin rather than help (measured: the tiny-encoder
    remedies took 40 s with torch's default threads, 3 s with one). Throughput figures say they used one thread."""
    with one_thread(user_api="blas"):
        yield


def _run_tabular(ctx: SuiteContext, params: RemediesParams) -> SuiteOutput:
    from audit.suites.remedies import reaudit

    wanted = [r for r in params.remedies if r in TABULAR_REMEDIES]
    if not wanted:
        raise SuiteSkipped("no tabular remedy is selected (remedies.remedies lists only 'foundation', which applies "
                           "to the text reference adult-text-minilm)")
    attribute = _fairness_attribute(ctx, params)
    data, params, scope_notes = _image_scope(ctx, params)
    rows = reaudit.audit_rows(data, params, ctx.seed, ctx.device)
    variants, skipped = _train_all(ctx, data, params, wanted, rows, attribute)
    evidence = []
    for i, v in enumerate(variants):
        ctx.progress(len(wanted) + i, 2 * len(wanted) + 1, f"remedies: re-auditing {v.name}")
        evidence.append(reaudit.collect(v, rows, params, ctx.seed))
    weights = comparison.shared_weights(rows, params.bootstrap_resamples, ctx.seed)
    found = {e.name: comparison.pillars(e, rows, weights, params, ctx.seed) for e in evidence}
    by_name = {e.name: e for e in evidence}
    measurements, validity = _figures(found, by_name, rows, params, ctx.seed)
    order = [found[e.name] for e in evidence]
    metric = "dp_difference" if params.fairness_constraint == "demographic_parity" else "equalized_odds_difference"
    tables = [tradeoff.tradeoff_table(order, variants, attribute, metric, rows.robust_key)]
    tables += [t for t in (linked.linked_table(ctx, found, rows.robust_key), tradeoff.fairness_table(order)) if t]
    if attribute and "fairness_constrained" in by_name:
        validity.append(findings.fairlearn_check(rows, by_name[ORIGINAL], by_name["fairness_constrained"], found,
                                                 attribute))
    ctx.progress(1, 1, "remedies: done")
    notes = (scope_notes or _epochs_note(ctx, params)) + findings.notes(found, by_name, params, skipped)
    reused = [v.name for v in variants if v.details.get("reused_training")]
    if reused:
        notes.append(f"Reused without training again: {', '.join(reused)} — an earlier run trained the identical "
                     "remedy (same recipe, training rows, audited weights, settings, seed and training code; training "
                     "is deterministic on the CPU) and stored it in the cache folder; their training seconds are that "
                     "run's. Every figure was re-measured here.")
    return SuiteOutput(measurements=tuple(measurements), tables=tuple(tables),
                       charts=tuple(tradeoff.charts(order, attribute, metric, f"L∞ ε={params.epsilon:g}")),
                       validity=tuple(validity), notes=tuple(notes))


def _epochs_note(ctx: SuiteContext, params: RemediesParams) -> list[str]:
    recipe = ctx.model.recipe
    if not params.epochs or recipe is None or params.epochs == recipe.epochs:
        return []
    return [f"Remedies were trained for {params.epochs} epoch(s) where the original's recipe trains {recipe.epochs} "
            "(remedies.epochs, set short in the quick preset): each difference mixes the remedy with the shorter "
            "training. The full preset trains them like the original."]


def _image_scope(ctx: SuiteContext, params: RemediesParams) -> tuple[Dataset, RemediesParams, list[str]]:
    """Images: remedies train on a seeded subset of the training rows for a few epochs, membership members come from
    that subset (so every variant trained on them), and robust accuracy uses fewer attack rows; all stated."""
    data = ctx.data
    if data.input_kind != "image" or data.train is None:
        return data, params, []
    total = len(data.train)
    if total > params.image_train_rows:
        rng = np.random.default_rng([ctx.seed, _SALT_IMAGE_ROWS])
        index = np.sort(rng.choice(total, params.image_train_rows, replace=False))
        data = dataclasses.replace(data, train=data.train.subset(torch.as_tensor(index)))
    scoped = dataclasses.replace(params, epochs=params.image_epochs, attack_rows=params.image_attack_rows,
                                 dp_batch_size=params.image_dp_batch_size)
    note = (f"Image remedies: adversarial training and DP-SGD train on {len(data.train):,} seeded training rows of "
            f"{total:,} (the original's recipe trains {ctx.model.recipe.epochs if ctx.model.recipe else '?'} epochs "
            f"on all rows). Adversarial training fine-tunes the audited model's weights for {params.image_epochs} "
            f"epoch(s); DP-SGD (Poisson batches of {params.image_dp_batch_size} expected rows) trains from scratch for "
            f"{params.image_scratch_epochs} epoch(s), as a DP guarantee cannot start from weights trained without it "
            f"on the same rows; the half-width student learns the teacher's outputs on all {total:,} rows from "
            f"scratch for {params.image_scratch_epochs} epoch(s) (remedies.image_*). Membership members are drawn "
            f"from the {len(data.train):,} rows; robust accuracy uses up to {params.image_attack_rows:,} seeded test "
            "rows, each attacked until it is misclassified or the steps run out.")
    return data, scoped, [note]


def _fairness_attribute(ctx: SuiteContext, params: RemediesParams) -> str:
    if params.fairness_constraint not in CONSTRAINTS:
        raise AuditInputError(f"remedies.fairness_constraint must be one of {', '.join(CONSTRAINTS)}")
    available = list(ctx.data.sensitive_attributes)
    if params.fairness_attribute:
        if params.fairness_attribute not in available:
            raise AuditInputError(
                f"remedies.fairness_attribute = {params.fairness_attribute!r} is not a sensitive attribute of data set "
                f"{ctx.data.name!r}; choose one of {', '.join(available) or '(none)'} or leave it empty")
        return params.fairness_attribute
    return available[0] if available else ""


def _original(ctx: SuiteContext) -> TrainedVariant:
    module = ctx.model.module
    return TrainedVariant(ORIGINAL, module, "the audited model as given", float("nan"),
                          count_parameters(module, True), count_parameters(module), ctx.model.outputs)


def _train_all(ctx: SuiteContext, data: Dataset, params: RemediesParams, wanted: list[str], rows,  # noqa: ANN001
               attribute: str) -> tuple[list[TrainedVariant], list[str]]:
    """The original, then each wanted remedy trained as a task of its own (`jobs.train_remedy`), in `wanted`'s
    order; and why any remedy was not trained."""
    from audit.suites.remedies.jobs import RemedyJob, train_remedy

    assert ctx.data.train is not None and ctx.model.module is not None and ctx.model.recipe is not None
    job = RemedyJob(data, ctx.data.train, ctx.model.module, ctx.model.outputs, ctx.model.recipe,
                    remedy_recipe(ctx, params), params, rows.space, attribute, ctx.seed,
                    derive_seed(ctx.seed, _SALT_TRAIN), ctx.cache_dir)
    ctx.progress(0, 2 * len(wanted) + 1, f"remedies: training {', '.join(wanted)}")
    outcomes = ctx.fan_out(train_remedy, wanted, salt=_SALT_TRAIN, shared=job)
    variants = [_original(ctx)] + [o.variant for o in outcomes if o.variant is not None]
    return variants, [o.skipped for o in outcomes if o.variant is None]


def remedy_recipe(ctx: SuiteContext, params: RemediesParams) -> Recipe:
    """The model's recipe, with `params.epochs` epochs when set (the quick preset trains remedies briefly)."""
    recipe = ctx.model.recipe
    assert recipe is not None
    return dataclasses.replace(recipe, epochs=params.epochs) if params.epochs else recipe


def _figures(found: dict, by_name: dict, rows, params: RemediesParams,  # noqa: ANN001
             seed: int) -> tuple[list[Measurement], list[ValidityCheck]]:
    from audit.suites.remedies.reaudit import robust_correct
    from audit.suites.robustness.torch_pgd import PGDConfig

    base = found[ORIGINAL]
    out: list[Measurement] = []
    validity: list[ValidityCheck] = []
    n = len(rows.y_test)
    for name, p in found.items():
        out += comparison.variant_measurements(p, by_name[name], rows, params)
        if name != ORIGINAL:
            out += comparison.change_measurements(p, base, rows, params)
    if "dp_sgd" in found:
        out += findings.dp_measurements(found["dp_sgd"], by_name["dp_sgd"], params)
        validity += findings.dp_validity(found["dp_sgd"], by_name["dp_sgd"], params)
    if "distillation" in found:
        out += findings.distillation_measurements(found["distillation"], base, by_name["distillation"],
                                                  by_name[ORIGINAL])
        out += comparison.fairness_drift(found["distillation"], base, n, params)
    if "fairness_constrained" in found:
        out += findings.constrained_measurement(found["fairness_constrained"], base, by_name["fairness_constrained"], n)
    if "adversarial_training" in found:
        stronger = PGDConfig("linf", params.epsilon, 2 * params.attack_steps, restarts=params.attack_restarts + 1)
        trained = by_name["adversarial_training"]
        survivors = trained.robust_correct.astype(bool)  # a row the audited attack fooled is broken already
        correct = robust_correct(trained.variant, rows, stronger, seed + 1, only=survivors)
        validity.append(findings.convergence_check(found["adversarial_training"], float(np.mean(correct)),
                                                   params.attack_steps, int(survivors.sum()), len(survivors)))
    return out, validity
