"""Accuracy and calibration: headline metrics with seeded bootstrap CIs, confusion, reliability."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from audit.evidence import RowEvidence, prediction_columns, row_keys
from audit.stats import iter_resample_counts, percentile_ci, wilson_interval
from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.suites.accuracy import metrics as mx
from audit.suites.accuracy.report import class_tables, reliability_chart
from audit.threads import torch_threads
from audit.types import Measurement

MetricFn = Callable[[mx.Predictions, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AccuracyParams:
    bootstrap_resamples: int = bounded(1000, min=1)
    calibration_bins: int = bounded(15, min=1)
    min_rows: int = bounded(30, min=1)  # fewer audited rows than this: every figure is insufficient evidence


@dataclass(frozen=True)
class _Metric:
    name: str
    fn: MetricFn
    higher_is_better: bool
    description: str
    needs: str = "predict"  # the model capability the figure is computed from


_NOT_COMPUTED = {
    "score": "not computed: the model gives predicted classes only, no scores that rank the rows "
             "(for a prediction file: --score-column or --proba-columns)",
    "predict_proba": "not computed: calibration needs class probabilities in [0, 1], and the model gives "
                     "{what} (for a prediction file: --proba-columns, or a --score-column of probabilities)",
}


def _metrics(positive: int, bins: int) -> tuple[_Metric, ...]:
    return (
        _Metric("accuracy", mx.accuracy, True, "Share of audited rows the model classifies correctly."),
        _Metric("accuracy_over_majority", mx.accuracy_over_majority, True,
                "How much more often the model is right than always answering the most common class "
                "(zero or below: no better than that trivial rule)."),
        _Metric("balanced_accuracy", mx.balanced_accuracy, True,
                "Average of the per-class recall, so a rare class counts as much as a common one."),
        _Metric("macro_f1", mx.macro_f1, True, "Average F1 score over classes (balance of precision and recall)."),
        _Metric("auroc", lambda p, w: mx.auroc(p, w, positive), True,
                "Probability that the model ranks a random positive above a random negative (0.5 is chance).",
                "score"),
        _Metric("log_loss", mx.log_loss, False, "Average negative log-probability given to the true class.",
                "predict_proba"),
        _Metric("brier", lambda p, w: mx.brier(p, w, positive), False,
                "Mean squared error of the predicted probabilities (lower is better calibrated and sharper).",
                "predict_proba"),
        _Metric("ece", lambda p, w: mx.expected_calibration_error(p, w, bins), False,
                f"Expected calibration error over {bins} confidence bins: how far stated confidence is from "
                "observed accuracy.", "predict_proba"),
    )


class AccuracySuite:
    name: ClassVar[str] = "accuracy"
    pillar: ClassVar[str] = "accuracy"
    requires: ClassVar[frozenset[str]] = frozenset()
    description: ClassVar[str] = "Accuracy, balanced accuracy, F1, AUROC, log loss, Brier, ECE with bootstrap CIs"
    emits: ClassVar[tuple[str, ...]] = ("accuracy", "accuracy_over_majority", "balanced_accuracy", "macro_f1", "auroc",
                                        "log_loss", "brier", "ece", "recall[*]")
    Params = AccuracyParams

    def params_for(self, preset: str) -> AccuracyParams:
        return AccuracyParams(bootstrap_resamples=200 if preset == "quick" else 1000)

    def run(self, ctx: SuiteContext, params: AccuracyParams) -> SuiteOutput:
        split = ctx.data.test
        ctx.progress(0, 3, "predicting")
        with torch_threads(1):  # one forward pass of small products: a second torch thread spins (20x the CPU)
            preds = model_predictions(ctx)
        ctx.progress(1, 3, "bootstrapping")
        headline = _headline(preds, ctx, params)
        ctx.progress(2, 3, "per-class figures")
        per_class = _per_class_recall(preds, ctx.data.class_names, params.min_rows)
        tables, charts = class_tables(preds, ctx.data.class_names)
        if preds.proba is not None:
            charts = (reliability_chart(preds, params.calibration_bins), *charts)
        ctx.progress(3, 3, "done")
        evidence = None if preds.proba is None else RowEvidence(
            "audit", row_keys(split.x, split.y), prediction_columns(preds.y, preds.proba),
            {"positive_class": ctx.data.positive_class, "class_names": list(ctx.data.class_names),
             "calibration_bins": params.calibration_bins})
        return SuiteOutput(measurements=(*headline, *per_class), tables=tables, charts=charts,
                           notes=_notes(headline, ctx), evidence=evidence)


def model_predictions(ctx: SuiteContext) -> mx.Predictions:
    """Whatever the model gives on the audited rows: probabilities, else its decisions and any scores."""
    model, split = ctx.model, ctx.data.test
    y = split.y.numpy().astype(int)
    if model.can("predict_proba"):
        return mx.Predictions(y=y, proba=model.predict_proba(split.x))
    scores = model.ranking_scores(split.x) if model.can("score") else None
    return mx.Predictions(y=y, proba=None, decisions=model.predict(split.x), scores=scores,
                          classes=ctx.data.n_classes)


def _headline(p: mx.Predictions, ctx: SuiteContext, params: AccuracyParams) -> list[Measurement]:
    metrics = [m for m in _metrics(ctx.data.positive_class, params.calibration_bins) if _available(m, p)]
    ones = np.ones((1, p.y.size))
    boot = {m.name: [] for m in metrics}
    with mx.shared_products():  # each chunk is a fresh array, never modified
        for w in iter_resample_counts(p.y.size, params.bootstrap_resamples, ctx.seed):
            for m in metrics:
                boot[m.name].append(m.fn(p, w))
    details = {"bootstrap_resamples": params.bootstrap_resamples, "seed": ctx.seed, "ci_level": 0.95,
               "calibration_bins": params.calibration_bins}
    every = _metrics(ctx.data.positive_class, params.calibration_bins)
    return [_measure(m, float(m.fn(p, ones)[0]), np.concatenate(boot[m.name]), p, params, details)
            if m.name in boot else _not_computed(m, p, ctx) for m in every]


def _available(m: _Metric, p: mx.Predictions) -> bool:
    return {"predict": True, "score": p.ranking is not None, "predict_proba": p.proba is not None}[m.needs]


def _not_computed(m: _Metric, p: mx.Predictions, ctx: SuiteContext) -> Measurement:
    """A figure the model's capabilities do not allow: shown, never judged as a pass (insufficient evidence)."""
    what = "scores that are not probabilities" if p.ranking is not None else "predicted classes only"
    reason = _NOT_COMPUTED[m.needs].format(what=what)
    return Measurement(m.name, float("nan"), None, m.higher_is_better, int(p.y.size), m.description,
                       {"needs": m.needs, "model_capabilities": sorted(ctx.model.capabilities)}, reason)


