"""Measurements of the efficiency suite, from the per-variant results (timings named latency_*/throughput_*)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats import clopper_pearson, percentile_ci, resample_counts
from audit.suites.efficiency.measure import VariantResult
from audit.suites.efficiency.reaudit import bootstrap_gaps, fairlearn_gaps, group_count_gaps
from audit.suites.efficiency.timing import quantile_ci
from audit.types import Measurement, ValidityCheck

DEPLOYABLE = "deployable"
MIN_ROWS = 100  # fewer test rows cannot support an accuracy comparison


@dataclass(frozen=True, eq=False)
class Reference:
    """What every variant is compared on. `weights`: one set of bootstrap multiplicities over the test rows,
    (resamples, rows), shared by every variant's figures, so each CI is one matrix product and the paired
    differences resample the same rows for both models."""

    y_test: np.ndarray
    sensitive: pd.DataFrame  # test rows' group labels (binary tasks only are audited for fairness)
    positive: int
    binary: bool
    epsilon: float
    attack_steps: int
    reference_batch: int
    resamples: int
    min_group_size: int
    seed: int
    timing_rule: str  # when timing stopped (TimingPlan.rule)
    weights: np.ndarray  # (resamples, test rows) counts, audit.stats.resample_counts; with `cells`: (resamples, cells)
    attack_weights: np.ndarray  # (resamples, attacked rows) counts
    # One test row per cell of rows alike in everything the test-row figures read (label, every variant's prediction,
    # every sensitive group): `weights` then counts cells (a multinomial draw, the row bootstrap's distribution).
    cells: np.ndarray | None = None

    @classmethod
    def of(cls, y_test: np.ndarray, attack_rows: int, resamples: int, seed: int, keys: np.ndarray | None = None,
           **fields: object) -> Reference:
        """`keys`: (test rows, m) integer codes of what the test-row figures read; None: resample the rows."""
        if keys is None:
            cells, weights = None, resample_counts(len(y_test), resamples, seed, np.float32)
        else:
            from audit.suites.fairness.bootstrap import cell_resamples

            cells, weights = cell_resamples(keys, resamples, np.random.default_rng(seed), np.float32)
        return cls(y_test=y_test, resamples=resamples, seed=seed, weights=weights, cells=cells,
                   attack_weights=resample_counts(attack_rows, resamples, seed + 2, np.float32), **fields)

    def per_weight(self, values: np.ndarray) -> np.ndarray:
        """Per-test-row values as the rows `weights` counts (one per cell when resampling cells)."""
        return values if self.cells is None else values[self.cells]

    def mean_ci(self, values: np.ndarray, attacked: bool = False) -> tuple[float, float]:
        """Bootstrap CI of the mean of a per-row 0/±1 figure (exact: float32 sums of small integers)."""
        weights = self.attack_weights if attacked else self.weights
        if values.size == 0:
            return (float("nan"), float("nan"))
        counted = values if attacked else self.per_weight(values)
        return percentile_ci((weights @ counted.astype(np.float32)).astype(np.float64) / values.size)


@dataclass(frozen=True)
class FairnessChange:
    attribute: str
    base: tuple[float, float]  # (dp, eo) of fp32
    variant: tuple[float, float]
    ci_dp: tuple[float, float]  # CI of the change
    ci_eo: tuple[float, float]
    worst_ci: tuple[float, float]  # CI of max(change in dp, change in eo)
    smallest_group: int


def fairness_by_variant(results: list[VariantResult], ref: Reference) -> dict[str, list[FairnessChange]]:
    """Per compressed variant, its fairness gaps and their change from fp32 with paired bootstrap CIs.

    Point estimates use the vectorised engine with every row once (fairlearn's MetricFrame costs about a
    second per call on 16k rows); `fairlearn_check` re-derives the deployable variant's with fairlearn.
    """
    if not ref.binary or not results:
        return {}
    out: dict[str, list[FairnessChange]] = {r.variant.name: [] for r in results[1:]}
    idx, every_row = ref.weights, np.ones((1, len(ref.y_test)), dtype=np.float32)
    y_w = ref.per_weight(ref.y_test)
    for attribute in ref.sensitive.columns:
        codes, names = pd.factorize(ref.sensitive[attribute].astype(str))
        k, codes_w = len(names), ref.per_weight(codes)
        b = [float(g[0]) for g in bootstrap_gaps(ref.y_test, results[0].pred, codes, k, ref.positive, every_row)]
        dp_b, eo_b = bootstrap_gaps(y_w, ref.per_weight(results[0].pred), codes_w, k, ref.positive, idx)
        for r in results[1:]:
            v = [float(g[0]) for g in bootstrap_gaps(ref.y_test, r.pred, codes, k, ref.positive, every_row)]
            dp_v, eo_v = bootstrap_gaps(y_w, ref.per_weight(r.pred), codes_w, k, ref.positive, idx)
            out[r.variant.name].append(FairnessChange(
                attribute, (b[0], b[1]), (v[0], v[1]), percentile_ci(dp_v - dp_b), percentile_ci(eo_v - eo_b),
                percentile_ci(np.fmax(dp_v - dp_b, eo_v - eo_b)), int(np.bincount(codes).min())))
    return out


def _apart(a: float, b: float) -> float:
    """|a - b|; two NaNs (no group had rows for the rate) agree, a NaN against a number is infinitely apart."""
    if np.isnan(a) or np.isnan(b):
        return 0.0 if np.isnan(a) and np.isnan(b) else float("inf")
    return abs(a - b)


def group_count_check(base: VariantResult, r: VariantResult, found: list[FairnessChange],
                      ref: Reference) -> ValidityCheck:
    """Every attribute's gaps of fp32 and the deployable variant, recounted group by group (no matrix products)."""
    worst = 0.0
    for c in found:
        groups = ref.sensitive[c.attribute].astype(str).to_numpy()
        for mine, pred in ((c.base, base.pred), (c.variant, r.pred)):
            theirs = group_count_gaps(ref.y_test, pred, groups, ref.positive)
            worst = max(worst, _apart(mine[0], theirs.dp), _apart(mine[1], theirs.eo))
    return ValidityCheck("fairness_matches_group_counts", worst <= 1e-9,
                         f"Demographic-parity and equalized-odds gaps of fp32 and {r.variant.name} for every "
                         f"attribute, recounted group by group, differ by at most {worst:.2g}.")


