"""Measurements recomputed from per-row evidence under row weights, so one resample serves both models.

An `Evaluator` maps a (resamples, n) matrix of bootstrap multiplicities to each measurement's value in each
resample; weights of all ones give the point estimate. It reuses the suites' own formulas (accuracy metrics,
fairness group rates, the shared weighted AUC), so a recomputed figure equals the scorecard's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from audit.evidence import LoadedEvidence, probabilities_of
from audit.stats import weighted_auc


@dataclass(frozen=True, eq=False)
class Resample:
    """A block of bootstrap multiplicities (resamples, n), integer, with its float views made once and shared
    by both models and every measurement (integer counts keep the AUCs exact and their memory small)."""

    counts: np.ndarray

    @cached_property
    def float64(self) -> np.ndarray:
        return self.counts.astype(np.float64)

    @cached_property
    def float32(self) -> np.ndarray:
        return self.counts.astype(np.float32)

    @classmethod
    def point(cls, n: int) -> Resample:
        """Every row once: the point estimate."""
        return cls(np.ones((1, n), dtype=np.int16))


Evaluator = Callable[[Resample], dict[str, np.ndarray]]


@dataclass(frozen=True, eq=False)
class EvidenceStatistics:
    """The measurements of one suite that its evidence can recompute, and how."""

    names: frozenset[str]
    evaluate: Evaluator


def statistics_for(evidence: LoadedEvidence, wanted: Iterable[str]) -> EvidenceStatistics:
    """Every measurement in `wanted` this evidence supports: the suite's own formulas, measurement-named columns
    (their mean) or column pairs (the ratio of their sums), and membership scores (their AUC)."""
    wanted = set(wanted)
    parts = [_column_means(evidence, wanted), _column_ratios(evidence, wanted), _membership_aucs(evidence, wanted)]
    if evidence.suite == "accuracy":
        parts.append(_accuracy(evidence, wanted))
    if evidence.suite == "fairness":
        parts.append(_fairness(evidence, wanted))
    parts = [p for p in parts if p.names]
    names = frozenset().union(*(p.names for p in parts)) if parts else frozenset()

    def evaluate(weights: Resample) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for part in parts:
            out.update(part.evaluate(weights))
        return out

    return EvidenceStatistics(names, evaluate)


def _column_ratios(ev: LoadedEvidence, wanted: set[str]) -> EvidenceStatistics:
    """`<name>#num` and `<name>#den` columns: the measurement is the ratio of their (weighted) sums, as a share of
    total attribution is."""
    names = sorted(n for n in wanted if f"{n}#num" in ev.frame.columns and f"{n}#den" in ev.frame.columns)
    if not names:
        return EvidenceStatistics(frozenset(), lambda w: {})
    num = np.stack([ev.column(f"{n}#num") for n in names], axis=1).astype(float)
    den = np.stack([ev.column(f"{n}#den") for n in names], axis=1).astype(float)

    def evaluate(w: Resample) -> dict[str, np.ndarray]:
        top, bottom = w.float64 @ num, w.float64 @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), 0.0)
        return {n: share[:, i] for i, n in enumerate(names)}

    return EvidenceStatistics(frozenset(names), evaluate)


def _column_means(ev: LoadedEvidence, wanted: set[str]) -> EvidenceStatistics:
    names = sorted(n for n in wanted if n in ev.frame.columns and ev.frame[n].dtype.kind == "f")
    if not names:
        return EvidenceStatistics(frozenset(), lambda w: {})
    values = np.stack([ev.column(n) for n in names], axis=1)
    present = np.isfinite(values)
    filled = np.where(present, values, 0.0)

    def evaluate(w: Resample) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (w.float64 @ filled) / (w.float64 @ present.astype(float))
        return {n: means[:, i] for i, n in enumerate(names)}

    return EvidenceStatistics(frozenset(names), evaluate)


def _membership_aucs(ev: LoadedEvidence, wanted: set[str]) -> EvidenceStatistics:
    if "member" not in ev.frame.columns:
        return EvidenceStatistics(frozenset(), lambda w: {})
    member = ev.column("member") == 1
    keys = {n: f"score[{n[len('membership_auc['):-1]}]" for n in wanted if n.startswith("membership_auc[")}
    keys = {n: c for n, c in keys.items() if c in ev.frame.columns}

    def evaluate(w: Resample) -> dict[str, np.ndarray]:
        out = {}
        for name, column in keys.items():
            scores = ev.column(column)
            scored = np.isfinite(scores)  # an attack may score only part of the rows
            counts = w.counts if scored.all() else w.counts[:, scored]
            out[name] = weighted_auc(scores[scored], member[scored], counts)
        return out

    return EvidenceStatistics(frozenset(keys), evaluate)


def _accuracy(ev: LoadedEvidence, wanted: set[str]) -> EvidenceStatistics:
    from audit.suites.accuracy import metrics as mx

    _Predictions = _predictions_type()
    p = _Predictions(y=ev.column("label").astype(int), proba=probabilities_of(ev))
    positive, bins = int(ev.meta.get("positive_class", 1)), int(ev.meta.get("calibration_bins", 15))
    formulas: dict[str, Callable[[Resample], np.ndarray]] = {
        "accuracy": lambda w: mx.accuracy(p, w.float64),
        "accuracy_over_majority": lambda w: mx.accuracy_over_majority(p, w.float64),
        "balanced_accuracy": lambda w: mx.balanced_accuracy(p, w.float64),
        "macro_f1": lambda w: mx.macro_f1(p, w.float64),
        "auroc": lambda w: mx.auroc(p, w.counts, positive),  # integer counts: the exact, faster AUC path
        "log_loss": lambda w: mx.log_loss(p, w.float64),
        "brier": lambda w: mx.brier(p, w.float64, positive),
        "ece": lambda w: mx.expected_calibration_error(p, w.float64, bins),
    }
    for k, label in enumerate(ev.meta.get("class_names", [])):
        formulas[f"recall[{label}]"] = _recall(p.y == k, p.pred == k)
    chosen = {n: f for n, f in formulas.items() if n in wanted}

    def evaluate(w: Resample) -> dict[str, np.ndarray]:
        return {n: f(w) for n, f in chosen.items()}

    return EvidenceStatistics(frozenset(chosen), evaluate)


def _predictions_type() -> type:
    from audit.suites.accuracy.metrics import Predictions

    @dataclass(frozen=True)
    class Cached(Predictions):
        """The same predictions; argmax and confidence computed once, not on every resample chunk."""

        @cached_property
        def pred(self) -> np.ndarray:
            return self.proba.argmax(axis=1)

        @cached_property
        def confidence(self) -> np.ndarray:
            return self.proba.max(axis=1)

    return Cached


def _recall(is_class: np.ndarray, predicted: np.ndarray) -> Callable[[Resample], np.ndarray]:
    hits, rows = (is_class & predicted).astype(float), is_class.astype(float)

    def recall(w: Resample) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w.float64 @ hits) / (w.float64 @ rows)

    return recall


def _fairness(ev: LoadedEvidence, wanted: set[str]) -> EvidenceStatistics:
    from audit.suites.fairness import measures
    from audit.suites.fairness.disparity import GroupCounts, GroupRates, indicator_matrix
    from audit.suites.fairness.groups import build_axes

    columns = {c[len("group["):-1]: ev.column(c).astype(str) for c in ev.frame.columns if c.startswith("group[")}
    axes, _ = build_axes(columns, bool(ev.meta.get("intersections", True)))
    specs = measures.BINARY_SPECS if ev.meta.get("task", "binary") == "binary" else measures.MULTICLASS_SPECS
    plan = {axis.name: [(n, s) for s in specs if (n := measures.measurement_name(s.metric, axis)) in wanted]
            for axis in axes}
    used = [a for a in axes if plan[a.name]]
    if not used:
        return EvidenceStatistics(frozenset(), lambda w: {})
    # Every axis's groups stacked, so one product per resample chunk gives all group counts.
    membership = np.vstack([a.membership() for a in used])
    bounds = np.cumsum([0, *(len(a.labels) for a in used)])
    indicators = indicator_matrix(ev.column("label"), ev.column("predicted"), int(ev.meta.get("positive_class", 1)),
                                  int(ev.meta.get("n_classes", 2)))

    # The per-group indicator columns of resampled_group_sums, built once rather than per resample chunk.
    per_group = _per_group_indicators(indicators, membership)
    groups, k = membership.shape[0], indicators.shape[1]

    def evaluate(w: Resample) -> dict[str, np.ndarray]:
        sums = (w.float32 @ per_group).reshape(w.counts.shape[0], groups, k).astype(np.float64)
        out = {}
        for i, axis in enumerate(used):
            rates = GroupRates.of(GroupCounts.from_sums(sums[:, bounds[i]:bounds[i + 1]]))
            out.update({measurement: np.asarray(spec.compute(rates), float) for measurement, spec in plan[axis.name]})
        return out

    return EvidenceStatistics(frozenset(n for items in plan.values() for n, _ in items), evaluate)


def _per_group_indicators(indicators: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """(n, groups * k): row i's indicators in the block of its group, zeros elsewhere (float32 holds the counts
    exactly below 2**24 rows), so `weights @ this` sums every group's indicators in every resample."""
    groups, k = membership.shape[0], indicators.shape[1]
    return (membership.T[:, :, None] * indicators[:, None, :]).reshape(indicators.shape[0], groups * k).astype(
        np.float32)
