"""Load the user's own data (CSV or Parquet) as a `Dataset`.

The file's feature columns are taken as model-ready inputs (the user's model was trained on them):
they must be numeric, and are passed through unchanged. Sensitive columns become string group labels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset, FeatureSpec, Split
from audit.errors import AuditInputError
from audit.hashing import files_sha256

MISSING_GROUP = "missing"


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; anything else is a usage error."""
    if not path.is_file():
        raise AuditInputError(f"Data file {str(path)!r} does not exist. Check the path given to --data.")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path)
    if suffixes.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    raise AuditInputError(f"Cannot read {path.name!r}: use a .csv, .csv.gz or .parquet file.")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], role: str, path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AuditInputError(
            f"{role} column(s) {missing} not found in {path.name!r}. Available columns: {list(frame.columns)}."
        )


def _feature_columns(frame: pd.DataFrame, label: str, features: tuple[str, ...] | None,
                     sensitive: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Default: every column but the label. A sensitive column joins only if numeric: a text group label
    ("Female") cannot be a model input, while a numeric one often is; --features overrides either way."""
    if features is None:
        return tuple(
            c for c in frame.columns
            if c != label and (c not in sensitive or pd.api.types.is_numeric_dtype(frame[c]))
        )
    if label in features:
        raise AuditInputError(f"The label column {label!r} cannot also be a feature: remove it from --features.")
    return features


def _check_numeric(frame: pd.DataFrame, features: tuple[str, ...], path: Path) -> None:
    bad = [c for c in features if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise AuditInputError(
            f"Feature column(s) {bad} in {path.name!r} are not numeric. Encode them as numbers the way your model "
            "expects (e.g. one-hot), or pass --features to list only the model's numeric input columns."
        )
    nan_cols = [c for c in features if frame[c].isna().any()]
    if nan_cols:
        raise AuditInputError(
            f"Feature column(s) {nan_cols} in {path.name!r} contain missing values; impute them first."
        )


def _groups(frame: pd.DataFrame, sensitive: tuple[str, ...], path: Path, missing_group: bool) -> pd.DataFrame:
    groups = {}
    for column in sensitive:
        values = frame[column]
        if values.isna().any():
            if not missing_group:
                raise AuditInputError(
                    f"Sensitive column {column!r} in {path.name!r} has {int(values.isna().sum())} missing value(s). "
                    "Fill them, or allow a separate 'missing' group (missing_group = true)."
                )
            values = values.astype(object).where(values.notna(), MISSING_GROUP)
        groups[column] = values.astype(str).to_numpy()
    return pd.DataFrame(groups, index=range(len(frame)))


def _split(frame: pd.DataFrame, features: tuple[str, ...], label: str, classes: list, sensitive: tuple[str, ...],
           path: Path, missing_group: bool) -> Split:
    index = {value: i for i, value in enumerate(classes)}
    return Split(
        x=torch.tensor(frame[list(features)].to_numpy(dtype=np.float32)),
        y=torch.tensor(frame[label].map(index).to_numpy(dtype=np.int64)),
        sensitive=_groups(frame, sensitive, path, missing_group),
        raw=frame.reset_index(drop=True),
    )


def count_overlap(train: Split, test: Split) -> int:
    """How many test rows have a feature vector identical to some training row (exact match)."""
    train_rows = {row.tobytes() for row in train.x.reshape(len(train), -1).numpy()}
    return sum(row.tobytes() in train_rows for row in test.x.reshape(len(test), -1).numpy())


def _validate(
    frame: pd.DataFrame, path: Path, label: str, sensitive: tuple[str, ...], features: tuple[str, ...]
) -> None:
    _require_columns(frame, (label,), "Label", path)
    _require_columns(frame, sensitive, "Sensitive", path)
    _require_columns(frame, features, "Feature", path)
    if frame[label].isna().any():
        raise AuditInputError(f"Label column {label!r} in {path.name!r} has missing values; drop those rows.")
    _check_numeric(frame, features, path)


def load_user_data(
    path: str | Path, label: str, sensitive: tuple[str, ...] = (), features: tuple[str, ...] | None = None,
    train_path: str | Path | None = None, seed: int = 0, missing_group: bool = False,
) -> Dataset:
    """The audited file becomes the test split; `train_path`'s rows (the model's members) the train split.

    `seed` is accepted for symmetry with `load_reference`; user data is never re-split.
    """
    del seed
    test_path = Path(path)
    test_frame = read_table(test_path)
    chosen = _feature_columns(test_frame, label, features, tuple(sensitive))
    _validate(test_frame, test_path, label, sensitive, chosen)
    frames = [(test_path, test_frame)]
    if train_path is not None:
        frames.append((Path(train_path), read_table(Path(train_path))))
        _validate(frames[1][1], frames[1][0], label, sensitive, chosen)
    classes = sorted(pd.concat([f[label] for _, f in frames]).unique().tolist())
    if len(classes) < 2:
        raise AuditInputError(
            f"Label column {label!r} has a single value {classes}; an audit needs at least two classes."
        )
    splits = [_split(f, chosen, label, classes, sensitive, p, missing_group) for p, f in frames]
    train = splits[1] if len(splits) > 1 else None
    if train is not None and (overlap := count_overlap(train, splits[0])):
        warnings.warn(f"{overlap} audited row(s) also appear in the training file; they count as members.",
                      stacklevel=2)
    specs = tuple(
        FeatureSpec(c, "numeric", (i,), mutable=c not in sensitive, sensitive=c in sensitive)
        for i, c in enumerate(chosen)
    )
    return Dataset(
        name=test_path.name, task="binary" if len(classes) == 2 else "multiclass",
        class_names=tuple(str(c) for c in classes), input_kind="tabular", feature_names=chosen, features=specs,
        sensitive_attributes=tuple(sensitive), train=train, test=splits[0],
        source=str(test_path) + (f" (train: {train_path})" if train_path else ""),
        sha256=files_sha256([p for p, _ in frames]),
    )
