"""Missing values, constant columns and audit values outside what the training rows cover."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.data.types import Dataset, Split
from audit.stats import wilson_interval
from audit.suite import SuiteOutput
from audit.suites.data.params import DataParams
from audit.suites.data.proportions import group_labels, group_rates
from audit.suites.data.sections import NO_TRAINING, named_splits, rounded, skipped
from audit.types import Measurement, Table

FREE_TEXT_MIN_VALUES = 50  # a text column with more distinct training values than this and than half its rows


def frames(data: Dataset) -> tuple[pd.DataFrame | None, pd.DataFrame, bool]:
    """(training frame, audit frame, whether they are the raw rows); raw only when every split has them."""
    splits = [s for s in (data.train, data.test) if s is not None]
    raw = all(s.raw is not None for s in splits)
    convert = (lambda s: s.raw.reset_index(drop=True)) if raw else (lambda s: _encoded(s, data))
    return (None if data.train is None else convert(data.train)), convert(data.test), raw


def _encoded(split: Split, data: Dataset) -> pd.DataFrame:
    x = split.x.reshape(len(split), -1).numpy()
    names = data.feature_names if len(data.feature_names) == x.shape[1] else [f"x{i}" for i in range(x.shape[1])]
    return pd.DataFrame(x, columns=list(names))


def quality(data: Dataset, params: DataParams, seed: int) -> SuiteOutput:
    train, audit, raw = frames(data)
    parts = [_missingness(data, {"train": train, "audit": audit}, params, seed)]
    reference = train if train is not None else audit
    if data.input_kind != "image":
        parts.append(_near_constant(reference, params, "train" if train is not None else "audit"))
    if train is None:
        parts.append(skipped(["out_of_range_share"], NO_TRAINING, "Audit values outside the training range"))
    elif data.input_kind == "image":  # per-pixel ranges are noise; a value outside all training pixels is not
        parts.append(_out_of_range(*_pixel_ranges(train, audit)))
    else:
        parts.append(_out_of_range(train, audit))
    notes = () if raw else ("Missingness is read from the encoded model inputs: values imputed before encoding "
                            "cannot be seen, so a zero here does not prove the source data was complete.",)
    return SuiteOutput(
        measurements=tuple(m for p in parts for m in p.measurements),
        tables=tuple(t for p in parts for t in p.tables), notes=(*notes, *(n for p in parts for n in p.notes)),
    )


def _missing_mask(frame: pd.DataFrame) -> np.ndarray:
    mask = frame.isna().to_numpy().copy()
    numeric = frame.select_dtypes("number")
    if not numeric.empty:  # infinities are as unusable as gaps
        mask[:, [frame.columns.get_loc(c) for c in numeric.columns]] |= ~np.isfinite(numeric.to_numpy(float))
    return mask


def _missingness(data: Dataset, by_split: dict[str, pd.DataFrame | None], params: DataParams,
                 seed: int) -> SuiteOutput:
    measurements, column_rows, group_rows = [], {}, []
    for s in named_splits(data.train, data.test):
        mask = _missing_mask(by_split[s.name])
        row_missing = mask.any(axis=1)
        k, n = int(row_missing.sum()), len(row_missing)
        measurements.append(Measurement(
            f"missing_rows_share[{s.name}]", k / n, wilson_interval(k, n), False, n,
            f"Share of {s.name} rows with at least one missing or non-finite value (95% Wilson interval).",
            {"rows_missing": k, "cells_missing": int(mask.sum())},
        ))
        for j, column in enumerate(by_split[s.name].columns):
            column_rows.setdefault(str(column), {})[s.name] = rounded(mask[:, j].mean())
        for i, attribute in enumerate(data.sensitive_attributes):
            rates = group_rates(row_missing, group_labels(s.split.sensitive[attribute]), params.min_group_size,
                                params.resamples if k else 0, seed + i)
            gap, ci = (rates.gap, rates.ci) if k else (0.0 if rates.eligible.sum() >= 2 else float("nan"), (0.0, 0.0))
            measurements.append(Measurement(
                f"missing_gap[{s.name},{attribute}]", gap, ci, False, n,
                f"Widest gap between groups of {attribute} in the share of {s.name} rows with a missing value.",
                {"rates": {g: rounded(r) for g, r in zip(rates.labels, rates.rates[:, 0], strict=True)}},
                None if rates.eligible.sum() >= 2 else f"fewer than two groups of {attribute} are large enough",
            ))
            group_rows += [(s.name, attribute, g, rounded(r)) for g, r in zip(rates.labels, rates.rates[:, 0],
                                                                               strict=True)]
    names = [s.name for s in named_splits(data.train, data.test)]
    missing_cols = tuple((c, *(v.get(n) for n in names)) for c, v in column_rows.items() if any(v.values()))
    tables = (
        Table("missing_by_column", "Columns with missing values (share of rows)", ("column", *names), missing_cols,
              caption="Only columns with at least one missing value are listed."),
        Table("missing_by_group", "Rows with a missing value, per sensitive group",
              ("split", "attribute", "group", "share missing"), tuple(group_rows)),
    )
    return SuiteOutput(measurements=tuple(measurements), tables=tables)


def _near_constant(frame: pd.DataFrame, params: DataParams, split: str) -> SuiteOutput:
    rows = []
    for column in frame.columns:
        counts = frame[column].value_counts(dropna=False)
        top = counts.iloc[0] / len(frame) if len(frame) else 0.0
        if top >= params.near_constant_share:
            rows.append((str(column), str(counts.index[0]), rounded(top), "constant" if len(counts) == 1 else "near"))
    measurement = Measurement(
        "near_constant_columns", float(len(rows)), None, False, len(frame),
        f"Columns of the {split} rows whose commonest value covers at least {params.near_constant_share:.0%} of "
        "them: they carry (almost) no information, or a filter upstream went wrong.",
        {"columns": [r[0] for r in rows], "share": params.near_constant_share},
    )
    table = Table("near_constant_columns", "Constant and near-constant columns",
                  ("column", "commonest value", "share", "kind"), tuple(rows))
    return SuiteOutput(measurements=(measurement,), tables=(table,))


def _pixel_ranges(train: pd.DataFrame, audit: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each audit image's darkest and brightest pixel, against the range of all training pixels together
    (per-pixel ranges would flag ordinary strokes in rarely inked corners)."""
    tr, te = train.to_numpy(dtype=float), audit.to_numpy(dtype=float)
    every_train_pixel = np.concatenate([tr.min(axis=1), tr.max(axis=1)])
    reference = pd.DataFrame({"darkest pixel": every_train_pixel, "brightest pixel": every_train_pixel})
    return reference, pd.DataFrame({"darkest pixel": te.min(axis=1), "brightest pixel": te.max(axis=1)})


