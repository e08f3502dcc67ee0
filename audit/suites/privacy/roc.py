"""ROC metrics of a membership attack: AUC, best-threshold balanced accuracy, TPR at fixed low FPR.

Scores are "higher means more likely a member"; labels are 1 for members, 0 for non-members.
One engine serves the point estimate and the bootstrap: a weighted ROC over the scores sorted once,
where a bootstrap resample is a row of per-example counts. Resamples are stratified (members and
non-members resampled separately) so the evaluation set stays balanced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.stats import iter_resample_counts, percentile_ci

LOW_FPRS = (0.001, 0.01)
# Fewer expected false positives than this at a target FPR and the TPR there is noise, not evidence.
MIN_EXPECTED_FALSE_POSITIVES = 5
_CHUNK = 64


@dataclass(frozen=True)
class RocMetrics:
    """Metrics of one attack; `tpr_at` is aligned with `fprs`."""

    auc: float
    balanced_accuracy: float  # at the best threshold on these same rows (in-sample, hence optimistic)
    advantage: float  # max(TPR - FPR): the membership advantage at that threshold
    fprs: tuple[float, ...]
    tpr_at: tuple[float, ...]


@dataclass(frozen=True)
class RocCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray  # score threshold of each point: "member" when score >= threshold


def _sorted(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descending stable order, labels in that order, and the last index of each tied-score run."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    return order, labels[order].astype(bool), ends


def _class_cumsum(counts: np.ndarray, in_class: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(R, k) weight of `in_class` rows among the first ends[j] + 1 sorted rows, for each run end j."""
    upto = np.cumsum(in_class)[ends]  # rows of the class up to each run end (same for every resample)
    cum = np.cumsum(counts[:, in_class], axis=1, dtype=np.int64)
    cum = np.hstack([np.zeros((counts.shape[0], 1), np.int64), cum])
    return cum[:, upto].astype(float)


def _weighted_roc(weights: np.ndarray, is_pos: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, k+1) FPR and TPR for R rows of integer counts (already in score order); the first point is (0, 0)."""
    pos = _class_cumsum(weights, is_pos, ends)
    neg = _class_cumsum(weights, ~is_pos, ends)
    zeros = np.zeros((weights.shape[0], 1))
    tpr = np.hstack([zeros, pos / pos[:, -1:]])
    fpr = np.hstack([zeros, neg / neg[:, -1:]])
    return fpr, tpr


def _tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> np.ndarray:
    """Linear interpolation of each ROC row at `target` FPR (as np.interp; upper corner on vertical runs)."""
    j = (fpr <= target).sum(axis=1) - 1
    j_next = np.minimum(j + 1, fpr.shape[1] - 1)
    rows = np.arange(fpr.shape[0])
    x0, x1, y0, y1 = fpr[rows, j], fpr[rows, j_next], tpr[rows, j], tpr[rows, j_next]
    span = x1 - x0
    frac = np.divide(target - x0, span, out=np.zeros_like(span), where=span > 0)
    return y0 + frac * (y1 - y0)


def _metrics_rows(fpr: np.ndarray, tpr: np.ndarray, fprs: tuple[float, ...]) -> np.ndarray:
    """(R, 3 + len(fprs)): auc, balanced accuracy, advantage, TPR at each FPR."""
    auc = np.trapezoid(tpr, fpr, axis=1)
    advantage = (tpr - fpr).max(axis=1)
    cols = [auc, 0.5 + advantage / 2, advantage] + [_tpr_at_fpr(fpr, tpr, f) for f in fprs]
    return np.stack(cols, axis=1)


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> RocCurve:
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    order, is_pos, ends = _sorted(scores, labels)
    fpr, tpr = _weighted_roc(np.ones((1, scores.size), np.int64), is_pos, ends)
    thresholds = np.r_[np.inf, scores[order][ends]]
    return RocCurve(fpr=fpr[0], tpr=tpr[0], thresholds=thresholds)


def roc_metrics(scores: np.ndarray, labels: np.ndarray, fprs: tuple[float, ...] = LOW_FPRS) -> RocMetrics:
    curve = roc_curve(scores, labels)
    row = _metrics_rows(curve.fpr[None], curve.tpr[None], fprs)[0]
    return RocMetrics(
        auc=float(row[0]), balanced_accuracy=float(row[1]), advantage=float(row[2]),
        fprs=tuple(fprs), tpr_at=tuple(float(v) for v in row[3:]),
    )


_KEPT_COUNTS = 2  # the attacks on all evaluation rows, and ART's on its held-out half
_recent_counts: dict[tuple[bytes, int, int], np.ndarray] = {}


def stratified_counts(labels: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) bootstrap counts, members and non-members resampled separately.

    The attacks of one run share their rows, labels and seed, hence these counts: the latest few are kept
    (read-only, until `forget_resamples`) rather than drawn again for every attack."""
    key = (np.asarray(labels, np.int8).tobytes(), resamples, seed)
    if key in _recent_counts:
        return _recent_counts[key]
    counts = np.zeros((resamples, labels.size), np.int32)
    for offset, group in enumerate((np.flatnonzero(labels == 1), np.flatnonzero(labels == 0))):
        columns = _as_slice(group)
        start = 0
        for chunk in iter_resample_counts(group.size, resamples, seed + offset, dtype=np.int32):
            counts[start : start + chunk.shape[0], columns] = chunk
            start += chunk.shape[0]
    counts.flags.writeable = False
    if len(_recent_counts) >= _KEPT_COUNTS:
        del _recent_counts[next(iter(_recent_counts))]
    _recent_counts[key] = counts
    return counts


