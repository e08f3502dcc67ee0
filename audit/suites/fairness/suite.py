"""FairnessSuite: group metrics, disparities with bootstrap CIs, flip test, proxies, mitigation preview."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from audit.data.types import Dataset
from audit.errors import AuditInputError, SuiteSkipped
from audit.evidence import RowEvidence, row_keys
from audit.suite import SuiteContext, SuiteOutput, merge_outputs
from audit.suites.fairness.params import FairnessParams
from audit.types import Measurement

# Salts separating the suite's independent random streams.
_SALT_BOOTSTRAP, _SALT_PROXY, _SALT_MITIGATION = 31, 32, 33
_NEEDS_QUERIES = ("needs a model that answers for changed inputs (--model FILE); a file of predictions answers only "
                  "for its own rows")


class FairnessSuite:
    name: ClassVar[str] = "fairness"
    pillar: ClassVar[str] = "fairness"
    requires: ClassVar[frozenset[str]] = frozenset({"sensitive-attributes"})
    description: ClassVar[str] = "Group outcome gaps with CIs, intersections, counterfactual flips, proxies, mitigation"
    Params = FairnessParams
    emits: ClassVar[tuple[str, ...]] = (
        *(f"{prefix}{metric}[*]" for prefix in ("", "intersectional_") for metric in (
            "dp_difference", "disparate_impact_ratio", "equal_opportunity_difference", "equalized_odds_difference",
            "accuracy_gap", "worst_group_accuracy")),
        "flip_rate[*]", "proxy_auroc[*]", "mitigation_accuracy_cost[*]", "mitigated_disparity[*]",
    )
    provides: ClassVar[tuple[str, ...]] = ("proxies",)  # attribute, feature, importance: read by explainability

    def params_for(self, preset: str) -> FairnessParams:
        if preset == "quick":
            return FairnessParams(resamples=200, proxy_max_rows=5_000, mitigation=False)
        return FairnessParams()

    def run(self, ctx: SuiteContext, params: FairnessParams) -> SuiteOutput:
        from audit.threads import one_thread

        # Our BLAS and torch work is many small products; a second thread on a busy 2-core runner spins
        # (measured: a proxy fit took 23 s with 2 threads, 0.4 s with 1).
        with one_thread(user_api="blas"):
            return self._run(ctx, params)

    def _run(self, ctx: SuiteContext, params: FairnessParams) -> SuiteOutput:
        from audit.suites.fairness.audit_groups import group_audit
        from audit.suites.fairness.groups import attribute_columns, build_axes
        from audit.suites.fairness.mitigation import BinaryOutcomes
        from audit.suites.fairness.sections import flip_section, mitigation_section, proxy_section

        data, model = ctx.data, ctx.model
        columns = attribute_columns(data.test.sensitive, params.attributes, params.missing_as_group)
        axes, single = build_axes(columns, params.intersections)
        if not axes:
            raise SuiteSkipped(
                "every audited sensitive attribute has a single group in the test data "
                f"({', '.join(single)}), so there is nothing to compare"
            )
        usable = {name: columns[name] for name in columns if name not in single}
        scores = (_checked_probabilities(model.ranking_scores(data.test.x), data.n_classes)
                  if model.can("score") else None)
        y_true = _checked_labels(data.test.y.numpy(), data.n_classes)
        y_pred = _checked_labels(model.predict(data.test.x), data.n_classes, "predicted")
        steps = 1 + params.flip_test + params.proxies + params.mitigation
        ctx.progress(0, steps, "fairness: group metrics")
        parts = [group_audit(data, axes, y_true, y_pred, params, ctx.rng(_SALT_BOOTSTRAP), ctx.seed)]
        parts.append(SuiteOutput(notes=tuple(
            f"{name} has a single group in the test data and is not compared." for name in single)))
        if params.flip_test and not model.can("queries"):
            parts.append(_flip_test_not_run(data))
        elif params.flip_test:
            ctx.progress(len(parts) - 1, steps, "fairness: counterfactual flips")
            parts.append(flip_section(model, data, y_pred, params.flip_max_values, params.max_groups))
        if params.proxies:
            ctx.progress(len(parts) - 1, steps, "fairness: proxies")
            parts.append(proxy_section(data, usable, ctx.rng(_SALT_PROXY), params))
        if params.mitigation and data.task == "binary" and scores is None:
            parts.append(SuiteOutput(notes=("Mitigation preview not run: group thresholds need scores that rank the "
                                            "rows (a model with scores, or --score-column / --proba-columns).",)))
        elif params.mitigation and data.task == "binary":
            ctx.progress(len(parts) - 1, steps, "fairness: mitigation preview")
            pos = data.positive_class
            assert scores is not None
            outcomes = BinaryOutcomes(scores=scores[:, pos], selected=y_pred == pos, y_pos=y_true == pos)
            few, many = _split_by_group_count(usable, params.max_groups)
            parts.append(mitigation_section(outcomes, few, ctx.rng(_SALT_MITIGATION), ctx.seed))
            parts.append(SuiteOutput(notes=tuple(
                f"Mitigation preview not run for {name}: more than max_groups = {params.max_groups} groups."
                for name in many)))
        ctx.progress(steps, steps, "fairness: done")
        return dataclasses.replace(merge_outputs(parts), evidence=_group_evidence(ctx, usable, y_true, y_pred, params))


def _group_evidence(ctx: SuiteContext, groups: dict[str, np.ndarray], y_true: np.ndarray, y_pred: np.ndarray,
                    params: FairnessParams) -> RowEvidence:
    """Per row: label, decision and group of each compared attribute, for paired comparisons of the disparities."""
    columns = {"label": y_true.astype(np.int64), "predicted": y_pred.astype(np.int64),
               **{f"group[{name}]": labels.astype(str) for name, labels in groups.items()}}
    meta = {"positive_class": ctx.data.positive_class, "n_classes": ctx.data.n_classes, "task": ctx.data.task,
            "intersections": params.intersections, "attributes": list(groups)}
    return RowEvidence("audit", row_keys(ctx.data.test.x, ctx.data.test.y), columns, meta)


def _flip_test_not_run(data: Dataset) -> SuiteOutput:
    """Sensitive model inputs whose direct use cannot be tested: shown as insufficient evidence, never passed."""
    reason = f"flip test not run: it {_NEEDS_QUERIES}"
    measurements = tuple(
        Measurement(f"flip_rate[{spec.name}]", float("nan"), None, False, len(data.test),
                    f"Share of decisions that change when only {spec.name} is changed to another value.",
                    {"not_run": "the model cannot be queried"}, reason)
        for spec in data.features if spec.sensitive)
    return SuiteOutput(measurements=measurements, notes=(f"Counterfactual {reason}.",))


def _split_by_group_count(columns: dict[str, np.ndarray],
                          max_groups: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Attributes with at most `max_groups` groups, and the names of the others (too many to fit thresholds for)."""
    few = {name: labels for name, labels in columns.items() if len(np.unique(labels)) <= max_groups}
    return few, [name for name in columns if name not in few]


def _checked_probabilities(proba: np.ndarray, n_classes: int) -> np.ndarray:
    if proba.ndim != 2 or proba.shape[1] != n_classes:
        raise AuditInputError(
            f"The model returns {proba.shape[1] if proba.ndim == 2 else proba.shape} outputs per row but the data "
            f"has {n_classes} classes; use a model and data set with the same classes."
        )
    if not np.isfinite(proba).all():
        raise AuditInputError("The model returns NaN or infinite outputs on the test data; fix the model or inputs.")
    return proba


def _checked_labels(y: np.ndarray, n_classes: int, kind: str = "test") -> np.ndarray:
    outside = (y < 0) | (y >= n_classes)
    if outside.any():
        raise AuditInputError(
            f"{int(outside.sum())} {kind} label(s) fall outside the {n_classes} known classes "
            f"(e.g. {int(y[outside][0])}); labels must be class indices 0..{n_classes - 1}."
        )
    return y


