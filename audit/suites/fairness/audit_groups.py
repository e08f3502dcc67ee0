"""Group metrics and disparities over every axis, with one shared bootstrap for all CIs."""

from __future__ import annotations

import numpy as np

from audit.data.types import Dataset
from audit.stats import exact_float
from audit.suite import SuiteOutput
from audit.suites.fairness.bootstrap import cell_resamples, resampled_group_sums
from audit.suites.fairness.crowded import crowded_measurements, is_crowded
from audit.suites.fairness.disparity import GroupCounts, GroupRates, group_sums, indicator_matrix
from audit.suites.fairness.groups import GroupAxis
from audit.suites.fairness.measures import (
    BINARY_SPECS,
    FOUR_FIFTHS_NOTE,
    MULTICLASS_SPECS,
    AxisEstimate,
    disparity_measurement,
    insufficient_reason,
)
from audit.suites.fairness.params import FairnessParams
from audit.suites.fairness.report import group_charts, group_table, intersection_heatmap


def estimate_axes(axes: list[GroupAxis], indicators: np.ndarray, weights: np.ndarray,
                  rows: np.ndarray | None = None) -> list[AxisEstimate]:
    """Counts and rates per axis, for the data and for every resample (the same draws for every axis).

    `weights`: (resamples, n) row multiplicities, or with `rows` (one row per cell, `cell_resamples`) the
    (resamples, cells) cell counts."""
    estimates = []
    for axis in axes:
        membership = axis.membership()
        counts = GroupCounts.from_sums(group_sums(indicators, membership))
        boot_rows = (indicators, membership) if rows is None else (indicators[rows], membership[:, rows])
        boot = GroupCounts.from_sums(resampled_group_sums(weights, *boot_rows))
        estimates.append(AxisEstimate(axis, counts, GroupRates.of(counts), GroupRates.of(boot)))
    return estimates


def group_audit(data: Dataset, axes: list[GroupAxis], y_true: np.ndarray, y_pred: np.ndarray, params: FairnessParams,
                rng: np.random.Generator, seed: int) -> SuiteOutput:
    binary = data.task == "binary"
    indicators = indicator_matrix(y_true, y_pred, data.positive_class, data.n_classes)
    specs = BINARY_SPECS if binary else MULTICLASS_SPECS
    crowded = [crowded_measurements(a, specs, params.max_groups, params.min_group_size) for a in axes
               if is_crowded(a, params.max_groups)]
    compared = [a for a in axes if not is_crowded(a, params.max_groups)]
    keys = np.stack([*(a.codes - a.codes.min(initial=0) for a in compared), y_true, y_pred], axis=1).astype(np.int64)
    cells, weights = cell_resamples(keys, params.resamples, rng, exact_float(len(y_true)))
    estimates = estimate_axes(compared, indicators, weights, rows=cells)
    details = {"resamples": params.resamples, "seed": seed,
               "ci_method": "percentile bootstrap over rows (each resample drawn as multinomial counts of the rows "
                            "alike in every group, label and prediction)",
               "min_group_size": params.min_group_size, "min_outcome_count": params.min_outcome_count,
               "favourable_class": data.class_names[data.positive_class] if binary else None}
    measurements = tuple(disparity_measurement(spec, est, params.min_group_size, params.min_outcome_count, details)
                         for est in estimates for spec in specs) + tuple(m for ms, _ in crowded for m in ms)
    favourable = data.class_names[data.positive_class]
    charts = [c for est in estimates if not est.axis.is_intersection for c in group_charts(est, favourable, binary)]
    charts += [intersection_heatmap(est, binary, params.min_group_size) for est in estimates
               if est.axis.is_intersection]
    table = group_table(estimates, data.class_names, binary, params.min_group_size, params.min_outcome_count)
    notes = [_rate_note(est, favourable) for est in estimates if binary and not est.axis.is_intersection]
    all_needs = tuple(n for n in ("rows", "positives", "negatives") if any(n in s.needs for s in specs))
    for est in estimates:
        reason = insufficient_reason(est, all_needs, params.min_group_size, params.min_outcome_count)
        if reason:
            notes.append(f"By {est.axis.name}, some groups are too small to judge: {reason}. Their figures are "
                         "shown but no gate passes on figures that need them.")
    notes += [note for _, note in crowded]
    if binary:
        notes.append(FOUR_FIFTHS_NOTE)
    return SuiteOutput(measurements=measurements, tables=(table,), charts=tuple(charts), notes=tuple(notes))


def _rate_note(est: AxisEstimate, favourable: str) -> str:
    rates = est.rates.selection_rate
    lo, hi = int(np.nanargmin(rates)), int(np.nanargmax(rates))
    ratio = rates[lo] / rates[hi] if rates[hi] > 0 else float("nan")
    verdict = "below" if ratio < 0.8 else "within"
    return (f"By {est.axis.name}: {rates[hi]:.1%} of {est.axis.labels[hi]} are predicted '{favourable}' against "
            f"{rates[lo]:.1%} of {est.axis.labels[lo]}; the lower rate is {ratio:.0%} of the higher, {verdict} the "
            f"four-fifths guideline.")

