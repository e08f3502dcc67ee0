"""Classification metrics as functions of per-row weights, so one formula serves the point estimate
(weights all 1) and every bootstrap resample (weights = multiplicities), vectorised as matrix products."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from audit.stats import macro_auc, weighted_auc

EPS = 1e-15
R = TypeVar("R")


_SHARED: dict[str, tuple[object, object, object]] | None = None  # active inside `shared_products()` only


@contextlib.contextmanager
def shared_products() -> Iterator[None]:
    """Inside the block, a metric helper called again with the very same predictions and weights objects returns
    its last result: several metrics share one product per bootstrap chunk (confusion counts for balanced accuracy
    and F1, accuracy for the lift over the majority class). The same call gives the same floats, so no figure
    changes. Only for callers that never modify a weights array between calls (the suite's fresh chunks)."""
    global _SHARED
    _SHARED = {}
    try:
        yield
    finally:
        _SHARED = None


def _reuse_last(fn: Callable[[Predictions, np.ndarray], R]) -> Callable[[Predictions, np.ndarray], R]:
    @functools.wraps(fn)
    def cached(p: Predictions, w: np.ndarray) -> R:
        if _SHARED is None:
            return fn(p, w)
        last = _SHARED.get(fn.__name__)
        if last is not None and last[0] is p and last[1] is w:
            return last[2]  # type: ignore[return-value]
        result = fn(p, w)
        _SHARED[fn.__name__] = (p, w, result)
        return result

    return cached


@dataclass(frozen=True)
class Predictions:
    """Labels and what the model gave: probabilities, or (a model without them) its decisions and maybe scores."""

    y: np.ndarray  # (n,) int class indices
    proba: np.ndarray | None  # (n, k) class probabilities; None when the model gives none
    decisions: np.ndarray | None = None  # (n,) the model's own classes; default: the most probable class
    scores: np.ndarray | None = None  # (n, k) monotone per-class scores; default: the probabilities
    classes: int = 0  # k, needed only when there are neither probabilities nor scores

    @property
    def n_classes(self) -> int:
        ranked = self.ranking
        return ranked.shape[1] if ranked is not None else self.classes

    @property
    def ranking(self) -> np.ndarray | None:
        return self.scores if self.scores is not None else self.proba

    @property
    def pred(self) -> np.ndarray:
        if self.decisions is not None:
            return self.decisions
        assert self.proba is not None
        return self.proba.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        assert self.proba is not None
        return self.proba.max(axis=1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@_reuse_last
def confusion_counts(p: Predictions, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn), each (r, k), weighted."""
    k = p.n_classes
    y1 = np.eye(k)[p.y]
    p1 = np.eye(k)[p.pred]
    tp = w @ (y1 * p1)
    return tp, w @ p1 - tp, w @ y1 - tp


@_reuse_last
def accuracy(p: Predictions, w: np.ndarray) -> np.ndarray:
    return (w @ (p.pred == p.y).astype(float)) / w.sum(axis=1)


def majority_share(p: Predictions, w: np.ndarray) -> np.ndarray:
    """Accuracy of always answering the most common class of these rows (the trivial baseline)."""
    counts = w @ np.eye(p.n_classes)[p.y]
    return counts.max(axis=1) / w.sum(axis=1)


def accuracy_over_majority(p: Predictions, w: np.ndarray) -> np.ndarray:
    return accuracy(p, w) - majority_share(p, w)


def balanced_accuracy(p: Predictions, w: np.ndarray) -> np.ndarray:
    tp, _, fn = confusion_counts(p, w)
    recall = _ratio(tp, tp + fn)
    return np.nanmean(recall, axis=1)  # sklearn: classes absent from y are ignored


def macro_f1(p: Predictions, w: np.ndarray) -> np.ndarray:
    tp, fp, fn = confusion_counts(p, w)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return np.nan_to_num(f1, nan=0.0).mean(axis=1)  # sklearn's zero_division=0 convention


def log_loss(p: Predictions, w: np.ndarray) -> np.ndarray:
    probs = p.proba / p.proba.sum(axis=1, keepdims=True)
    row = -np.log(np.clip(probs[np.arange(p.y.size), p.y], EPS, 1.0))
    return (w @ row) / w.sum(axis=1)


def brier(p: Predictions, w: np.ndarray, positive: int = 1) -> np.ndarray:
    """Binary: squared error of P(positive) (sklearn's brier_score_loss); multiclass: summed over classes."""
    if p.n_classes == 2:
        row = (p.proba[:, positive] - (p.y == positive)) ** 2
    else:
        row = ((p.proba - np.eye(p.n_classes)[p.y]) ** 2).sum(axis=1)
    return (w @ row) / w.sum(axis=1)


def calibration_bins(p: Predictions, w: np.ndarray, bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin (count, accuracy, mean confidence) of top-label confidence, equal-width bins on [0, 1]."""
    conf = p.confidence
    which = np.minimum((conf * bins).astype(int), bins - 1)
    onehot = np.eye(bins)[which]
    count = w @ onehot
    correct = w @ (onehot * (p.proba.argmax(axis=1) == p.y)[:, None])  # top-label calibration, whatever decided
    mean_conf = w @ (onehot * conf[:, None])
    return count, _ratio(correct, count), _ratio(mean_conf, count)


def expected_calibration_error(p: Predictions, w: np.ndarray, bins: int = 15) -> np.ndarray:
    count, acc, conf = calibration_bins(p, w, bins)
    gap = np.nan_to_num(np.abs(acc - conf), nan=0.0)
    return (count * gap).sum(axis=1) / count.sum(axis=1)


def auroc(p: Predictions, w: np.ndarray, positive: int = 1) -> np.ndarray:
    """Binary AUROC on P(positive) (or the positive class's score); multiclass: macro one-vs-rest (sklearn "ovr")."""
    ranked = p.ranking
    assert ranked is not None
    if p.n_classes == 2:
        return weighted_auc(ranked[:, positive], p.y == positive, w)
    return macro_auc(ranked, p.y, w)
