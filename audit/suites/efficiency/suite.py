"""The efficiency suite: compressed variants measured for cost and speed, then re-audited against fp32."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from audit.errors import SuiteSkipped
from audit.evidence import RowEvidence, row_keys
from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.suites.efficiency import figures, report
from audit.suites.efficiency.energy import energy_figures
from audit.suites.efficiency.evidence import drift_columns
from audit.suites.efficiency.measure import VariantResult, Workload, adversarial, first_call, measure, with_memory
from audit.suites.efficiency.onnx_runtime import ONNX_VARIANTS, build_onnx_variant, is_onnx_graph
from audit.suites.efficiency.reaudit import AttackSpec
from audit.suites.efficiency.timing import TimingPlan
from audit.suites.efficiency.variants import VARIANTS, Variant, build
from audit.threads import torch_threads

_SALT_ATTACK = 701


@dataclass(frozen=True)
class EfficiencyParams:
    variants: tuple[str, ...] = bounded(VARIANTS, choices=VARIANTS)
    # the variant the gates judge ("accuracy_drop[deployable]", ...)
    deployable: str = bounded("int8", choices=tuple(v for v in VARIANTS if v != "fp32"))
    batch_sizes: tuple[int, ...] = bounded((1, 32, 256, 4096), min=1, min_items=1)
    reference_batch: int = bounded(256, min=1)  # speed-up and peak memory are compared at this batch size
    warmup: int = bounded(2, min=0)  # untimed calls per batch size (the first call already ran on the variant)
    min_repeats: int = bounded(5, min=1)
    max_repeats: int = bounded(200, min=1)
    timing_budget_s: float = bounded(0.25, min=0.0)  # per variant and batch size, after the minimum repeats
    # stop timing a variant and batch size once the median call's 95% CI is within ± this share (0: use the budget)
    timing_rel_ci: float = bounded(0.05, min=0.0, max=1.0)
    epsilon: float = bounded(0.1, min=0.0)  # L-infinity budget of the robustness re-audit, in input units
    attack_steps: int = bounded(10, min=0)
    attack_rows: int = bounded(500, min=1)
    bootstrap_resamples: int = bounded(1000, min=1)
    min_group_size: int = bounded(30, min=1)
    # Image models: batch sizes above this are not timed (on the CPU a 4,096-image batch took most of the suite's time
    # and allocates hundreds of MB of activations per call); the gated speed-up is at `reference_batch`.
    image_batch_cap: int = bounded(256, min=1)
    compile_on_cpu: bool = False  # torch.compile's first compilation takes tens of seconds on a small CPU
    # The gated fairness figure recomputed with fairlearn (about a second on Adult); every attribute is always
    # recounted group by group as well.
    fairlearn_check: bool = True

    def conflicts(self) -> list[str]:
        problems = []
        if self.deployable not in self.variants:
            problems.append(f"deployable = {self.deployable!r} must be one of the compressed variants listed in "
                            f"variants ({', '.join(self.variants)})")
        if self.max_repeats < self.min_repeats:
            problems.append(f"max_repeats = {self.max_repeats} must be at least min_repeats = {self.min_repeats}")
        return problems


# Quick: no batch of 4096 (nine tenths of the timed rows; the gated speed-up is at the reference batch of 256),
# a looser timing CI, and the gated fairness figure recounted group by group rather than also through fairlearn.
QUICK = EfficiencyParams(variants=tuple(v for v in VARIANTS if v != "compiled"), batch_sizes=(1, 32, 256), warmup=1,
                         min_repeats=3, max_repeats=50, timing_budget_s=0.05, timing_rel_ci=0.1, attack_steps=5,
                         attack_rows=200, bootstrap_resamples=300, fairlearn_check=False)


class EfficiencySuite:
    name: ClassVar[str] = "efficiency"
    pillar: ClassVar[str] = "efficiency"
    # variants are built from a torch module, or by onnxruntime from an ONNX graph (checked in `run`)
    requires: ClassVar[frozenset[str]] = frozenset({"queries"})
    runs_alone: ClassVar[bool] = True  # latency and throughput are timed with no other suite running
    description: ClassVar[str] = "int8/bf16/pruned/compiled variants: size, latency, throughput, re-audited"
    emits: ClassVar[tuple[str, ...]] = (
        "accuracy[*]", "accuracy_drop[*]", "prediction_agreement[*]", "size_bytes[*]", "peak_memory_bytes[*]",
        "latency_p50_ms[*]", "latency_p95_ms[*]", "throughput_rows_per_s[*]", "throughput_speedup[*]",
        "dp_difference_change[*]", "eo_difference_change[*]", "fairness_regression[*]", "robust_accuracy[*]",
        "robust_accuracy_change[*]", "energy_per_1000_predictions_j[*]",
    )
    Params = EfficiencyParams

    def params_for(self, preset: str) -> EfficiencyParams:
        return QUICK if preset == "quick" else EfficiencyParams()

    def run(self, ctx: SuiteContext, params: EfficiencyParams) -> SuiteOutput:
        if ctx.data.input_kind == "text":
            raise SuiteSkipped("text models are measured by the text-efficiency suite")
        if not ctx.model.can("torch") and not is_onnx_graph(ctx.model):
            raise SuiteSkipped("compressed variants and their timings are built from a torch module or an ONNX "
                               "graph, and this model has neither; export it to ONNX (e.g. skl2onnx for "
                               "scikit-learn) or give a torch model to measure it")
        work = _workload(ctx, params)
        # Timed calls run on torch's thread setting (recorded); the rest (attacks, predictions) is many small
        # products, where a second thread on a busy 2-core machine spins rather than helps.
        with torch_threads(1):
            results, skipped = _measure_all(ctx, params, work)
        if not results or results[0].variant.name != "fp32":
            raise SuiteSkipped("the fp32 baseline could not be run, so nothing can be compared")
        ref = _reference(ctx, params, results)
        by_name = {r.variant.name: r for r in results}
        fairness = figures.fairness_by_variant(results, ref)
        measurements = [figures.accuracy(results[0], ref), *figures.robust_accuracy(results[0], ref)]
        for r in results:
            measurements += figures.footprint_and_speed(r, ref)
            if r is not results[0]:
                measurements += [figures.accuracy(r, ref),
                                 *figures.changes(results[0], r, ref, r.variant.name, fairness.get(r.variant.name, []))]
        with torch_threads(work.threads):  # measured on a meter, or said to be not measured
            energy, energy_notes = energy_figures(results, work)
        measurements += energy
        notes = report.notes(results, skipped, ref, report.conv_layer_count(results)) + energy_notes
        notes += _image_notes(params, work)
        validity = []
        if params.deployable in by_name:
            deployable = fairness.get(params.deployable, [])
            measurements += figures.changes(results[0], by_name[params.deployable], ref, figures.DEPLOYABLE,
                                            deployable)
            if deployable:
                validity.append(figures.group_count_check(results[0], by_name[params.deployable], deployable, ref))
            if deployable and params.fairlearn_check:
                validity.append(figures.fairlearn_check(results[0], by_name[params.deployable], deployable, ref))
        else:
            notes.insert(0, f"The deployable variant '{params.deployable}' could not be measured here, "
                            "so its gates have nothing to judge.")
        tables = [t for t in (report.variants_table(results, ref), report.fairness_table(fairness)) if t]
        charts = (report.throughput_chart(results), report.change_chart(results, ref, fairness))
        test = ctx.data.test
        evidence = RowEvidence("audit", row_keys(test.x, test.y), drift_columns(results, ref, params.deployable))
        return SuiteOutput(measurements=tuple(measurements), tables=tuple(tables), charts=charts,
                           validity=tuple(validity), notes=tuple(notes), evidence=evidence)


def _workload(ctx: SuiteContext, params: EfficiencyParams) -> Workload:
    test = ctx.data.test
    n = min(params.attack_rows, len(test))
    rows = torch.from_numpy(np.sort(ctx.rng(_SALT_ATTACK).choice(len(test), size=n, replace=False)))
    return Workload(
        x_test=test.x, x_attack=test.x[rows], y_attack=test.y[rows], batch_sizes=_timed_batches(ctx, params),
        reference_batch=params.reference_batch,
        plan=_timing_plan(params),
        attack=_attack_spec(ctx, params) if ctx.model.can("gradients") else None, outputs=ctx.model.outputs,
        device=ctx.device, threads=torch.get_num_threads(),
    )


def _timed_batches(ctx: SuiteContext, params: EfficiencyParams) -> tuple[int, ...]:
    sizes = sorted(params.batch_sizes)
    if ctx.data.input_kind == "image":
        sizes = [b for b in sizes if b <= max(params.image_batch_cap, params.reference_batch)]
    return tuple(sizes)


def _image_notes(params: EfficiencyParams, work: Workload) -> list[str]:
    notes = []
    if work.attack is not None and work.attack.stop_when_fooled:
        notes.append("White-box attacks on the variants stop each row at its first misclassified PGD iterate (robust "
                     "accuracy needs one success per row, so no figure gets weaker); fp32's examples, also used for "
                     "the transfer attack, run every step.")
    left_out = sorted(set(params.batch_sizes) - set(work.batch_sizes))
    if left_out:
        notes.append(f"Image model: batch size(s) {', '.join(f'{b:,}' for b in left_out)} not timed "
                     f"(efficiency.image_batch_cap = {params.image_batch_cap:,}; raise it to time them).")
    return notes


def _timing_plan(params: EfficiencyParams) -> TimingPlan:
    return TimingPlan(params.warmup, params.min_repeats, params.max_repeats, params.timing_budget_s,
                      params.timing_rel_ci)


def _attack_spec(ctx: SuiteContext, params: EfficiencyParams) -> AttackSpec | None:
    """Images: every pixel within [0, 1]. Tabular: mutable numeric features only (one-hot codes stay valid)."""
    if params.epsilon == 0 or params.attack_steps < 1:
        return None
    if ctx.data.input_kind == "image":
        return AttackSpec(params.epsilon, params.attack_steps, None, (0.0, 1.0), stop_when_fooled=True)
    width = int(np.prod(ctx.data.input_shape))
    mask = torch.zeros(width) if ctx.data.features else torch.ones(width)
    for spec in ctx.data.features:
        if spec.kind == "numeric" and spec.mutable:
            mask[list(spec.columns)] = 1.0
    return AttackSpec(params.epsilon, params.attack_steps, mask, None) if mask.any() else None


def _measure_all(ctx: SuiteContext, params: EfficiencyParams,
                 work: Workload) -> tuple[list[VariantResult], list[Variant]]:
    names = ["fp32", *[v for v in params.variants if v != "fp32"]]  # the baseline always runs first
    if is_onnx_graph(ctx.model):
        names = [v for v in names if v in ONNX_VARIANTS]
    results: list[VariantResult] = []
    skipped: list[Variant] = []
    baseline_adv = None
    for i, name in enumerate(names):
        ctx.progress(i, len(names), f"variant {name}")
        variant = _build(name, ctx, params)
        if variant.module is not None:
            first_s, failure = first_call(variant, work)
            if failure is None:
                if name == "fp32":
                    baseline_adv = adversarial(variant, work)
                results.append(measure(variant, work, first_s, baseline_adv))
                continue
            variant = Variant(name, None, variant.how, skipped=failure)
        skipped.append(variant)
    ctx.progress(len(names), len(names), "done")
    return with_memory(results, work), skipped


def _build(name: str, ctx: SuiteContext, params: EfficiencyParams) -> Variant:
    if is_onnx_graph(ctx.model):
        return build_onnx_variant(name, ctx.model, ctx.cache_dir)
    if name == "compiled" and ctx.device == "cpu" and not params.compile_on_cpu:
        return Variant(name, None, "torch.compile(module)", skipped="on CPU it is opt-in, as its first compilation "
                       "takes tens of seconds; set efficiency.compile_on_cpu = true")
    return build(name, ctx.model.module, ctx.device)


def _cell_keys(ctx: SuiteContext, results: list[VariantResult]) -> np.ndarray:
    """What every test-row figure reads, per row: the label, each variant's prediction and each sensitive group."""
    sensitive = ctx.data.test.sensitive
    groups = [pd.factorize(sensitive[a].astype(str))[0] for a in sensitive.columns] if sensitive is not None else []
    return np.stack([ctx.data.test.y.numpy(), *(r.pred for r in results), *groups], axis=1).astype(np.int64)


def _reference(ctx: SuiteContext, params: EfficiencyParams, results: list[VariantResult]) -> figures.Reference:
    # The test-row CIs resample cells of rows alike in label, predictions and groups (the row bootstrap's
    # distribution): 1,000 resamples of 16,000 rows become a draw over a few hundred cells.
    return figures.Reference.of(
        ctx.data.test.y.numpy(), min(params.attack_rows, len(ctx.data.test)), params.bootstrap_resamples, ctx.seed,
        keys=_cell_keys(ctx, results),
        sensitive=ctx.data.test.sensitive, positive=ctx.data.positive_class, binary=ctx.data.task == "binary",
        epsilon=params.epsilon, attack_steps=params.attack_steps, reference_batch=params.reference_batch,
        min_group_size=params.min_group_size, timing_rule=_timing_plan(params).rule(),
    )
