"""A file of predictions audited without the model (the Aequitas use case): predicted classes, maybe scores.

One row per audited person: the label, the predicted class, optionally a score (`--score-column`, any monotone
score such as a 1-10 risk decile, for the positive class) or one probability column per class
(`--proba-columns`, in the sorted order of the label's values), sensitive attributes, and feature columns.
Such a "model" answers only for its own rows: it has no `queries` capability, so every suite part that has
to ask it about other inputs is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset, FeatureSpec, Split
from audit.data.user import check_feature_columns, label_classes, read_table, sensitive_groups
from audit.errors import AuditInputError, not_a_file
from audit.hashing import file_sha256, files_sha256
from audit.models.types import MissingCapability, ModelSource, ModelUnderAudit

DEFAULT_PREDICTION_COLUMN = "prediction"
_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PredictionColumns:
    """Which columns of the file hold what (the flags of `audit run --predictions`)."""

    label: str
    prediction: str = DEFAULT_PREDICTION_COLUMN
    score: str | None = None
    proba: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    features: tuple[str, ...] = ()


class PredictionsBackend:
    """Answers with the file's own predictions, and only for the audited rows they were written for."""

    def __init__(self, rows: np.ndarray, decisions: np.ndarray, outputs: np.ndarray | None):
        self._rows, self._decisions, self._outputs = rows, decisions, outputs

    def _check_rows(self, x: np.ndarray) -> None:
        if x.shape != self._rows.shape or not np.array_equal(x, self._rows):
            raise MissingCapability("a file of predictions answers only for its own rows, not for other inputs "
                                    "(pass --model FILE to audit the model itself)")

    def outputs(self, x: np.ndarray) -> np.ndarray:
        self._check_rows(x)
        if self._outputs is None:
            raise MissingCapability("the prediction file has no scores or probabilities "
                                    "(--score-column or --proba-columns)")
        return self._outputs

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._check_rows(x)
        return self._decisions


def load_predictions(path: str | Path, columns: PredictionColumns,
                     missing_group: bool = False) -> tuple[ModelUnderAudit, Dataset]:
    """The file as a model that answers for its own rows, and its rows as the audited data."""
    path = Path(path)
    if not path.is_file():
        raise AuditInputError(f"Prediction file {str(path)!r} {not_a_file(path)}. Check the path given to "
                              "--predictions.")
    frame = read_table(path)
    _check_columns(frame, columns, path)
    classes = label_classes([(path, frame)], columns.label)
    if len(classes) < 2:
        raise AuditInputError(f"Label column {columns.label!r} has a single value {classes}; an audit needs at "
                              "least two classes.")
    y = _class_indices(frame, columns.label, classes, path, "Label")
    outputs, kind, how = _outputs(frame, columns, classes, path)
    if columns.prediction in frame.columns:
        decisions = _class_indices(frame, columns.prediction, classes, path, "Prediction")
    else:  # only --proba-columns: the most probable class is the decision
        assert outputs is not None
        decisions = outputs.argmax(axis=1)
    decided = (f"classes from column {columns.prediction!r}" if columns.prediction in frame.columns
               else "classes are the most probable of --proba-columns")
    data = _dataset(frame, path, columns, classes, y, missing_group)
    capabilities = {"predict"} | ({"score"} if outputs is not None else set())
    capabilities |= {"predict_proba"} if kind == "probabilities" else set()
    model = ModelUnderAudit(
        name=path.stem, module=None, task=data.task, n_classes=data.n_classes, input_kind="tabular",
        input_shape=data.input_shape, outputs=kind, device="cpu", capabilities=frozenset(capabilities),
        source=ModelSource(kind="predictions", ref=str(path), sha256=file_sha256(path)),
        backend=PredictionsBackend(data.test.x.numpy(), decisions, outputs),
        description=f"Predictions read from {path.name!r}: {decided}{how}.",
    )
    return model, data


def _check_columns(frame: pd.DataFrame, columns: PredictionColumns, path: Path) -> None:
    """Every named column must exist (all missing ones named at once); flags that exclude each other are refused."""
    if columns.score and columns.proba:
        raise AuditInputError("--score-column and --proba-columns exclude each other: pass one of them")
    if columns.prediction not in frame.columns and not columns.proba:
        raise AuditInputError(
            f"Prediction column {columns.prediction!r} not found in {path.name!r}; name the column of predicted "
            f"classes with --prediction-column (available columns: {list(frame.columns)})."
        )
    wanted = {"--label": (columns.label,), "--score-column": (columns.score,) if columns.score else (),
              "--proba-columns": columns.proba, "--sensitive": columns.sensitive, "--features": columns.features}
    missing = [f"{flag} {c!r}" for flag, names in wanted.items() for c in names if c not in frame.columns]
    if missing:
        raise AuditInputError(f"Column(s) not found in {path.name!r}: {', '.join(missing)}. "
                              f"Available columns: {list(frame.columns)}.")
    roles = [columns.prediction, *([columns.score] if columns.score else []), *columns.proba]
    clash = [c for c in roles if c == columns.label or c in columns.features]
    if clash:
        raise AuditInputError(f"Column(s) {clash} hold predictions and cannot also be the label or a feature; "
                              "pass the model's input columns only to --features.")


