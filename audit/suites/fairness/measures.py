"""Disparity measurements per group axis: point estimate, bootstrap CI, and the evidence behind it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.stats import percentile_ci
from audit.suites.fairness import disparity as d
from audit.suites.fairness.disparity import GroupCounts, GroupRates
from audit.suites.fairness.groups import GroupAxis
from audit.types import Measurement

FOUR_FIFTHS_NOTE = (
    "The four-fifths (80%) rule comes from US employment-selection guidance, the Uniform Guidelines on "
    "Employee Selection Procedures, 29 CFR 1607.4(D); it is a rule of thumb, not a legal test for other domains."
)


@dataclass(frozen=True)
class DisparitySpec:
    """One disparity: how to compute it from group rates and what evidence each group must have."""

    metric: str
    compute: Callable[[GroupRates], np.ndarray]
    higher_is_better: bool
    needs: tuple[str, ...]  # of "rows", "positives", "negatives"
    fairlearn: str  # the fairlearn function it equals, for the record
    sentence: str  # one plain sentence; {axis} is filled in


BINARY_SPECS = (
    DisparitySpec("dp_difference", d.dp_difference, False, ("rows",), "demographic_parity_difference",
                  "Gap between the highest and lowest share of favourable decisions across {axis} groups."),
    DisparitySpec("disparate_impact_ratio", d.disparate_impact_ratio, True, ("rows",), "demographic_parity_ratio",
                  "Lowest {axis} group's favourable-decision rate as a fraction of the highest group's rate; below "
                  "0.8 breaches the four-fifths rule of US employment guidance (29 CFR 1607.4(D))."),
    DisparitySpec("equal_opportunity_difference", d.equal_opportunity_difference, False, ("rows", "positives"),
                  "equal_opportunity_difference",
                  "Gap across {axis} groups in the share of truly favourable cases the model recognises (TPR)."),
    DisparitySpec("equalized_odds_difference", d.equalized_odds_difference, False,
                  ("rows", "positives", "negatives"), "equalized_odds_difference",
                  "Largest gap across {axis} groups in either true-positive or false-positive rate."),
    DisparitySpec("accuracy_gap", d.accuracy_gap, False, ("rows",), "MetricFrame(accuracy_score).difference()",
                  "Gap between the most and least accurately served {axis} groups."),
    DisparitySpec("worst_group_accuracy", d.worst_group_accuracy, True, ("rows",), "accuracy_score_group_min",
                  "Accuracy for the {axis} group the model serves worst."),
)

MULTICLASS_SPECS = (
    DisparitySpec("dp_difference", d.multiclass_dp_difference, False, ("rows",),
                  "max over classes of demographic_parity_difference(y_pred == class)",
                  "Largest gap, over all classes, between {axis} groups in how often the model assigns that class."),
) + BINARY_SPECS[-2:]


@dataclass(frozen=True)
class AxisEstimate:
    """Counts and rates of one axis, for the whole data and for every bootstrap resample."""

    axis: GroupAxis
    counts: GroupCounts
    rates: GroupRates
    boot_rates: GroupRates


def group_shortfalls(counts: GroupCounts, need: str, min_group_size: int, min_outcome_count: int) -> list[str | None]:
    """Per group: why it cannot support a rate that needs `need`, or None when it can."""
    out: list[str | None] = []
    for i in range(len(counts.n)):
        n, pos, neg = int(counts.n[i]), int(counts.positives[i]), int(counts.negatives[i])
        if n < min_group_size:
            out.append(f"n={n} < min_group_size {min_group_size}")
        elif need == "positives" and pos < min_outcome_count:
            out.append(f"{pos} favourable labels < min_outcome_count {min_outcome_count}")
        elif need == "negatives" and neg < min_outcome_count:
            out.append(f"{neg} unfavourable labels < min_outcome_count {min_outcome_count}")
        else:
            out.append(None)
    return out


def insufficient_reason(est: AxisEstimate, needs: tuple[str, ...], min_group_size: int,
                        min_outcome_count: int) -> str | None:
    problems: dict[str, str] = {}
    for need in needs:
        shortfalls = group_shortfalls(est.counts, need, min_group_size, min_outcome_count)
        for label, why in zip(est.axis.labels, shortfalls, strict=True):
            if why and label not in problems:
                problems[label] = why
    if not problems:
        return None
    listed = "; ".join(f"{label}: {why}" for label, why in problems.items())
    return f"too little data in {len(problems)} {est.axis.name} group(s) ({listed})"


def measurement_name(metric: str, axis: GroupAxis) -> str:
    """`dp_difference[sex]`; intersections get their own prefix so a policy can gate them apart."""
    return f"{'intersectional_' if axis.is_intersection else ''}{metric}[{axis.name}]"


def disparity_measurement(spec: DisparitySpec, est: AxisEstimate, min_group_size: int, min_outcome_count: int,
                          details: Mapping[str, Any]) -> Measurement:
    value = float(spec.compute(est.rates))
    reason = insufficient_reason(est, spec.needs, min_group_size, min_outcome_count)
    if not np.isfinite(value):
        reason = reason or "undefined for these predictions (no group has a non-zero rate)"
    return Measurement(
        name=measurement_name(spec.metric, est.axis),
        value=value,
        ci=percentile_ci(spec.compute(est.boot_rates)),
        higher_is_better=spec.higher_is_better,
        n=int(est.counts.n.sum()),
        description=spec.sentence.format(axis=est.axis.name),
        details={**details, "groups": list(est.axis.labels), "group_sizes": [int(v) for v in est.counts.n],
                 "fairlearn_equivalent": spec.fairlearn},
        insufficient_reason=reason,
    )