def _out_of_range(train: pd.DataFrame, audit: pd.DataFrame) -> SuiteOutput:
    outside = np.zeros(len(audit), dtype=bool)
    rows = []
    for column in audit.columns:
        if column not in train.columns:
            continue
        flags, kind = _outside(train[column], audit[column])
        outside |= flags
        if flags.any():
            rows.append((str(column), kind, int(flags.sum()), rounded(flags.mean())))
    k, n = int(outside.sum()), len(audit)
    measurement = Measurement(
        "out_of_range_share", k / n, wilson_interval(k, n), False, n,
        "Share of audit rows with a numeric value outside the training range or a category never seen in "
        "training: there the model extrapolates (95% Wilson interval).", {"rows": k, "columns": len(rows)},
    )
    table = Table("out_of_range", "Audit values outside what the training rows cover",
                  ("column", "kind", "audit rows", "share of audit rows"), tuple(rows))
    return SuiteOutput(measurements=(measurement,), tables=(table,))


def _outside(train: pd.Series, audit: pd.Series) -> tuple[np.ndarray, str]:
    known = audit.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(train) and pd.api.types.is_numeric_dtype(audit):
        lo, hi = train.min(), train.max()
        values = audit.to_numpy(dtype=float)
        return known & ((values < lo) | (values > hi)), "numeric range"
    seen = pd.unique(train.dropna())
    if len(seen) > max(FREE_TEXT_MIN_VALUES, len(train) // 2):  # free text or identifiers, not categories
        return np.zeros(len(audit), dtype=bool), "free text (not checked)"
    return known & ~audit.isin(seen).to_numpy(), "unseen category"