def fairlearn_check(base: VariantResult, r: VariantResult, found: list[FairnessChange],
                    ref: Reference) -> ValidityCheck:
    """The gated figure (fairness_regression[deployable]: its attribute's gaps of fp32 and the deployable variant)
    recomputed with fairlearn's MetricFrame on the same predictions."""
    gated = max(found, key=lambda c: max(c.variant[0] - c.base[0], c.variant[1] - c.base[1]))
    groups = ref.sensitive[gated.attribute].astype(str)
    worst = 0.0
    for mine, pred in ((gated.base, base.pred), (gated.variant, r.pred)):
        theirs = fairlearn_gaps(ref.y_test, pred, groups, ref.positive)
        worst = max(worst, _apart(mine[0], theirs.dp), _apart(mine[1], theirs.eo))
    return ValidityCheck("fairness_matches_fairlearn", worst <= 1e-9,
                         f"The gated gaps ({gated.attribute}) of fp32 and {r.variant.name} recomputed with fairlearn "
                         f"differ by at most {worst:.2g}.")


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def footprint_and_speed(r: VariantResult, ref: Reference) -> list[Measurement]:
    v, details = r.variant.name, {"how": r.variant.how, "weight_dtypes": list(r.footprint.weight_dtypes)}
    timing = {"calls": len(r.latency.seconds), "cpu_threads": r.latency.threads, "stopping_rule": ref.timing_rule}
    torch_runtime = r.variant.runtime == "torch"
    saved = "dense torch.save of its state dict" if torch_runtime else f"the {r.variant.runtime} model file"
    out = [
        Measurement(f"size_bytes[{v}]", float(r.footprint.size_bytes), None, False, 1,
                    f"Bytes of the {v} model's weights saved to disk ({saved}).",
                    {**details, "parameters": r.footprint.parameters, "nonzero": r.footprint.nonzero,
                     "runtime": r.variant.runtime}),
    ]
    if torch_runtime:  # other runtimes allocate outside torch's profiler
        out.append(Measurement(f"peak_memory_bytes[{v}]", float(r.peak_memory), None, False, 1,
                               f"Memory allocated at the peak of one forward pass of the {v} model over "
                               f"{ref.reference_batch} rows (weights and input excluded).",
                               {"batch": ref.reference_batch}))
    for q, label in ((0.5, "p50"), (0.95, "p95")):
        out.append(Measurement(
            f"latency_{label}_ms[{v}]", _ms(r.latency.quantile(q)),
            tuple(_ms(s) for s in quantile_ci(r.latency.seconds, q, ref.resamples, ref.seed)), False,
            len(r.latency.seconds), f"{label} time for the {v} model to answer one row (batch 1), in milliseconds.",
            {**timing, "batch": 1}))
    for t in r.throughput:
        lo, hi = quantile_ci(t.seconds, 0.5, ref.resamples, ref.seed)
        out.append(Measurement(
            f"throughput_rows_per_s[{v},batch={t.batch}]", t.rows_per_s(), (t.batch / hi, t.batch / lo), True,
            len(t.seconds), f"Rows per second the {v} model processes in batches of {t.batch} (median call).",
            {**timing, "batch": t.batch, "calls": len(t.seconds), "iqr_rows_per_s": list(t.rows_per_s_spread())}))
    return out


