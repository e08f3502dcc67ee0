"""How far a variant's decisions move from the fp32 model's on the same rows: accuracy, agreement, and the
demographic-parity and equalized-odds gaps per sensitive column, each with a paired bootstrap CI.

The resample weights and the group-gap engine are the remedies suite's (audit.suites.remedies.paired, built on the
fairness suite's counts -> rates -> gaps), so a gap here equals the fairness suite's figure on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.suites.remedies.paired import Samples, group_gaps, mean_samples
from audit.types import Measurement

MIN_GROUP_ROWS = 30  # smaller groups make a parity gap mostly noise: they are left out of the gaps (and named)
GAPS = {"dp_difference": "demographic-parity gap (spread of the positive-prediction rate)",
        "equalized_odds_difference": "equalized-odds gap (larger of the TPR and FPR spreads)"}


def _measurement(name: str, s: Samples, n: int, description: str, details: dict,
                 insufficient: str | None = None) -> Measurement:
    return Measurement(name, s.point, s.ci, None, n, description, details, insufficient_reason=insufficient)


def decision_drift(kind: str, y: np.ndarray, base_pred: np.ndarray, pred: np.ndarray, w: np.ndarray,
                   details: dict) -> list[Measurement]:
    """Accuracy change (variant minus fp32, paired) and the share of unchanged predictions."""
    n = len(y)
    gain = mean_samples(pred == y, w).minus(mean_samples(base_pred == y, w))
    agree = mean_samples(pred == base_pred, w)
    return [
        _measurement(f"accuracy_drift[{kind}]", gain, n, f"Change in accuracy when the {kind} variant replaces fp32 "
                     "on the same rows (paired bootstrap CI).", details),
        Measurement(f"prediction_agreement[{kind}]", agree.point, agree.ci, True, n,
                    f"Share of predictions unchanged when the {kind} variant replaces fp32.", details),
    ]


def gap_drift(kind: str, attr: str, groups: pd.Series, y: np.ndarray, base_pred: np.ndarray, pred: np.ndarray,
              w: np.ndarray, positive: int, n_classes: int, details: dict) -> list[Measurement]:
    """Per gap: the variant's gap between `attr` groups minus fp32's, on the same rows and resamples."""
    labels = groups.astype(str).to_numpy()
    names, counts = np.unique(labels, return_counts=True)
    included = [str(g) for g, c in zip(names, counts, strict=True) if c >= MIN_GROUP_ROWS]
    keep = np.isin(labels, included)
    info = {**details, "groups": included, "left_out_groups": sorted(set(names) - set(included)),
            "min_group_rows": MIN_GROUP_ROWS, "rows_in_groups": int(keep.sum())}
    if len(included) < 2:
        why = f"fewer than two {attr} groups with {MIN_GROUP_ROWS}+ rows"
        return [Measurement(f"{metric}_drift[{kind},{attr}]", float("nan"), None, None, int(keep.sum()),
                            f"Change in the {words} between {attr} groups ({kind} minus fp32).", info,
                            insufficient_reason=why) for metric, words in GAPS.items()]
    args = (pd.Series(labels[keep]), positive, n_classes, w[:, keep], MIN_GROUP_ROWS)
    base = group_gaps(y[keep], base_pred[keep], *args)
    variant = group_gaps(y[keep], pred[keep], *args)
    return [_measurement(
        f"{metric}_drift[{kind},{attr}]", variant.samples[metric].minus(base.samples[metric]), int(keep.sum()),
        f"Change in the {words} between {attr} groups when the {kind} variant replaces fp32 (positive: wider).",
        info, variant.insufficient[metric] or base.insufficient[metric]) for metric, words in GAPS.items()]