def _as_slice(rows: np.ndarray) -> np.ndarray | slice:
    """A run of consecutive rows as a slice (members come first in the evaluation set: a block copy, not a
    scatter over columns)."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def forget_resamples() -> None:
    """Drop the kept bootstrap counts (the suite calls this when it ends)."""
    _recent_counts.clear()


@dataclass(frozen=True)
class _RankPlan:
    """What every resample of one attack shares. Members and non-members each in descending score order, their
    rows of equal score pooled into levels (`*_starts`: where each level starts in that order; None when every
    score differs), and for each non-member level j how many member and non-member levels score above it
    (`*_gt`) or at least as high (`*_ge`)."""

    pos_order: np.ndarray
    neg_order: np.ndarray
    pos_starts: np.ndarray | None
    neg_starts: np.ndarray | None
    pos_gt: np.ndarray
    pos_ge: np.ndarray
    neg_gt: np.ndarray
    neg_ge: np.ndarray
    ties: bool  # some member ties some non-member


def _levels(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Rows in descending score order, where each run of equal scores starts (None: no ties), the run scores."""
    order = rows[np.argsort(-scores[rows], kind="stable")]
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if s.size else np.zeros(0, np.intp)
    return order, (None if starts.size == s.size else starts), s[starts]


def _rank_plan(scores: np.ndarray, labels: np.ndarray) -> _RankPlan:
    pos_order, pos_starts, pos_values = _levels(scores, np.flatnonzero(labels == 1))
    neg_order, neg_starts, neg_values = _levels(scores, np.flatnonzero(labels != 1))
    asc_pos, asc_neg = pos_values[::-1], neg_values[::-1]
    pos_gt = asc_pos.size - np.searchsorted(asc_pos, neg_values, side="right")
    pos_ge = asc_pos.size - np.searchsorted(asc_pos, neg_values, side="left")
    neg_gt = asc_neg.size - np.searchsorted(asc_neg, neg_values, side="right")
    neg_ge = neg_gt + 1
    return _RankPlan(pos_order, neg_order, pos_starts, neg_starts, pos_gt, pos_ge, neg_gt, neg_ge,
                     bool((pos_ge != pos_gt).any()))