def accuracy(r: VariantResult, ref: Reference) -> Measurement:
    correct = r.pred == ref.y_test
    return Measurement(f"accuracy[{r.variant.name}]", float(correct.mean()), ref.mean_ci(correct), True, len(correct),
                       f"Share of test rows the {r.variant.name} model classifies correctly.",
                       {"bootstrap_resamples": ref.resamples})


def changes(base: VariantResult, r: VariantResult, ref: Reference, label: str,
            fairness: list[FairnessChange]) -> list[Measurement]:
    """Figures comparing variant `r` with the fp32 baseline, named with `label` (variant or "deployable")."""
    details = {"variant": r.variant.name, "how": r.variant.how, "bootstrap_resamples": ref.resamples}
    n = len(ref.y_test)
    few = f"only {n} test rows; at least {MIN_ROWS} are needed" if n < MIN_ROWS else None
    drop_rows = (base.pred == ref.y_test).astype(np.float64) - (r.pred == ref.y_test)
    drop, drop_ci = float(drop_rows.mean()), ref.mean_ci(drop_rows)
    out = [Measurement(f"accuracy_drop[{label}]", drop, drop_ci, False, n,
                       f"Accuracy lost by the {r.variant.name} model compared with the fp32 baseline "
                       "(negative: it gained).", details, few)]
    agree = int((base.pred == r.pred).sum())
    out.append(Measurement(f"prediction_agreement[{label}]", agree / n, clopper_pearson(agree, n), True, n,
                           f"Share of test rows where the {r.variant.name} model predicts the same class as fp32.",
                           details, few))
    out += _speedup(base, r, ref, label, details)
    out += _fairness(fairness, r, ref, label, details)
    out += _robustness(base, r, ref, label, details)
    return out


