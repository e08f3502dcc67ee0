"""Regression gates: each compared measurement with a margin becomes a check on the CI of its change."""

from __future__ import annotations

from collections.abc import Sequence

from audit.compare.types import ComparedMeasurement
from audit.policy.regression import Margin, RegressionPolicy, judge_difference
from audit.types import Check, Threshold, Verdict

PREFIX = "regression."


def regression_checks(rows: Sequence[ComparedMeasurement], policy: RegressionPolicy) -> list[Check]:
    checks = []
    for row in rows:
        margin = policy.match(row.key)
        if margin is not None and row.baseline.value is not None:  # a figure new in the candidate cannot regress
            checks.append(_check(row, margin))
    return checks


def _threshold(margin: Margin) -> Threshold:
    """The margin as a bound on the change, so reports and gating read it like any threshold."""
    low = None if margin.max_drop is None else -margin.max_drop
    return Threshold(PREFIX + margin.metric, low, margin.max_rise, "ci", margin.severity)


def _check(row: ComparedMeasurement, margin: Margin) -> Check:
    base = dict(key=PREFIX + row.key, value=row.difference, ci=row.ci, threshold=_threshold(margin),
                description=f"Change of {row.key} against the baseline (candidate − baseline); "
                            f"it {margin.bound_text()} ({row.method}).")
    missing = _missing_evidence(row)
    if missing:
        return Check(verdict=Verdict.INSUFFICIENT_EVIDENCE, reason=missing, **base)
    judged = judge_difference(margin, row.difference if row.difference is not None else float("nan"), row.ci)
    return Check(verdict=judged.verdict, reason=judged.reason, **base)


def _missing_evidence(row: ComparedMeasurement) -> str | None:
    if row.candidate.value is None:
        return "the candidate run has no figure for it (its suite was skipped, errored or not run)"
    reasons = [f"{side}: {s.insufficient_reason}" for side, s in (("baseline", row.baseline),
                                                                  ("candidate", row.candidate))
               if s.insufficient_reason]
    return "insufficient evidence in " + "; ".join(reasons) if reasons else None