def _level_cumulative(counts: np.ndarray, order: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    """(R, levels + 1) weight of the class's rows down to each level's end, from 0. int32 is exact (a row's
    total is the class's size) and halves the memory these sums stream through; products of two totals below
    are taken in int64."""
    out = np.zeros((counts.shape[0], order.size + 1), np.int32)
    np.cumsum(counts[:, order], axis=1, out=out[:, 1:])
    return out if starts is None else out[:, np.r_[0, starts[1:], order.size]]


def _tpr_at_fpr_ranked(p_cum: np.ndarray, n_cum: np.ndarray, plan: _RankPlan, w_pos: np.ndarray,
                       w_neg: np.ndarray, target: float) -> np.ndarray:
    """`_tpr_at_fpr` on each resample's ROC without building it: the curve crosses FPR = target inside the first
    non-member level that takes the FPR above target; interpolate across that level."""
    n_neg, rows = plan.neg_ge.size, np.arange(p_cum.shape[0])
    width = min(n_neg, int(target * n_neg * 2) + 64)  # enough levels in almost every resample; else widen
    while True:
        fpr_ge = n_cum[:, plan.neg_ge[:width]] / w_neg[:, None]
        if width == n_neg or (fpr_ge[:, -1] > target).all():
            break
        width = min(n_neg, width * 2)
    j = (fpr_ge <= target).sum(axis=1)  # the first level past target (rows are non-decreasing)
    j = np.minimum(j, n_neg - 1)  # (only for target >= 1)
    x0, x1 = n_cum[rows, plan.neg_gt[j]] / w_neg, n_cum[rows, plan.neg_ge[j]] / w_neg
    y0, y1 = p_cum[rows, plan.pos_gt[j]] / w_pos, p_cum[rows, plan.pos_ge[j]] / w_pos
    span = x1 - x0
    frac = np.divide(target - x0, span, out=np.zeros_like(span), where=span > 0)
    return y0 + frac * (y1 - y0)


def _ranked_metrics(counts: np.ndarray, plan: _RankPlan, fprs: tuple[float, ...]) -> np.ndarray:
    """`_metrics_rows` of the ROC under each row of bootstrap counts, from per-class running totals only:
    AUC as the weighted Mann-Whitney statistic (ties count one half, which is the trapezoid rule on the ROC);
    the best TPR - FPR over thresholds just above each non-member level (the maximum over all the ROC's
    points is at one of those, or is 0 at its ends); TPR at each FPR interpolated across one level."""
    p_cum = _level_cumulative(counts, plan.pos_order, plan.pos_starts)
    n_cum = _level_cumulative(counts, plan.neg_order, plan.neg_starts)
    w_neg_rows = np.diff(n_cum, axis=1)
    w_pos, w_neg = p_cum[:, -1].astype(np.int64), n_cum[:, -1].astype(np.int64)
    above = p_cum[:, plan.pos_gt]
    doubled = 2 * above + (p_cum[:, plan.pos_ge] - above) if plan.ties else 2 * above
    auc = np.einsum("ij,ij->i", w_neg_rows, doubled, dtype=np.int64) / (2.0 * w_pos * w_neg)
    gap = above * w_neg[:, None] - n_cum[:, plan.neg_gt] * w_pos[:, None]  # (TPR - FPR) * w_pos * w_neg, exact
    advantage = np.maximum(gap.max(axis=1), 0) / (w_pos * w_neg)
    cols = [auc, 0.5 + advantage / 2, advantage]
    cols += [_tpr_at_fpr_ranked(p_cum, n_cum, plan, w_pos, w_neg, f) for f in fprs]
    return np.stack(cols, axis=1)


def bootstrap_roc_cis(
    scores: np.ndarray, labels: np.ndarray, resamples: int, seed: int, fprs: tuple[float, ...] = LOW_FPRS
) -> dict[str, tuple[float, float]]:
    """95% percentile CIs of auc, balanced_accuracy, advantage and tpr@<fpr> from stratified resamples.

    Each resample's figures are those of `roc_metrics` on the resampled rows (tests compare them, and
    scikit-learn's weighted ROC); they are computed from each class's running totals in score order."""
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    plan = _rank_plan(scores, labels)
    counts = stratified_counts(labels, resamples, seed)
    samples = np.vstack([_ranked_metrics(counts[i : i + _CHUNK], plan, fprs) for i in range(0, resamples, _CHUNK)])
    names = ["auc", "balanced_accuracy", "advantage"] + [f"tpr@{f:g}" for f in fprs]
    return {name: percentile_ci(samples[:, k]) for k, name in enumerate(names)}


def low_fpr_insufficient(target_fpr: float, n_nonmembers: int) -> str | None:
    """Why TPR at `target_fpr` cannot be trusted with this many non-members (None when it can)."""
    expected = target_fpr * n_nonmembers
    if expected >= MIN_EXPECTED_FALSE_POSITIVES:
        return None
    needed = int(np.ceil(MIN_EXPECTED_FALSE_POSITIVES / target_fpr))
    return (
        f"only {n_nonmembers} non-members: at FPR {target_fpr:g} that is {expected:.1f} expected false "
        f"positives; at least {needed} non-members are needed"
    )


def log_grid_curve(curve: RocCurve, n_nonmembers: int, points: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """ROC sampled on a log-spaced FPR grid from 1/n_nonmembers to 1, for a log-log chart."""
    grid = np.geomspace(1.0 / max(n_nonmembers, 1), 1.0, points)
    tpr = np.interp(grid, curve.fpr, curve.tpr)
    keep = tpr > 0
    return grid[keep], tpr[keep]
