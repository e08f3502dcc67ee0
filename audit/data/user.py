"""Load the user's own data (CSV or Parquet) as a `Dataset`.

The file's feature columns are taken as model-ready inputs (the user's model was trained on them):
they must be numeric, and are passed through unchanged. Sensitive columns become string group labels.
"""

from __future__ import annotations

import gzip
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset, FeatureSpec, Split
from audit.errors import AuditInputError, not_a_file
from audit.hashing import files_sha256

MISSING_GROUP = "missing"


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; anything else, or a file that is not a readable table, is a usage error."""
    if not path.is_file():
        raise AuditInputError(f"Data file {str(path)!r} {not_a_file(path)}. Check the path given to --data.")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith((".csv", ".csv.gz")):
        frame = _read_csv(path)
    elif suffixes.endswith((".parquet", ".pq")):
        frame = _read_parquet(path)
    else:
        raise AuditInputError(f"Cannot read {path.name!r}: use a .csv, .csv.gz or .parquet file.")
    if len(frame) == 0:
        raise AuditInputError(f"Data file {path.name!r} has a header but no data rows; an audit needs rows to score.")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        _refuse_binary(path)
        return pd.read_csv(path, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise AuditInputError(
            f"Data file {path.name!r} is empty; it needs a header row naming the columns, then the data rows."
        ) from None
    except pd.errors.ParserError as exc:
        raise AuditInputError(
            f"Data file {path.name!r} is not a well-formed CSV ({_first_line(exc)}); every row needs as many "
            "comma-separated fields as the header."
        ) from None
    except UnicodeDecodeError as exc:
        raise AuditInputError(
            f"Data file {path.name!r} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as a UTF-8 CSV."
        ) from None
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise AuditInputError(f"Data file {path.name!r} could not be read as CSV: {_first_line(exc)}") from None


def _refuse_binary(path: Path, probe: int = 1 << 16) -> None:
    """CSV text never holds NUL bytes; a file that does is binary (or UTF-16) and would parse into garbage."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        if b"\0" in handle.read(probe):
            raise AuditInputError(
                f"Data file {path.name!r} holds binary data (NUL bytes), not CSV text; export it as a UTF-8 CSV."
            )


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path)
    except (OSError, EOFError, ValueError, pyarrow.ArrowException) as exc:
        raise AuditInputError(f"Data file {path.name!r} is not a readable Parquet file: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


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


def _left_out(frame: pd.DataFrame, label: str, features: tuple[str, ...] | None,
              sensitive: tuple[str, ...]) -> dict[str, str]:
    """Columns the default feature choice dropped, with the reason (said when the model then wants more inputs)."""
    if features is not None:
        return {}
    return {
        c: f"a sensitive attribute with text values (e.g. {str(frame[c].dropna().iloc[0])[:40]!r}), which a model "
           "cannot take as input"
        for c in sensitive
        if c in frame.columns and c != label and not pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()
    }


def _check_numeric(frame: pd.DataFrame, features: tuple[str, ...], path: Path) -> None:
    bad = [c for c in features if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise AuditInputError(
            f"Feature column(s) {bad} in {path.name!r} are not numeric. Encode them as numbers the way your model "
            "expects (e.g. one-hot), or pass --features to list only the model's numeric input columns."
        )
    nan_cols = [c for c in features if frame[c].isna().any()]
    if nan_cols:
        row = int(np.flatnonzero(frame[nan_cols[0]].isna().to_numpy())[0])
        raise AuditInputError(
            f"Feature column(s) {nan_cols} in {path.name!r} contain missing values (first: column {nan_cols[0]!r}, "
            f"data row {row + 1}); impute them first, or check that row has as many fields as the header."
        )
    _check_finite(frame, features, path)


def _check_finite(frame: pd.DataFrame, features: tuple[str, ...], path: Path) -> None:
    """Every input must be a finite float32: inf, or 1e300 (inf once cast), would be blamed on the model."""
    limit = float(np.finfo(np.float32).max)
    for column in features:
        values = frame[column].to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > limit))
        if bad.size:
            raise AuditInputError(
                f"Feature column {column!r} in {path.name!r} has {bad.size} value(s) that are infinite or too large "
                f"for the model's float32 inputs (first: {values[bad[0]]!r} at data row {int(bad[0]) + 1}); "
                "fix or drop those rows."
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
        row = int(np.flatnonzero(frame[label].isna().to_numpy())[0])
        raise AuditInputError(f"Label column {label!r} in {path.name!r} has missing values (first at data row "
                              f"{row + 1}); drop those rows, or check that they have as many fields as the header.")
    _check_numeric(frame, features, path)


def _label_classes(frames: list[tuple[Path, pd.DataFrame]], label: str) -> list:
    """Sorted label values over all files; text in one file and numbers in another cannot be matched up."""
    kinds = {p.name: "numbers" if pd.api.types.is_numeric_dtype(f[label]) else "text" for p, f in frames}
    if len(set(kinds.values())) > 1:
        described = " but ".join(f"{kind} in {name!r}" for name, kind in kinds.items())
        raise AuditInputError(
            f"Label column {label!r} holds {described}; write the labels the same way in both files."
        )
    values = pd.concat([f[label] for _, f in frames]).unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        raise AuditInputError(
            f"Label column {label!r} mixes text and numbers; write every label the same way (all text or all numbers)."
        ) from None


@dataclass(frozen=True)
class UserData:
    """The loaded data set, and the columns the default feature choice left out (column -> why)."""

    dataset: Dataset
    left_out: Mapping[str, str]


def load_user_data(
    path: str | Path, label: str, sensitive: tuple[str, ...] = (), features: tuple[str, ...] | None = None,
    train_path: str | Path | None = None, seed: int = 0, missing_group: bool = False,
) -> Dataset:
    """The audited file as a `Dataset` (see `load_user_inputs`)."""
    return load_user_inputs(path, label, sensitive, features, train_path, seed, missing_group).dataset


def load_user_inputs(
    path: str | Path, label: str, sensitive: tuple[str, ...] = (), features: tuple[str, ...] | None = None,
    train_path: str | Path | None = None, seed: int = 0, missing_group: bool = False,
) -> UserData:
    """The audited file becomes the test split; `train_path`'s rows (the model's members) the train split.

    `seed` is accepted for symmetry with `load_reference`; user data is never re-split.
    """
    del seed
    test_path = Path(path)
    test_frame = read_table(test_path)
    _require_columns(test_frame, (label,), "Label", test_path)
    chosen = _feature_columns(test_frame, label, features, tuple(sensitive))
    if not chosen:
        raise AuditInputError(f"{test_path.name!r} has no feature columns besides the label {label!r}; "
                              "the model needs at least one input column.")
    _validate(test_frame, test_path, label, sensitive, chosen)
    frames = [(test_path, test_frame)]
    if train_path is not None:
        frames.append((Path(train_path), read_table(Path(train_path))))
        _validate(frames[1][1], frames[1][0], label, sensitive, chosen)
    classes = _label_classes(frames, label)
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
    return UserData(Dataset(
        name=test_path.name, task="binary" if len(classes) == 2 else "multiclass",
        class_names=tuple(str(c) for c in classes), input_kind="tabular", feature_names=chosen, features=specs,
        sensitive_attributes=tuple(sensitive), train=train, test=splits[0],
        source=str(test_path) + (f" (train: {train_path})" if train_path else ""),
        sha256=files_sha256([p for p, _ in frames]),
    ), _left_out(test_frame, label, features, tuple(sensitive)))


# Shared with the prediction-file loader (audit.models.predictions), which reads the same kind of table.
check_feature_columns = _check_numeric
label_classes = _label_classes
sensitive_groups = _groups