def _measure(m: _Metric, value: float, samples: np.ndarray, p: mx.Predictions, params: AccuracyParams,
             details: dict) -> Measurement:
    reason = None
    if p.y.size < params.min_rows:
        reason = f"only {p.y.size} audited rows (minimum {params.min_rows})"
    elif not np.isfinite(value):
        reason = "undefined on these rows (a class has no examples)"
    ci = percentile_ci(samples) if np.isfinite(value) else None
    return Measurement(m.name, value, ci, m.higher_is_better, int(p.y.size), m.description, details, reason)


def _per_class_recall(p: mx.Predictions, class_names: tuple[str, ...], min_rows: int) -> list[Measurement]:
    out = []
    for k, label in enumerate(class_names):
        mask = p.y == k
        n, hits = int(mask.sum()), int((p.pred[mask] == k).sum())
        reason = None if n >= min_rows else f"only {n} rows of class {label!r} (minimum {min_rows})"
        out.append(Measurement(
            f"recall[{label}]", hits / n if n else float("nan"), wilson_interval(hits, n), True, n,
            f"Share of true '{label}' rows the model recognises (95% Wilson interval).",
            {"class_index": k}, reason,
        ))
    return out


def _notes(headline: list[Measurement], ctx: SuiteContext) -> tuple[str, ...]:
    by = {m.name: m for m in headline}
    acc, bal, ece = by["accuracy"], by["balanced_accuracy"], by["ece"]
    notes = [f"Evaluated on {acc.n} held-out rows of '{ctx.data.name}'; intervals are 95% bootstrap percentiles."]
    if acc.value - bal.value > 0.05:
        notes.append(f"Accuracy ({acc.value:.3f}) exceeds balanced accuracy ({bal.value:.3f}): the model does "
                     "noticeably worse on the rarer class(es).")
    if ece.value > 0.05:
        notes.append(f"Calibration error is {ece.value:.3f}: stated confidence should not be read as a probability "
                     "without recalibration.")
    skipped = [m for m in headline if m.details.get("needs") and m.insufficient_reason]
    for reason in dict.fromkeys(m.insufficient_reason for m in skipped):
        names = ", ".join(m.name for m in skipped if m.insufficient_reason == reason)
        notes.append(f"{names}: {reason}.")
    return tuple(notes)