def _class_indices(frame: pd.DataFrame, column: str, classes: list, path: Path, role: str) -> np.ndarray:
    values = frame[column]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise AuditInputError(f"{role} column {column!r} in {path.name!r} has {int(values.isna().sum())} missing "
                              f"value(s) (first at data row {row + 1}); every audited row needs one.")
    index = {value: i for i, value in enumerate(classes)}
    if not pd.api.types.is_numeric_dtype(values) and all(isinstance(c, (int, float)) for c in classes):
        values = pd.to_numeric(values, errors="coerce")  # "1" in a text column against numeric labels
    mapped = values.map(index)
    unknown = values[mapped.isna()].unique().tolist()
    if unknown:
        raise AuditInputError(
            f"{role} column {column!r} in {path.name!r} holds value(s) {unknown[:5]} that are not classes of the "
            f"label {classes}; write predictions with the label's own values."
        )
    return mapped.to_numpy(dtype=np.int64)


def _numbers(frame: pd.DataFrame, column: str, path: Path, flag: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise AuditInputError(f"{flag} column {column!r} in {path.name!r} has {bad.size} value(s) that are missing or "
                              f"not finite numbers (first at data row {int(bad[0]) + 1}: "
                              f"{frame[column].iloc[int(bad[0])]!r}).")
    return values


def _outputs(frame: pd.DataFrame, columns: PredictionColumns, classes: list,
             path: Path) -> tuple[np.ndarray | None, str, str]:
    """(n, k) outputs, their kind, and a sentence saying how they were read."""
    if columns.proba:
        return _probabilities(frame, columns.proba, classes, path)
    if not columns.score:
        return None, "labels", "; no scores, so AUROC, calibration and group thresholds are not computed"
    if len(classes) != 2:
        raise AuditInputError(f"--score-column gives one score per row, which ranks only two classes; the label "
                              f"{columns.label!r} has {len(classes)}. Pass --proba-columns, one per class.")
    score = _numbers(frame, columns.score, path, "Score")
    if score.min() >= 0 and score.max() <= 1:
        how = (f"; scores from {columns.score!r} lie in [0, 1] and are read as the probability of class "
               f"{classes[1]!r}, so calibration figures are computed")
        return np.stack([1 - score, score], axis=1), "probabilities", how
    how = (f"; scores from {columns.score!r} (range {score.min():g} to {score.max():g}) rank rows towards class "
           f"{classes[1]!r}; they are not probabilities, so calibration figures are not computed")
    return np.stack([-score, score], axis=1), "scores", how


def _probabilities(frame: pd.DataFrame, names: tuple[str, ...], classes: list,
                   path: Path) -> tuple[np.ndarray, str, str]:
    if len(names) != len(classes):
        raise AuditInputError(f"--proba-columns names {len(names)} column(s) but the label has {len(classes)} "
                              f"classes {classes}; give one column per class, in that order.")
    proba = np.stack([_numbers(frame, c, path, "Probability") for c in names], axis=1)
    outside = (proba < 0) | (proba > 1)
    sums_off = np.abs(proba.sum(axis=1) - 1) > _SUM_TOLERANCE
    if outside.any() or sums_off.any():
        row = int(np.flatnonzero(outside.any(axis=1) | sums_off)[0])
        raise AuditInputError(f"--proba-columns {list(names)} in {path.name!r} are not probabilities: each row must "
                              f"lie in [0, 1] and sum to 1 (data row {row + 1}: {proba[row].tolist()}).")
    pairs = ", ".join(f"{c!r} = P({k!r})" for c, k in zip(names, classes, strict=True))
    return proba, "probabilities", f"; probabilities {pairs}"


def _dataset(frame: pd.DataFrame, path: Path, columns: PredictionColumns, classes: list, y: np.ndarray,
             missing_group: bool) -> Dataset:
    features = columns.features
    check_feature_columns(frame, features, path)
    x = frame[list(features)].to_numpy(dtype=np.float32) if features else np.zeros((len(frame), 0), np.float32)
    split = Split(x=torch.from_numpy(np.array(x, dtype=np.float32)), y=torch.from_numpy(np.array(y, dtype=np.int64)),
                  sensitive=sensitive_groups(frame, columns.sensitive, path, missing_group),
                  raw=frame.reset_index(drop=True))
    specs = tuple(FeatureSpec(c, "numeric", (i,), mutable=c not in columns.sensitive, sensitive=c in columns.sensitive)
                  for i, c in enumerate(features))
    return Dataset(
        name=path.name, task="binary" if len(classes) == 2 else "multiclass",
        class_names=tuple(str(c) for c in classes), input_kind="tabular", feature_names=tuple(features),
        features=specs, sensitive_attributes=tuple(columns.sensitive), train=None, test=split,
        source=str(path), sha256=files_sha256([path]),
    )
