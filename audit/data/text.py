"""A text CSV (or Parquet) for a text classifier: one text column, a label column, optional sensitive columns.

Labels may be the model's class names or class ids; a label set that matches neither is refused naming both.
Rows with empty text are refused with their row numbers (nothing is dropped silently). The Split's `x` is the
tokenisation the model's `encoder` gives (`texts_to_inputs`); `raw` keeps every column, the text as "text".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset, Split
from audit.data.user import read_table, sensitive_groups
from audit.errors import AuditInputError
from audit.hashing import files_sha256

RAW_TEXT = "text"  # the raw column the text suites read
_SHOWN_ROWS = 10


class TextEncoder(Protocol):
    length: int

    def texts_to_inputs(self, texts: Sequence[str]) -> torch.Tensor: ...

    def truncated(self, texts: Sequence[str]) -> int: ...


@dataclass(frozen=True)
class TextColumns:
    text: str
    label: str
    sensitive: tuple[str, ...] = ()


def _require(frame: pd.DataFrame, columns: TextColumns, path: Path) -> None:
    for role, column in (("Text", columns.text), ("Label", columns.label),
                         *(("Sensitive", c) for c in columns.sensitive)):
        if column not in frame.columns:
            raise AuditInputError(f"{role} column {column!r} is not in {path.name!r}; its columns are "
                                  f"{list(map(str, frame.columns))}")


def _row_numbers(mask: np.ndarray) -> str:
    """1-based data-row numbers (the header is not counted), the first few then a count."""
    rows = [str(i + 1) for i in np.flatnonzero(mask)]
    shown = ", ".join(rows[:_SHOWN_ROWS])
    return shown + (f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else "")


def _texts(frame: pd.DataFrame, column: str, path: Path) -> list[str]:
    values = frame[column]
    empty = (values.isna() | values.astype(str).str.strip().eq("")).to_numpy()
    if empty.any():
        raise AuditInputError(
            f"{int(empty.sum())} row(s) of {path.name!r} have empty text in column {column!r} (data rows "
            f"{_row_numbers(empty)}); fill or remove them, nothing is dropped silently")
    return [str(v) for v in values]


def label_ids(values: pd.Series, class_names: Sequence[str], column: str, path: Path) -> np.ndarray:
    """Class indices for label values given as the model's class names, or as class ids 0..n-1."""
    if values.isna().any():
        raise AuditInputError(f"label column {column!r} of {path.name!r} is empty in data rows "
                              f"{_row_numbers(values.isna().to_numpy())}; every row needs a label")
    as_text = values.astype(str).str.strip()
    by_name = {name: i for i, name in enumerate(class_names)}
    if as_text.isin(by_name).all():
        return as_text.map(by_name).to_numpy(dtype=np.int64)
    ids = pd.to_numeric(as_text, errors="coerce")
    if ids.notna().all() and (ids == ids.round()).all() and ids.between(0, len(class_names) - 1).all():
        return ids.to_numpy(dtype=np.int64)
    found = sorted(set(as_text))
    raise AuditInputError(
        f"the labels in column {column!r} of {path.name!r} ({found[:20]}{' ...' if len(found) > 20 else ''}) match "
        f"neither the model's class names {list(class_names)} (its config's id2label) nor its class ids "
        f"0..{len(class_names) - 1}; relabel the data or fix id2label in the model's config.json")


def _split(frame: pd.DataFrame, columns: TextColumns, class_names: Sequence[str], encoder: TextEncoder, path: Path,
           missing_group: bool) -> tuple[Split, int]:
    texts = _texts(frame, columns.text, path)
    y = label_ids(frame[columns.label], class_names, columns.label, path)
    raw = frame.drop(columns=[columns.text]).rename(columns={RAW_TEXT: f"{RAW_TEXT} (column)"})
    raw.insert(0, RAW_TEXT, texts)
    split = Split(x=encoder.texts_to_inputs(texts), y=torch.tensor(y, dtype=torch.int64),
                  sensitive=sensitive_groups(frame, columns.sensitive, path, missing_group),
                  raw=raw.reset_index(drop=True))
    return split, encoder.truncated(texts)


def load_text_data(path: Path, columns: TextColumns, class_names: Sequence[str], encoder: TextEncoder,
                   train_path: Path | None = None, missing_group: bool = False) -> Dataset:
    """The audited text file as the test split (and `train_path`'s rows, the model's members, as train)."""
    paths = [path] + ([train_path] if train_path is not None else [])
    splits, truncated = [], 0
    for p in paths:
        frame = read_table(p)
        _require(frame, columns, p)
        split, cut = _split(frame, columns, class_names, encoder, p, missing_group)
        splits.append(split)
        truncated += cut
    note = f"; {truncated} text(s) longer than {encoder.length} tokens were cut to that length" if truncated else ""
    digest = hashlib.sha256(files_sha256(paths).encode())
    digest.update(f"{columns}|{encoder.length}".encode())
    return Dataset(
        name=path.name, task="binary" if len(class_names) == 2 else "multiclass", class_names=tuple(class_names),
        input_kind="text", feature_names=(), features=(), sensitive_attributes=columns.sensitive,
        train=splits[1] if len(splits) > 1 else None, test=splits[0],
        source=f"{path} (text column {columns.text!r}" + (f", train: {train_path}" if train_path else "") + f"){note}",
        sha256=digest.hexdigest(),
    )
