"""Leakage: audit rows that also occur in the training rows, exactly or after rounding, and label conflicts.

Rows are compared by a content hash of the model inputs (pixels for images; the raw text, as written and
normalised, for a tokenised text classifier). Distinct people can share a row when features are coarse, so the
share of training rows with an identical twin elsewhere in training is the rate chance alone produces; the
excess over it is what a copied or overlapping split adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.data.text import RAW_TEXT
from audit.data.types import Dataset
from audit.stats import wilson_interval
from audit.suite import SuiteOutput
from audit.suites.data.params import DataParams
from audit.suites.data.proportions import row_keys, share_difference
from audit.suites.data.sections import NO_TRAINING, is_tokenised_text, rounded, skipped
from audit.types import Measurement, Table

# Reported as insufficient when the part is skipped, so a gate on them cannot pass.
HEADLINE = ("leakage_excess_share", "near_duplicate_excess_share", "leakage_exact_share", "near_duplicate_share",
            "label_conflict_share")
MAX_LISTED = 20
NORMALISED_TEXT = "lower-cased, with punctuation and spacing removed"  # near duplicates of raw text


@dataclass(frozen=True)
class Overlap:
    in_training: np.ndarray  # (n_audit,) bool: the audit row's key occurs among the training keys
    training_twins: int  # training rows whose key occurs more than once in training (chance collisions)
    n_train: int

    @property
    def excess(self) -> tuple[float, tuple[float, float]]:
        return share_difference(int(self.in_training.sum()), self.in_training.size, self.training_twins,
                                self.n_train)


def overlap(train_keys: np.ndarray, audit_keys: np.ndarray) -> Overlap:
    _, inverse, counts = np.unique(train_keys, return_inverse=True, return_counts=True)
    return Overlap(np.isin(audit_keys, train_keys), int((counts[inverse] > 1).sum()), train_keys.size)


def numeric_columns(data: Dataset, width: int) -> np.ndarray:
    """Model-input columns holding numeric values (all of them for images or data without feature specs)."""
    if data.input_kind == "image" or not data.features:
        return np.arange(width)
    return np.array([c for f in data.features if f.kind == "numeric" for c in f.columns], dtype=int)


def rounded_rows(x: np.ndarray, columns: np.ndarray, scale: np.ndarray, tolerance: float) -> np.ndarray:
    """Numeric columns snapped to a grid of `tolerance` x their training SD (constant columns stay exact)."""
    out = x.astype(np.float64).copy()
    step = tolerance * scale
    usable = step > 0
    chosen = columns[usable]
    out[:, chosen] = np.round(out[:, chosen] / step[usable])
    return out


def leakage(data: Dataset, params: DataParams) -> SuiteOutput:
    if data.train is None or len(data.train) == 0:
        return skipped(HEADLINE, NO_TRAINING, "Leakage")
    if is_tokenised_text(data) and data.train.raw is not None and data.test.raw is not None:
        exact_tr, exact_te, near_tr, near_te = (_text_keys(s.raw[RAW_TEXT], normalise)
                                                for normalise in (False, True) for s in (data.train, data.test))
        tolerance_text, extra = NORMALISED_TEXT, {"compared": "raw text"}
    else:
        xtr = data.train.x.reshape(len(data.train), -1).numpy()
        xte = data.test.x.reshape(len(data.test), -1).numpy()
        exact_tr, exact_te = row_keys(xtr), row_keys(xte)
        columns = numeric_columns(data, xtr.shape[1])
        scale = xtr[:, columns].astype(np.float64).std(axis=0)
        tol = params.near_duplicate_tolerance
        near_tr = row_keys(rounded_rows(xtr, columns, scale, tol))
        near_te = row_keys(rounded_rows(xte, columns, scale, tol))
        tolerance_text = f"numeric columns rounded to multiples of {tol:g} training standard deviations"
        extra = {"tolerance_sd": tol}
    exact, near = overlap(exact_tr, exact_te), overlap(near_tr, near_te)
    labels = np.concatenate([data.train.y.numpy(), data.test.y.numpy()])
    measurements = (
        *_overlap_measurements("leakage", exact, "identical to a training row"),
        *_overlap_measurements("near_duplicate", near, f"identical to a training row once {tolerance_text}", extra),
        _conflicts(np.concatenate([exact_tr, exact_te]), labels),
    )
    return SuiteOutput(measurements=measurements, tables=(_table(exact, near, tolerance_text),),
                       notes=_notes(exact, near, "normalising" if "compared" in extra else "rounding"))


def _text_keys(texts: pd.Series, normalise: bool) -> np.ndarray:
    """A 64-bit hash per text, as written or lower-cased with punctuation and spacing removed."""
    values = texts.astype(str)
    if normalise:
        values = values.str.lower().str.replace(r"[\W_]+", " ", regex=True).str.strip()
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def _overlap_measurements(prefix: str, o: Overlap, what: str, extra: dict | None = None) -> tuple[Measurement, ...]:
    k, n = int(o.in_training.sum()), o.in_training.size
    excess, ci = o.excess
    details = {"audit_rows_in_training": k, "training_rows_with_twin": o.training_twins, "n_train": o.n_train,
               "audit_row_indices": np.flatnonzero(o.in_training)[:MAX_LISTED].tolist(), **(extra or {})}
    name = "leakage_exact" if prefix == "leakage" else prefix
    return (
        Measurement(f"{name}_share", k / n, wilson_interval(k, n), False, n,
                    f"Share of audit rows {what} (95% Wilson interval).", details),
        Measurement(f"{prefix}_excess_share", excess, ci, False, n,
                    f"Share of audit rows {what}, minus the share of training rows with an identical twin in "
                    "training (what chance collisions of coarse features produce); Newcombe 95% interval.",
                    details),
    )


def _conflicts(keys: np.ndarray, labels: np.ndarray) -> Measurement:
    """Rows (training and audit pooled) whose identical inputs carry another label elsewhere."""
    _, inverse = np.unique(keys, return_inverse=True)
    inverse, labels = inverse.ravel(), np.asarray(labels, dtype=np.int64)
    # distinct (key, label) pairs as one integer each (a row-wise np.unique over the pairs sorts far slower)
    pairs = np.unique(inverse * (int(labels.max()) + 1) + labels) // (int(labels.max()) + 1)
    labels_per_key = np.bincount(pairs, minlength=inverse.max() + 1)
    conflicted = labels_per_key[inverse] > 1
    k, n = int(conflicted.sum()), keys.size
    return Measurement(
        "label_conflict_share", k / n, wilson_interval(k, n), False, n,
        "Share of rows (training and audit together) whose exact inputs occur again with a different label: "
        "noise or information the features do not carry (95% Wilson interval).",
        {"rows": k, "input_patterns_with_conflict": int((labels_per_key > 1).sum())},
    )


def _table(exact: Overlap, near: Overlap, tolerance_text: str) -> Table:
    rows = []
    for kind, o in (("exact", exact), (f"near ({tolerance_text})", near)):
        k, n = int(o.in_training.sum()), o.in_training.size
        excess, (lo, hi) = o.excess
        rows.append((kind, k, rounded(k / n), rounded(o.training_twins / o.n_train), rounded(excess),
                     f"[{lo:.4f}, {hi:.4f}]"))
    return Table("leakage", "Audit rows also found among the training rows",
                 ("match", "audit rows", "share", "chance share (training twins)", "excess", "excess 95% CI"),
                 tuple(rows))


def _notes(exact: Overlap, near: Overlap, near_by: str) -> tuple[str, ...]:
    k = int(exact.in_training.sum())
    if not k and not near.in_training.any():
        return ()
    return (f"{k} audit row(s) are identical to a training row and {int(near.in_training.sum())} match one after "
            f"{near_by}; scores on them measure memory as much as generalisation.",)