def _speedup(base: VariantResult, r: VariantResult, ref: Reference, label: str, details: dict) -> list[Measurement]:
    at = [i for i, t in enumerate(r.throughput) if t.batch == ref.reference_batch]
    if not at:
        return []
    mine, theirs = r.throughput[at[0]], base.throughput[at[0]]
    out = [Measurement(f"throughput_speedup[{label}]", mine.rows_per_s() / theirs.rows_per_s(), None, True,
                       len(mine.seconds), f"How many times faster the {r.variant.name} model runs than fp32 in "
                       f"batches of {ref.reference_batch} (below 1: slower).", {**details, "batch": mine.batch})]
    if label == DEPLOYABLE:
        out.append(Measurement(f"throughput_rows_per_s[{label}]", mine.rows_per_s(), None, True, len(mine.seconds),
                               f"Rows per second of the deployable ({r.variant.name}) model in batches of "
                               f"{mine.batch}.", {**details, "batch": mine.batch}))
    return out


def _fairness(found: list[FairnessChange], r: VariantResult, ref: Reference, label: str,
              details: dict) -> list[Measurement]:
    if not found:
        return []
    out = []
    for c in found:
        few = (f"smallest '{c.attribute}' group has {c.smallest_group} rows; at least {ref.min_group_size} "
               "are needed" if c.smallest_group < ref.min_group_size else None)
        extra = {**details, "attribute": c.attribute, "fp32": list(c.base), "variant_value": list(c.variant)}
        out.append(Measurement(f"dp_difference_change[{label},{c.attribute}]", c.variant[0] - c.base[0], c.ci_dp,
                               False, len(ref.y_test), f"Change in the gap in positive-outcome rates between "
                               f"'{c.attribute}' groups, {r.variant.name} minus fp32 (positive: less fair).",
                               extra, few))
        out.append(Measurement(f"eo_difference_change[{label},{c.attribute}]", c.variant[1] - c.base[1], c.ci_eo,
                               False, len(ref.y_test), f"Change in the equalized-odds gap between "
                               f"'{c.attribute}' groups, {r.variant.name} minus fp32 (positive: less fair).",
                               extra, few))
    worst = max(found, key=lambda c: max(c.variant[0] - c.base[0], c.variant[1] - c.base[1]))
    short = [c for c in found if c.smallest_group < ref.min_group_size]
    out.append(Measurement(
        f"fairness_regression[{label}]", max(worst.variant[0] - worst.base[0], worst.variant[1] - worst.base[1]),
        worst.worst_ci, False, len(ref.y_test),
        f"Largest increase in a demographic-parity or equalized-odds gap of any sensitive attribute when fp32 is "
        f"replaced by {r.variant.name} (positive: less fair).", {**details, "attribute": worst.attribute},
        f"groups too small for: {', '.join(c.attribute for c in short)}" if short else None))
    return out


def _robustness(base: VariantResult, r: VariantResult, ref: Reference, label: str,
                details: dict) -> list[Measurement]:
    if base.robust_correct is None or r.robust_correct is None:
        return []
    n = len(r.robust_correct)
    change_rows = r.robust_correct.astype(np.float64) - base.robust_correct
    change, ci = float(change_rows.mean()), ref.mean_ci(change_rows, attacked=True)
    return [Measurement(
        f"robust_accuracy_change[{label},linf,eps={ref.epsilon:g}]", change, ci, True, n,
        f"Change in accuracy under a small L-infinity attack, {r.variant.name} minus fp32 (negative: less robust).",
        {**details, "epsilon": ref.epsilon, "steps": ref.attack_steps, "attack": f"PGD, {r.attack_mode}"},
        f"only {n} attacked rows" if n < 50 else None)]


def robust_accuracy(base: VariantResult, ref: Reference) -> list[Measurement]:
    if base.robust_correct is None:
        return []
    k, n = int(base.robust_correct.sum()), len(base.robust_correct)
    return [Measurement(f"robust_accuracy[fp32,linf,eps={ref.epsilon:g}]", k / max(n, 1), clopper_pearson(k, n),
                        True, n, "Accuracy of the fp32 baseline under a white-box L-infinity PGD attack.",
                        {"epsilon": ref.epsilon, "steps": ref.attack_steps})]
